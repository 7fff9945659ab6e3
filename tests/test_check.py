"""check: each failure is predicted from the bytes first, then produced for real with datafusion 55.

The prediction must carry the same id that ``explain`` gives datafusion's actual text, and its message
must be part of that text. No datafusion message is typed by hand here.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from blobtools import double_it_udf, no_inline_ctx, patch_byte, raised, run_cli, scalar_udf_expr
from datafusion import ExecutionPlan, Expr, SessionContext, col, udf
from datafusion import functions as F

from datafusion_exprtool.capture import fingerprint
from datafusion_exprtool.check import (
    CheckReport,
    Target,
    check_bytes,
    check_loaded,
    parse_python,
    target_from_ctx,
    target_from_fingerprint,
)
from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.explain import explain
from datafusion_exprtool.inputs import load_input
from datafusion_exprtool.sarif import github_annotations, to_sarif

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
    assert first.message and first.message in actual, (first.message, actual[:400])
    assert explain(actual)[0].id == first.id
    assert first.fix


def test_prefix_predicted_when_the_message_is_known(cases):
    case = cases["truncated-expr"]
    first = check_bytes(case.blob, message="expr").errors[0]
    assert first.message.startswith("failed to decode Protobuf message: LogicalExprNode.expr_type: ")
    assert "bytes missing" in first.detail and first.offset == 0


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
        assert report.errors[0].message in decodes, (entry["file"], report.errors[0].message, decodes[:300])
        assert explain(decodes)[0].id == report.errors[0].id, entry["file"]


def test_python_target_and_sensitive_warnings(fixture_set):
    blobs, _ = fixture_set
    inline = (blobs / "udf_closure.expr.bin").read_bytes()
    report = check_bytes(inline, Target(python=(3, MINOR + 1)))
    assert [f.id for f in report.errors] == ["python-minor-mismatch"]
    assert f"running Python 3.{MINOR + 1}" in report.errors[0].message
    assert "thread-local" in report.errors[0].fix  # the Pool / set_sender_ctx trap
    clean = check_bytes(inline)
    assert not clean.errors and not clean.fails("error") and clean.fails("warning")
    assert {f.id for f in clean.warnings} == {"sensitive-captured-value"}
    assert "captured-by-value" in clean.warnings[0].detail


def test_fingerprint_of_a_real_second_interpreter(fixture_set, tmp_path):
    """A fingerprint written by another Python on this machine: check predicts the stamp mismatch."""
    others = sorted(Path("/root/.pyenv/versions").glob("3.1[0-9]*/bin/python3"))
    other = next((p for p in others if f"3.{MINOR}." not in str(p.parent.parent.name)), None)
    if other is None:
        pytest.skip("no second Python 3 interpreter on this machine")
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from datafusion_exprtool.capture import fingerprint; "
        "print(json.dumps(fingerprint(['pyarrow', 'json'])))"
    )
    root = str(Path(__file__).resolve().parent.parent)
    doc = json.loads(
        subprocess.run([str(other), "-c", code, root], check=True, capture_output=True, text=True).stdout
    )
    theirs = parse_python(doc["python"]["minor"])
    assert theirs != sys.version_info[:2]
    blobs, _ = fixture_set
    report = check_bytes((blobs / "udf_scalar_inline.expr.bin").read_bytes(), target_from_fingerprint(doc))
    ids = [f.id for f in report.errors]
    assert ids[0] == "python-minor-mismatch", ids
    assert f"running Python {theirs[0]}.{theirs[1]}" in report.errors[0].message
    assert "datafusion-version-differs" in {f.id for f in report.warnings}  # that interpreter has none


def test_fingerprint_modules(fixture_set):
    blobs, _ = fixture_set
    data = (blobs / "udf_scalar_inline.expr.bin").read_bytes()
    doc = fingerprint(["pyarrow"])
    doc["modules"]["pyarrow"] = {"importable": False}
    report = check_bytes(data, target_from_fingerprint(doc))
    assert [(f.id, f.message) for f in report.errors] == [("module-missing", "No module named 'pyarrow'")]
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
    assert report.errors[0].message in result["message"]["text"]
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


# ------------------------------------------------------------------- QA: damaged blobs, suspicious payloads


class SystemGadget:
    def __reduce__(self):
        return (os.system, ("echo owned",))


class SubprocessGadget:
    def __reduce__(self):
        return (subprocess.call, (["true"],))


class NestedLoads:
    def __reduce__(self):
        return (pickle.loads, (b"\x80\x04K\x01.",))


def _command_udf_blob() -> bytes:
    def runs(a: pa.Array, _run=os.system) -> pa.Array:  # local: by value; os.system by reference in it
        return a

    return udf(runs, [pa.int64()], pa.int64(), "immutable", name="runs")(col("a")).to_bytes()


@pytest.mark.parametrize(
    "blob, layer",
    [
        (lambda: pickle.dumps(SystemGadget()), "pickle"),
        (lambda: pickle.dumps([col("a"), SubprocessGadget()]), "pickle"),
        (lambda: pickle.dumps((NestedLoads(), col("a")), protocol=2), "pickle"),
        (_command_udf_blob, "cloudpickle"),
    ],
    ids=["os.system", "subprocess.call", "nested-pickle.loads", "udf-captures-os.system"],
)
def test_suspicious_is_an_error(blob, layer):
    """A suspicious verdict is never "no failures predicted": the receiver would run it (nothing fails)."""
    data = blob()
    report = check_bytes(data)
    found = [f for f in report.errors if f.id == "suspicious-payload"]
    assert found and found[0].layer == layer, report.findings
    assert found[0].offset is not None and f"byte {found[0].offset}" in found[0].detail
    assert "Do not decode it" in found[0].fix and "who produced it" in found[0].fix
    assert not found[0].message  # datafusion raises nothing: it executes it


def test_outer_pickle_module_the_target_cannot_import():
    """QA: one bit turned datafusion.expr into datafusimn.expr: suspicious, and pickle.loads fails to import it."""
    data = pickle.dumps(col("a") + 1, protocol=0).replace(b"datafusion.expr", b"datafusimn.expr")
    report = check_bytes(data)
    ids = [f.id for f in report.errors]
    assert "suspicious-payload" in ids and "module-missing" in ids, ids
    missing = next(f for f in report.errors if f.id == "module-missing")
    assert missing.layer == "pickle" and missing.offset == data.index(b"datafusimn") - 1
    with pytest.raises(ModuleNotFoundError) as err:  # what the unpickler's import raises (never decoded here)
        importlib.import_module("datafusimn.expr")
    assert missing.message in str(err.value)


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_cut_pickle_is_a_finding(protocol):
    """QA: a truncated pickle of an Expr exited 3 (not a blob) while a truncated protobuf exits 1."""
    data = pickle.dumps(col("a") + 1, protocol=protocol)
    for cut in (len(data) // 2, len(data) - 1):
        report = check_bytes(data[:cut])
        assert [f.id for f in report.errors] == ["pickle-truncated"], (cut, report.findings)
        actual = str(raised(lambda d=data[:cut]: pickle.loads(d)))
        assert report.errors[0].message in actual and report.errors[0].offset is not None


def test_damaged_pickle_is_a_finding():
    data = bytearray(pickle.dumps(col("a") + 1, protocol=5))
    data[data.index(b"_reconstruct") + len(b"_reconstruct") + 1] = 0x14  # an opcode no pickle has
    report = check_bytes(bytes(data))
    assert [f.id for f in report.errors] == ["pickle-corrupt"]
    assert report.errors[0].message in str(raised(lambda: pickle.loads(bytes(data))))
    with pytest.raises(DecodeError):  # cut before it names datafusion: not a datafusion blob at all
        check_bytes(pickle.dumps(col("a"))[:12])


def test_unreadable_udaf_payload(fixture_set):
    """QA: a flipped byte in a UDAF's cloudpickle stream (inspect: unreadable-payload) was called clean."""
    blobs, _ = fixture_set
    data = (blobs / "udaf_inline.expr.bin").read_bytes()
    stream = data.index(b"DFPYUDA") + 10 + 11  # header, then PROTO and FRAME: the first real opcode
    bad = data[:stream] + b"\x14" + data[stream + 1 :]
    report = check_bytes(bad)
    assert [(f.id, f.function, f.offset) for f in report.errors] == [
        ("cloudpickle-corrupt", "my_sum", stream)
    ]
    actual = str(raised(lambda: Expr.from_bytes(bad)))
    assert report.errors[0].message in actual and explain(actual)[0].id == "cloudpickle-corrupt"


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


def test_cli_exit_codes_for_damaged_blobs(tmp_path):
    """A cut pickle of an Expr and a cut protobuf both exit 1; a pickle of something else exits 3."""
    data = pickle.dumps(col("a") + 1)
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(data[: len(data) // 2])
    r = run_cli("check", str(cut))
    assert r.exit_code == 1 and "pickle-truncated" in r.output
    proto = tmp_path / "cut.bin"
    proto.write_bytes((col("a") + 1).to_bytes()[:5])
    assert run_cli("check", str(proto)).exit_code == 1
    gadget = tmp_path / "evil.pkl"
    gadget.write_bytes(pickle.dumps(SystemGadget()))
    r = run_cli("check", str(gadget))
    assert r.exit_code == 1 and "suspicious-payload" in r.output and "no failures predicted" not in r.output


# ------------------------------------------------------- QA's experiment, reduced: check vs datafusion's decode

DECODER = """
import json, pickle, signal, sys
from datafusion import Expr, ExecutionPlan, LogicalPlan, SessionContext
for line in sys.stdin:
    path, kind = line.rsplit(" ", 1)
    data = open(path, "rb").read()
    signal.alarm(30)  # a decode that hangs ends this process: the driver records the blob as refused
    try:
        {"pkl": pickle.loads, "expr": Expr.from_bytes,
         "logical": lambda b: LogicalPlan.from_bytes(SessionContext(), b),
         "physical": lambda b: ExecutionPlan.from_bytes(SessionContext(), b)}[kind.strip()](data)
        out = None
    except BaseException as exc:
        out = f"{type(exc).__name__}: {exc}"
    signal.alarm(0)
    print(json.dumps(out), flush=True)
"""
#: (fixture, receiver) and the variants taken from each: cuts spread evenly, bit flips from a seeded generator
EXPERIMENT = [
    ("udf_scalar_inline.expr.pkl", "pkl"),
    ("udaf_inline.expr.bin", "expr"),
    ("scalar_function.p0.pkl", "pkl"),
    ("column.expr.pkl", "pkl"),
    ("udwf_inline.expr.bin", "expr"),
]
CUTS, FLIPS = 4, 4


def _variants(name: str, data: bytes) -> list[tuple[str, bytes]]:
    import random

    out = [(f"cut{c}", data[:c]) for c in (len(data) * i // (CUTS + 1) for i in range(1, CUTS + 1))]
    rng = random.Random(name)
    for _ in range(FLIPS):
        pos, bit = rng.randrange(len(data)), 1 << rng.randrange(8)
        flipped = bytearray(data)
        flipped[pos] ^= bit
        out.append((f"flip{pos}^{bit}", bytes(flipped)))
    return out


def _decode_all(items: list[tuple[Path, str]]) -> list[str | None]:
    """datafusion's verdict per blob (None: decoded), in a child process (a flipped byte may run anything)."""
    results: list[str | None] = []
    while len(results) < len(items):
        todo = items[len(results) :]
        proc = subprocess.run(
            [sys.executable, "-c", DECODER],
            input="".join(f"{p} {k}\n" for p, k in todo),
            capture_output=True,
            text=True,
            check=False,
        )
        done = [json.loads(line) for line in proc.stdout.splitlines()]
        results += done
        if len(results) < len(items):  # the child died on the next blob: datafusion did not decode it
            results.append(f"decoder died ({proc.returncode})")
    return results


def test_damaged_fixtures_agree_with_datafusion(fixture_set, tmp_path):
    """Cut and bit-flipped blobs: none that datafusion refuses is called clean; suspicious ones never decode."""
    blobs, _ = fixture_set
    cases: list[tuple[str, Path, str, CheckReport | None]] = []
    for name, kind in EXPERIMENT:
        for label, data in _variants(name, (blobs / name).read_bytes()):
            path = tmp_path / f"{name}.{label}"
            path.write_bytes(data)
            try:
                report = check_loaded(load_input(str(path)), Target())
            except DecodeError:
                report = None  # exit 3: not a datafusion blob
            cases.append((f"{name}.{label}", path, kind, report))
    suspicious = {c[0] for c in cases if c[3] and any(f.id == "suspicious-payload" for f in c[3].errors)}
    decodable = [c for c in cases if c[0] not in suspicious]
    verdicts = _decode_all([(c[1], c[2]) for c in decodable])
    refused = [(c, v) for c, v in zip(decodable, verdicts, strict=True) if v is not None]
    called_clean = [(c[0], v[:120]) for c, v in refused if c[3] is not None and not c[3].errors]
    assert not called_clean, called_clean
    not_a_blob = [c[0] for c in cases if c[3] is None and b"datafusion" in c[1].read_bytes()]
    assert not not_a_blob, not_a_blob  # a damaged datafusion pickle is a finding (exit 1), not exit 3
    assert len(refused) >= len(cases) // 2  # the damage is real: most variants fail to decode


def test_corrupt_memory_partition(fixture_set):
    """QA: a flipped byte in the rows a physical plan carries (Arrow IPC) was called clean."""
    blobs, _ = fixture_set
    data = bytearray((blobs / "plan_memory.physical.bin").read_bytes())
    assert not check_bytes(bytes(data)).errors
    data[540] ^= 1  # inside the offsets of a Utf8 column
    bad = bytes(data)
    report = check_bytes(bad)
    assert [(f.id, f.layer) for f in report.errors] == [("table-rows-corrupt", "arrow-ipc")]
    raised(lambda: ExecutionPlan.from_bytes(SessionContext(), bad))  # datafusion refuses it too


#: QA's bit flips that prost reads but datafusion's from_proto refuses (fixture, byte, bit): an unknown
#: operator, a binary with one operand, an empty nested expression, a NullTreatment / frame bound out of range
SEMANTIC_FLIPS = [
    ("alias.expr.bin", 24, 8),
    ("alias.expr.bin", 13, 16),
    ("alias.expr.bin", 4, 8),
    ("binary_right_nested.expr.bin", 20, 32),
    ("case_searched.expr.bin", 25, 64),
    ("aggregate_null_treatment.expr.bin", 36, 8),
    ("window_rows.expr.bin", 39, 8),
    ("like_family.expr.bin", 103, 8),
]


def test_semantic_damage_agrees_with_datafusion(fixture_set, tmp_path):
    """QA: these flips were called clean while datafusion refuses them; check now says what datafusion says."""
    blobs, _ = fixture_set
    items = []
    for name, pos, bit in SEMANTIC_FLIPS:
        data = bytearray((blobs / name).read_bytes())
        data[pos] ^= bit
        path = tmp_path / f"{name}.flip{pos}_{bit}"
        path.write_bytes(bytes(data))
        items.append((path, "expr"))
    verdicts = _decode_all(items)
    for (path, _), said in zip(items, verdicts, strict=True):
        assert said is not None, f"{path.name}: datafusion accepts it"
        report = check_loaded(load_input(str(path)), Target(), message="expr")
        assert report.errors, path.name
        plain = said.replace('\\"', '"').replace("\\\\", "\\").replace('\\"', '"')
        assert report.errors[0].message and report.errors[0].message in plain, (path.name, said[:200])
