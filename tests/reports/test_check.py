"""check: each failure is predicted from the bytes first, then produced for real with datafusion 55.

The prediction must carry the same id that ``explain`` gives datafusion's actual text, and its message
must be part of that text. No datafusion message is typed by hand here.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from datafusion import Expr, SessionContext, col, udf
from datafusion import functions as F
from support.blobs import double_it_udf, no_inline_ctx, patch_byte, raised, scalar_udf_expr
from support.cli import run_cli
from support.repo import ROOT

from datafusion_exprtool.capturing.writer import fingerprint
from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.container import load_input
from datafusion_exprtool.reports.check.findings import CheckReport
from datafusion_exprtool.reports.check.report import check_bytes, check_loaded
from datafusion_exprtool.reports.check.target import (
    Target,
    parse_python,
    target_from_ctx,
    target_from_fingerprint,
)
from datafusion_exprtool.reports.explain import explain
from datafusion_exprtool.reports.formats.sarif import github_annotations, to_sarif

UDF = double_it_udf()
NO_INLINE = no_inline_ctx()
MINOR = sys.version_info[1]


def _codec_ctx(codec_id: str) -> SessionContext:
    return SessionContext().with_logical_extension_codec(SessionContext(), codec_id=codec_id)


@dataclass
class Case:
    blob: bytes
    target: Any  # () -> Target
    decode: Any  # () -> raises datafusion's error
    expect: str
    message: str | None = None  # --message for check


def _cases(tmp: Path) -> dict[str, Case]:
    inline = UDF(col("a")).to_bytes()
    fd = inline[inline.index(b"DFPYUDF") :]
    byname = UDF(col("a")).to_bytes(NO_INLINE)
    env = UDF(col("a")).to_bytes(
        NO_INLINE.with_logical_extension_codec(SessionContext(), codec_id="my_library.Codec")
    )
    other = _codec_ctx("other.Codec")
    deep = col("a")
    for _ in range(50):
        deep = F.abs(deep)
    (tmp / "df_check_sender_only.py").write_text("def triple(a):\n    return a\n")
    sys.path.insert(0, str(tmp))
    try:
        import df_check_sender_only

        module_blob = udf(df_check_sender_only.triple, [pa.int64()], pa.int64(), "immutable", name="triple")(
            col("a")
        ).to_bytes()
    finally:
        sys.path.remove(str(tmp))
        sys.modules.pop("df_check_sender_only", None)

    def plain(b):
        return lambda: Expr.from_bytes(b)

    cases = {
        "minor": (patch_byte(inline, b"DFPYUDF", 9, MINOR + 1), Target, None, "python-minor-mismatch"),
        "wire": (patch_byte(inline, b"DFPYUDF", 7, 2), Target, None, "wire-version-unsupported"),
        "header": (scalar_udf_expr("double_it", fd[:8]), Target, None, "header-truncated"),
        "by-name": (byname, Target, None, "by-name-not-registered"),
        "strict": (
            inline,
            lambda: Target(strict=True),
            lambda: Expr.from_bytes(inline, NO_INLINE),
            "inlining-disabled",
        ),
        "module": (module_blob, Target, None, "module-missing"),
        "codec": (env, Target, None, "codec-not-installed"),
        "codec-other": (
            env,
            lambda: target_from_ctx(other),
            lambda: Expr.from_bytes(env, other),
            "codec-not-installed",
        ),
        "envelope": (patch_byte(env, b"DFPYCHN", 7, 7), Target, None, "envelope-version-unsupported"),
        "deep": (deep.to_bytes(), Target, None, "too-deep"),
        "truncated": (inline[: len(inline) // 2], Target, None, "protobuf-truncated"),
        "truncated-expr": (inline[: len(inline) // 2], Target, None, "protobuf-truncated", "expr"),
        "cut-in-length": (inline[:2], Target, None, "protobuf-garbage", "expr"),
        "garbage": (b"\xff\xff\xff\xff", Target, None, "protobuf-garbage"),
        "empty": (b"", Target, None, "empty-blob"),
        # QA: a damaged cloudpickle stream (inspect: layer-error) was "no failures predicted"
        "stream-corrupt": (patch_byte(inline, b"DFPYUDF", 21, 0x14), Target, None, "cloudpickle-corrupt"),
    }
    out = {}
    for name, (blob, target, decode, expect, *message) in cases.items():
        out[name] = Case(blob, target, decode or plain(blob), expect, message[0] if message else None)
    return out


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, Case]:
    return _cases(tmp_path_factory.mktemp("check"))


CASE_NAMES = [
    "minor", "wire", "header", "by-name", "strict", "module", "codec",
    "codec-other", "envelope", "deep", "truncated", "truncated-expr", "cut-in-length", "garbage", "empty",
    "stream-corrupt",
]  # fmt: skip


@pytest.mark.parametrize("name", CASE_NAMES)
def test_check_predicts_datafusion(cases, name):
    case = cases[name]
    report = check_bytes(case.blob, case.target(), message=case.message)  # before datafusion runs
    actual = str(raised(case.decode))
    assert report.errors, f"check saw nothing; datafusion says {actual[:200]!r}"
    first = report.errors[0]
    assert first.id == case.expect, (first.id, actual[:200])
    assert first.datafusion_text and first.datafusion_text in actual, (first.datafusion_text, actual[:400])
    assert explain(actual)[0].id == first.id
    assert first.fix


def test_prefix_predicted_when_the_message_is_known(cases):
    case = cases["truncated-expr"]
    first = check_bytes(case.blob, message="expr").errors[0]
    assert first.datafusion_text.startswith("failed to decode Protobuf message: LogicalExprNode.expr_type: ")
    assert "bytes missing" in first.message and first.offset == 0


def test_fixes_make_check_and_datafusion_agree(cases):
    """After the fix check is clean, and datafusion decodes: the prediction is not just 'always fail'."""
    byname = cases["by-name"].blob
    ctx = SessionContext()
    ctx.register_udf(UDF)
    assert not check_bytes(byname, target_from_ctx(ctx)).errors
    Expr.from_bytes(byname, ctx)
    env = cases["codec"].blob
    rcv = _codec_ctx("my_library.Codec")
    assert not check_bytes(env, target_from_ctx(rcv)).errors
    Expr.from_bytes(env, rcv)
    inline = UDF(col("a")).to_bytes()
    assert not check_bytes(inline).errors
    Expr.from_bytes(inline)
    deep = col("a")
    for _ in range(49):
        deep = F.abs(deep)
    assert not check_bytes(deep.to_bytes()).errors
    Expr.from_bytes(deep.to_bytes())


def test_by_name_kinds_against_a_worker_ctx(fixture_set):
    """UDAF / UDWF by name: an empty worker ctx lacks them (the fix names set_worker_ctx)."""
    blobs, _ = fixture_set
    empty = target_from_ctx(SessionContext())
    for name, fn in (("udaf_byname.expr.bin", "my_sum"), ("udwf_byname.expr.bin", "row_ones")):
        report = check_loaded(load_input(str(blobs / name)), empty)
        assert [(f.id, f.function) for f in report.errors] == [("by-name-not-registered", fn)]
        assert "set_worker_ctx" in report.errors[0].fix


def test_every_fixture_agrees_with_datafusion(fixture_set):
    """For every sample blob: check finds an error iff a plain receiver failed, with datafusion's words."""
    blobs, manifest = fixture_set
    for entry in manifest["blobs"]:
        report = check_loaded(load_input(str(blobs / entry["file"])), Target())
        decodes = entry["decodes"]
        if decodes is True:
            assert not report.errors, (entry["file"], report.errors)
            continue
        assert report.errors, entry["file"]
        assert report.errors[0].datafusion_text in decodes, (entry["file"], report.errors[0].datafusion_text, decodes[:300])
        assert explain(decodes)[0].id == report.errors[0].id, entry["file"]


def test_python_target_and_sensitive_warnings(fixture_set):
    blobs, _ = fixture_set
    inline = (blobs / "udf_closure.expr.bin").read_bytes()
    report = check_bytes(inline, Target(python=(3, MINOR + 1)))
    assert [f.id for f in report.errors] == ["python-minor-mismatch"]
    assert f"running Python 3.{MINOR + 1}" in report.errors[0].datafusion_text
    assert "thread-local" in report.errors[0].fix  # the Pool / set_sender_ctx trap
    clean = check_bytes(inline)
    assert not clean.errors and not clean.fails("error") and clean.fails("warning")
    assert {f.id for f in clean.warnings} == {"sensitive-captured-value"}
    assert "captured-by-value" in clean.warnings[0].message


def test_fingerprint_of_a_real_second_interpreter(fixture_set, tmp_path):
    """A fingerprint written by another Python on this machine: check predicts the stamp mismatch."""
    others = sorted(Path("/root/.pyenv/versions").glob("3.1[0-9]*/bin/python3"))
    other = next((p for p in others if f"3.{MINOR}." not in str(p.parent.parent.name)), None)
    if other is None:
        pytest.skip("no second Python 3 interpreter on this machine")
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from datafusion_exprtool.capturing.writer import fingerprint; "
        "print(json.dumps(fingerprint(['pyarrow', 'json'])))"
    )
    root = str(ROOT)
    doc = json.loads(
        subprocess.run([str(other), "-c", code, root], check=True, capture_output=True, text=True).stdout
    )
    theirs = parse_python(doc["python"]["minor"])
    assert theirs != sys.version_info[:2]
    blobs, _ = fixture_set
    report = check_bytes((blobs / "udf_scalar_inline.expr.bin").read_bytes(), target_from_fingerprint(doc))
    ids = [f.id for f in report.errors]
    assert ids[0] == "python-minor-mismatch", ids
    assert f"running Python {theirs[0]}.{theirs[1]}" in report.errors[0].datafusion_text
    assert "datafusion-version-differs" in {f.id for f in report.warnings}  # that interpreter has none


def test_fingerprint_modules(fixture_set):
    blobs, _ = fixture_set
    data = (blobs / "udf_scalar_inline.expr.bin").read_bytes()
    doc = fingerprint(["pyarrow"])
    doc["modules"]["pyarrow"] = {"importable": False}
    report = check_bytes(data, target_from_fingerprint(doc))
    assert [(f.id, f.datafusion_text) for f in report.errors] == [("module-missing", "No module named 'pyarrow'")]
    doc["modules"] = {}
    report = check_bytes(data, target_from_fingerprint(doc))
    assert not report.errors and "module-missing" in {f.id for f in report.warnings}  # unknown, not failed


def test_undecodable_container_raises(tmp_path):
    with pytest.raises(DecodeError) as err:
        check_bytes(pickle.dumps({"a": 1}))
    assert err.value.layer == "pickle"


def test_sarif_and_github(cases):
    report = check_bytes(cases["by-name"].blob)
    report.path = "artifacts/blob 1.bin"
    doc = to_sarif([report, CheckReport(path="clean.bin", target={})])
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["by-name-not-registered"]
    (result,) = run["results"]
    assert result["ruleId"] == "by-name-not-registered" and result["level"] == "error"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "artifacts/blob 1.bin"
    assert loc["region"] == {"startLine": 1, "byteOffset": report.errors[0].offset}
    assert report.errors[0].datafusion_text in result["message"]["text"]
    (line,) = github_annotations([report])
    assert line.startswith("::error file=artifacts/blob 1.bin,line=1,title=exprtool by-name-not-registered")
    assert "\n" not in line and "%0AFix%3A" not in line and "%0AFix: " in line


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_exit_codes(cases, fixture_set, tmp_path):
    blobs, _ = fixture_set
    r = run_cli("check", str(blobs / "udf_scalar_inline.expr.bin"))
    assert r.exit_code == 0 and "no failures predicted" in r.output
    byname = tmp_path / "byname.bin"
    byname.write_bytes(cases["by-name"].blob)
    r = run_cli("check", str(byname))
    assert r.exit_code == 1 and "by-name-not-registered" in r.output
    (tmp_path / "workers.py").write_text(
        "import pyarrow as pa\nfrom datafusion import SessionContext, udf\n"
        "def double_it(a):\n    return a\n"
        "def make_ctx():\n    ctx = SessionContext()\n"
        "    ctx.register_udf(udf(double_it, [pa.int64()], pa.int64(), 'immutable', name='double_it'))\n"
        "    return ctx\n"
    )
    r = run_cli("check", str(byname), "--worker-ctx", f"{tmp_path / 'workers.py'}:make_ctx")
    assert r.exit_code == 0, r.output
    r = run_cli("check", str(byname), "--worker-ctx", f"{tmp_path / 'workers.py'}:nope")
    assert r.exit_code == 2
    closure = str(blobs / "udf_closure.expr.bin")
    assert run_cli("check", closure).exit_code == 0  # warnings alone
    assert run_cli("check", closure, "--fail-on", "warning").exit_code == 1
    assert run_cli("check", closure, "--strict").exit_code == 1
    assert run_cli("check", closure, "--python", "three").exit_code == 2
    truncated = tmp_path / "cut.bin"
    truncated.write_bytes(cases["truncated"].blob)
    r = run_cli("check", str(truncated))
    assert r.exit_code == 1 and "protobuf-truncated" in r.output and "byte 0" in r.output
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"a": 1}))
    r = run_cli("check", str(other))
    assert r.exit_code == 3 and "pickle layer" in r.output


def test_cli_formats(cases, tmp_path):
    blob = tmp_path / "minor.bin"
    blob.write_bytes(cases["minor"].blob)
    r = run_cli("check", str(blob), "--format", "json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["reports"][0]["findings"][0]["id"] == "python-minor-mismatch"
    r = run_cli("check", str(blob), "--format", "sarif")
    assert json.loads(r.stdout)["runs"][0]["results"][0]["ruleId"] == "python-minor-mismatch"
    r = run_cli("check", str(blob), "--format", "github")
    assert r.stdout.startswith(f"::error file={blob},line=1,")
    r = run_cli("check", str(blob), "--python", f"3.{MINOR + 1}", "--format", "json")
    assert r.exit_code == 0, r.stdout  # the target runs the sender's Python


def test_cli_env(fixture_set, tmp_path):
    blobs, _ = fixture_set
    doc = fingerprint(["pyarrow"])
    doc["python"]["minor"] = f"3.{MINOR + 1}"
    path = tmp_path / "w.env.json"
    path.write_text(json.dumps(doc))
    r = run_cli("check", str(blobs / "udf_scalar_inline.expr.bin"), "--env", str(path), "--format", "json")
    assert r.exit_code == 1
    assert [f["id"] for f in json.loads(r.stdout)["reports"][0]["findings"]] == ["python-minor-mismatch"]


def test_python_target_does_not_hide_strict(fixture_set):
    """QA: --python 3.X --strict dropped inlining-disabled and said "this interpreter runs Python 3.X"."""
    blobs, _ = fixture_set
    path = str(blobs / "udf_closure.expr.bin")
    other = f"3.{MINOR + 1}"
    r = run_cli("check", path, "--python", other, "--strict", "--format", "json")
    assert r.exit_code == 1
    findings = json.loads(r.stdout)["reports"][0]["findings"]
    assert [f["id"] for f in findings if f["severity"] == "error"] == [
        "python-minor-mismatch",
        "inlining-disabled",
    ]
    assert (
        "this interpreter" not in findings[0]["detail"]
        and f"target (--python {other})" in findings[0]["detail"]
    )
    r = run_cli("check", path, "--strict", "--format", "json")
    assert [f["id"] for f in json.loads(r.stdout)["reports"][0]["findings"] if f["severity"] == "error"] == [
        "inlining-disabled"
    ]


def test_cli_env_errors(fixture_set, tmp_path):
    """QA: --env bad.json / --env /nonexist.json both said "No such file: '….json.env.json'"."""
    blobs, _ = fixture_set
    blob = str(blobs / "udf_closure.expr.bin")
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    r = run_cli("check", blob, "--env", str(bad))
    assert r.exit_code == 2 and "not JSON" in r.output and ".env.json" not in r.output
    r = run_cli("check", blob, "--env", str(tmp_path / "nonexist.json"))
    assert r.exit_code == 2 and "no such file" in r.output and "nonexist.json" in r.output
    doc = fingerprint(["pyarrow"])
    (tmp_path / "w.bin.env.json").write_text(json.dumps(doc))
    assert run_cli("check", blob, "--env", str(tmp_path / "w.bin")).exit_code == 0  # the blob path: appended
    plain = tmp_path / "w.json"
    plain.write_text(json.dumps(doc))
    assert run_cli("check", blob, "--env", str(plain)).exit_code == 0  # any name, used as given
    plain.write_text(json.dumps({"a": 1}))
    r = run_cli("check", blob, "--env", str(plain))
    assert r.exit_code == 2 and "not an exprtool environment fingerprint" in r.output


def test_a_forced_message_the_bytes_are_not_is_an_error(fixture_set):
    """QA: `check expr.bin -m physical` / `-m logical` said "no failures predicted" while datafusion's plan
    decoders refuse those bytes; inspect called that reading complete."""
    from datafusion import ExecutionPlan, LogicalPlan, SessionContext

    from datafusion_exprtool.inspection.pipeline import inspect_bytes

    blobs, _ = fixture_set
    # (unknown fields alone are not counted: prost skips them, and a damaged expression read as one has them too)
    for name, message, decode in (
        ("column.expr.bin", "logical", lambda b: LogicalPlan.from_bytes(SessionContext(), b)),
    ):
        data = (blobs / name).read_bytes()
        raised(lambda d=data, f=decode: f(d))  # datafusion refuses them
        assert [f.id for f in check_bytes(data, message=message).errors][0] == "wrong-message-type"
        insp = inspect_bytes(data, message=message)
        assert insp.safety.status == "partial" and "message-forced-mismatch" in [w.id for w in insp.warnings]
    # read as a plan, an expression may enter a node the tables expand (ExplainExecNode, since issue 9; the
    # logical CreateCatalogNode since the DDL nodes), where prost's own refusal is predicted, text and all
    for name, message, decode in (
        ("udf_scalar_inline.expr.bin", "physical", lambda b: ExecutionPlan.from_bytes(SessionContext(), b)),
        ("cast_try_cast.expr.bin", "logical", lambda b: LogicalPlan.from_bytes(SessionContext(), b)),
    ):
        data = (blobs / name).read_bytes()
        said = str(raised(lambda d=data, f=decode: f(d)))
        (error,) = check_bytes(data, message=message).errors
        assert error.id == "protobuf-garbage" and error.datafusion_text and error.datafusion_text in said
    for path in blobs.glob("*.bin"):  # the right message forced never raises it
        message = "logical" if ".logical." in path.name else "physical" if ".physical." in path.name else "expr"
        assert "wrong-message-type" not in [f.id for f in check_bytes(path.read_bytes(), message=message).errors]


def test_a_worker_ctx_that_crashes_or_hangs_is_a_usage_error(fixture_set, tmp_path):
    """QA: check --worker-ctx ran the factory in-process: a segfault killed check (no message), os._exit(0)
    made it pass, a hang hung it. The ctx is now built in a spawned process."""
    from datafusion_exprtool.sandbox.failure import EvalError
    from datafusion_exprtool.sandbox.probe import ctx_facts_isolated

    (tmp_path / "bad.py").write_text(
        "import ctypes, os, time\n"
        "def segv():\n    ctypes.string_at(0)\n"
        "def quits():\n    os._exit(0)\n"
        "def hangs():\n    time.sleep(600)\n"
    )
    blob = str(fixture_set[0] / "column.expr.bin")
    for name, said in (("segv", "signal SIGSEGV"), ("quits", "exit status 0")):
        r = run_cli("check", blob, "--worker-ctx", f"{tmp_path / 'bad.py'}:{name}")
        assert r.exit_code == 2 and said in r.stderr, (name, r.output)
    with pytest.raises(EvalError) as err:
        ctx_facts_isolated(f"{tmp_path / 'bad.py'}:hangs", str(tmp_path), timeout=3)
    assert "did not return within 3 s" in err.value.failure.message
