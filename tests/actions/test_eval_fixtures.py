"""`exprtool eval` on the committed sample blobs, run the way a user runs it (a subprocess where the exit
status, a pipe or stderr matters), in-process and in spawned workers: view and nested types in CSV output,
sinks, qualified columns, placeholders and --param, --expect wording, --index, errors `explain` can read,
worker ctx failures and timeouts, Rust panics, staging files of a dead worker, a closed stdout pipe."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from datafusion import Expr, SessionContext, col, lit
from support.blobs import double_it_udf, patch_byte, pickle_by_name
from support.cli import run_cli
from support.repo import FIXTURES

from datafusion_exprtool.reports.explain import explain

EXE = [sys.executable, "-m", "datafusion_exprtool.cli.entry"]


def run(*args: str, input: bytes | None = None):
    return run_cli("eval", *args, input=input)


@pytest.fixture(scope="module")
def blobs(fixture_set: tuple[Path, dict]) -> Path:
    return fixture_set[0]


@pytest.fixture(scope="module")
def data(small_parquet: Path) -> str:
    return str(small_parquet)


def truth(data: str, blob: Path, *keep: str) -> pa.Table:
    """datafusion's own answer: read the Parquet, decode the blob, project."""
    ctx = SessionContext()
    expr = Expr.from_bytes(blob.read_bytes())
    return ctx.read_parquet(data).select(*[col(k) for k in keep], expr.alias("r")).to_arrow_table()


# --- 1. view types in writers that cannot take them; a write failure is stage 'write' ----------------------
@pytest.mark.parametrize("isolate", ["none", "spawn"])
def test_csv_with_a_string_column(blobs: Path, data: str, isolate: str) -> None:
    r = run(
        str(blobs / "udf_closure.expr.bin"),
        data,
        "--format",
        "csv",
        "--keep",
        "s",
        "-q",
        "--isolate",
        isolate,
    )
    assert r.exit_code == 0, r.stderr
    got = pcsv.read_csv(pa.BufferReader(r.stdout.encode()))
    want = truth(data, blobs / "udf_closure.expr.bin", "s")
    assert got.column(0).to_pylist() == [str(v) for v in want.column("s").to_pylist()]
    assert got.column(1).to_pylist() == want.column("r").to_pylist()


def test_csv_file_of_a_string_result(blobs: Path, data: str, tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    r = run(str(blobs / "scalar_functions_misc.expr.bin"), data, "-o", str(out), "-q")
    assert r.exit_code == 0, r.stderr
    got = pcsv.read_csv(out)
    assert got.num_rows == 100
    upper = pq.read_table(data).column("s").to_pylist()
    assert [v.split("-")[0] for v in got.column(0).to_pylist()] == [s.upper() for s in upper]
    assert os.listdir(tmp_path) == ["s.csv"]


def test_plain_types_cast_views_at_any_depth() -> None:
    from datafusion_exprtool.actions.eval.output import plain_batch

    batch = pa.record_batch(
        {
            "s": pa.array(["a", None], pa.string_view()),
            "b": pa.array([b"x", b"y"], pa.binary_view()),
            "l": pa.array([["a"], []], pa.list_(pa.string_view())),
            "st": pa.array([{"x": "a"}, {"x": None}], pa.struct([("x", pa.string_view())])),
            "lv": pa.array([[1], [2, 3]], pa.list_view(pa.int64())),
            "i": pa.array([1, 2], pa.int64()),
        }
    )
    plain = plain_batch(batch)
    assert [str(t) for t in plain.schema.types] == [
        "string",
        "binary",
        "list<item: string>",
        "struct<x: string>",
        "list<item: int64>",
        "int64",
    ]
    assert plain.to_pylist() == batch.to_pylist()
    assert plain_batch(plain) is plain  # nothing to cast: the same batch


def test_csv_sink_writes_nested_columns_as_json_text(tmp_path: Path) -> None:
    from datafusion_exprtool.actions.eval.output import FileSink

    batch = pa.record_batch(
        {
            "st": pa.array(
                [{"x": "a", "n": 1}, None], pa.struct([("x", pa.string_view()), ("n", pa.int64())])
            ),
            "l": pa.array([["a", "b"], []], pa.list_(pa.string_view())),
        }
    )
    sink = FileSink(str(tmp_path / "o.csv"), "csv")
    sink.write(batch)
    sink.close(batch.schema)
    got = pcsv.read_csv(tmp_path / "o.csv")
    assert [json.loads(v) if v else None for v in got.column("st").to_pylist()] == [{"x": "a", "n": 1}, None]
    assert [json.loads(v) for v in got.column("l").to_pylist()] == [["a", "b"], []]


class _FailingSink:
    """A sink whose output cannot be written (a full disk, a closed stream)."""

    def write(self, batch) -> None:
        raise OSError(28, "No space left on device")

    def close(self, schema) -> None:
        pass

    def abort(self) -> None:
        pass


def test_a_sink_that_fails_is_stage_write(tmp_path: Path) -> None:
    from datafusion_exprtool.actions.eval.runner import EvalJob, run_job
    from datafusion_exprtool.sandbox.failure import EvalError

    pq.write_table(pa.table({"a": pa.array([1, 2, 3], pa.int64())}), tmp_path / "d.parquet")
    job = EvalJob(
        data=(col("a") + lit(1)).to_bytes(),
        container="protobuf",
        paths=[str(tmp_path / "d.parquet")],
        mode="project",
    )
    with pytest.raises(EvalError) as info:
        run_job(job, SessionContext(), extra_sinks=[_FailingSink()])
    assert info.value.failure.stage == "write"
    assert "No space left on device" in info.value.failure.message


# --- 2. qualified columns and placeholders ------------------------------------------------------------------
def test_encode_then_eval(data: str, tmp_path: Path) -> None:
    blob = tmp_path / "e.pkl"
    r = run_cli("encode", "a + 1 > 2", "--schema", data, "-o", str(blob))
    assert r.exit_code == 0, r.stderr
    r = run(str(blob), data, "-f", "ndjson", "-q", "--keep", "a")
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 100
    assert all(row["t.a + Int64(1) > Int64(2)"] == (row["a"] + 1 > 2) for row in rows)


def test_columns_of_two_tables_are_explained(data: str, tmp_path: Path) -> None:
    blob = tmp_path / "two.bin"
    blob.write_bytes((col("t.a") + col("u.b")).to_bytes())
    r = run(str(blob), data)
    assert r.exit_code == 2
    assert "t, u" in r.stderr and "one table" in r.stderr


def test_placeholders_are_bound_with_param(blobs: Path, data: str) -> None:
    blob = str(blobs / "placeholder.expr.bin")
    r = run(blob, data)
    assert r.exit_code == 2
    assert "$1" in r.stderr and "$2" in r.stderr and "--param" in r.stderr
    r = run(blob, data, "--param", "$1=5", "--param", "$2='x'", "--keep", "a,s", "-f", "ndjson", "-q")
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    # datafusion's own binding of the same values, through SQL
    ctx = SessionContext()
    ctx.register_parquet("t", data)
    want = ctx.sql("SELECT a, s, a > $1 AND s = $2 AS r FROM t", param_values={"1": 5, "2": "x"})
    assert sorted((row["a"], row["s"], list(row.values())[2]) for row in rows) == sorted(
        tuple(row.values()) for row in want.to_pylist()
    )
    assert any(list(row.values())[2] for row in rows)


def test_param_errors(blobs: Path, data: str) -> None:
    blob = str(blobs / "placeholder.expr.bin")
    r = run(blob, data, "--param", "$1=5")
    assert r.exit_code == 2 and "$2" in r.stderr
    r = run(blob, data, "--param", "$1=5", "--param", "$2='x'", "--param", "$3=1")
    assert r.exit_code == 2 and "$3" in r.stderr
    r = run(blob, data, "--param", "oops")
    assert r.exit_code == 2 and "'$1=value'" in r.stderr
    r = run(blob, data, "--param", "$1=nope", "--param", "$2='x'", "--isolate", "none")
    assert r.exit_code == 2 and "$1" in r.stderr and "SQL literal" in r.stderr


# --- 3. --expect with another schema -------------------------------------------------------------------------
def test_expect_reports_the_schema_difference_only(blobs: Path, data: str, tmp_path: Path) -> None:
    golden = tmp_path / "g.parquet"
    assert run(str(blobs / "udf_closure.expr.bin"), data, "-o", str(golden), "-q").exit_code == 0
    r = run(str(blobs / "scalar_function.expr.pkl"), data, "--expect", str(golden), "-q")
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert "column" in lines[1] and "scaled(a)" in lines[1] and "flag" in lines[1]
    assert "more rows" not in r.stderr
    assert "100 rows" in r.stderr  # both sides have 100 rows: said once, as a fact


# --- 4. errors `explain` can read -----------------------------------------------------------------------------
def _eval_stderr(blob: Path, data: str, *extra: str) -> str:
    r = run(str(blob), data, *extra)
    assert r.exit_code == 4, r.stderr
    return r.stderr


def test_explain_reads_evals_errors(blobs: Path, data: str, tmp_path: Path) -> None:
    minor = sys.version_info[1]
    inline = double_it_udf()(col("a")).to_bytes()
    mismatch = tmp_path / "minor.bin"
    mismatch.write_bytes(patch_byte(inline, b"DFPYUDF", 9, minor + 1))
    byname = tmp_path / "byname.pkl"
    byname.write_bytes(pickle_by_name(double_it_udf()(col("a"))))
    cases = [
        (blobs / "udf_module_ref.expr.bin", "module-missing", ()),
        (byname, "by-name-not-registered", ()),
        (mismatch, "python-minor-mismatch", ("--isolate", "none")),
    ]
    for blob, expected, extra in cases:
        err = _eval_stderr(blob, data, *extra)
        assert "datafusion: " in err
        assert expected in [e.id for e in explain(err)], err


def test_explain_reads_evals_error_from_a_pipe(blobs: Path, data: str) -> None:
    p = subprocess.run(
        [*EXE, "eval", str(blobs / "udf_module_ref.expr.bin"), data],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 4
    q = subprocess.run([*EXE, "explain", "-"], input=p.stderr, capture_output=True, text=True, timeout=120)
    assert q.returncode == 0, q.stdout + q.stderr


# --- 5. exit codes ----------------------------------------------------------------------------------------------
class _Gadget:
    def __reduce__(self):
        return (os.system, ("true",))


def test_suspicious_blob_refused_is_a_finding(data: str, tmp_path: Path) -> None:
    blob = tmp_path / "evil.pkl"
    blob.write_bytes(pickle.dumps((col("a") + lit(1), _Gadget())))
    r = run(str(blob), data)
    assert r.exit_code == 1
    assert "suspicious" in r.stderr and "--trust" in r.stderr


@pytest.mark.parametrize("isolate", ["none", "spawn"])
@pytest.mark.parametrize(
    "factory",
    ["nomod_exprtool_xyz:fn", "{d}/workers.py:bad_ctx", "{d}/nofile.py:make_ctx", "{d}/workers.py:nofn",
     "{d}/workers.py:not_ctx", "{d}/broken.py:make_ctx"],
)  # fmt: skip
def test_worker_ctx_that_cannot_load_is_a_usage_error(
    blobs: Path, data: str, tmp_path: Path, factory: str, isolate: str
) -> None:
    (tmp_path / "workers.py").write_text(
        "def bad_ctx():\n    raise ValueError('boom in ctx')\ndef not_ctx():\n    return 42\n"
    )
    (tmp_path / "broken.py").write_text("raise ImportError('cannot start')\n")
    spec = factory.format(d=tmp_path)
    r = run(str(blobs / "column.expr.bin"), data, "--worker-ctx", spec, "--isolate", isolate)
    assert r.exit_code == 2, r.stderr
    assert "worker-ctx" in r.stderr


# --- 6. --index -------------------------------------------------------------------------------------------------
def test_index_picks_one_expression_of_a_list(blobs: Path, data: str) -> None:
    blob = str(blobs / "pickle_list.expr.pkl")
    r = run(blob, data)
    assert r.exit_code == 2 and "holds 2 expressions" in r.stderr and "--index" in r.stderr
    r = run(blob, data, "--index", "0", "-f", "ndjson", "-q")
    assert r.exit_code == 0, r.stderr
    got = sorted(json.loads(line)["x"] for line in r.stdout.splitlines())
    assert got == sorted(abs(a) + 1 for a in pq.read_table(data).column("a").to_pylist())
    r = run(blob, data, "--index", "2")
    assert r.exit_code == 2 and "--index 2" in r.stderr and "0 to 1" in r.stderr
    r = run(str(blobs / "column.expr.bin"), data, "--index", "1")
    assert r.exit_code == 2 and "--index" in r.stderr


# --- 7. a Rust panic in the worker ------------------------------------------------------------------------------
def test_rust_panic_is_one_line(blobs: Path, data: str, tmp_path: Path) -> None:
    blob = tmp_path / "panic.bin"
    b = bytearray((blobs / "literal_struct.expr.bin").read_bytes())
    b[864] ^= 2  # inside the nested literal's Arrow data: arrow-rs panics slicing a buffer
    blob.write_bytes(bytes(b))
    probe = subprocess.run(
        [sys.executable, "-c", f"from datafusion import Expr\ntry: Expr.from_bytes(open({str(blob)!r},'rb').read())\n"
         "except BaseException as e: print(type(e).__name__)"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "panicked" in probe.stderr and probe.stdout.strip() == "PanicException"  # datafusion's own
    for isolate in ("spawn", "none"):  # in-process too: Rust's own fd-2 report is folded, not printed raw
        run = [*EXE, "eval", str(blob), data, "--trust", "-q", "--isolate", isolate]
        p = subprocess.run(run, capture_output=True, text=True, timeout=120)
        assert p.returncode == 4, isolate
        assert "panicked" not in p.stderr and "backtrace" not in p.stderr, (isolate, p.stderr)
        assert "Rust panic" in p.stderr and "cannot exceed the existing length" in p.stderr, isolate
        lines = p.stderr.strip().splitlines()  # the failure, the catalog's cause, datafusion's text
        assert len(lines) == 3 and lines[1].startswith("  cause: literal-value-corrupt"), (isolate, p.stderr)
        p = subprocess.run([*run, "--verbose"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 4 and "panicked at" in p.stderr and ".rs:" in p.stderr, isolate


def test_worker_stderr_other_than_a_panic_is_passed_on(data: str, tmp_path: Path) -> None:
    import pyarrow.compute as pc
    from datafusion import udf

    def noisy(x):
        import sys as _sys

        print("note from the UDF", file=_sys.stderr)
        return pc.multiply(x, 2)

    blob = tmp_path / "noisy.pkl"
    blob.write_bytes(pickle.dumps(udf(noisy, [pa.int64()], pa.int64(), "immutable", name="noisy")(col("a"))))
    p = subprocess.run(
        [*EXE, "eval", str(blob), data, "-q", "-f", "csv"], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    assert "note from the UDF" in p.stderr


# --- 8. a dead worker's staging files; direct Parquet writes in workers; no console when silent ---------------
def test_dead_worker_staging_files_are_removed(tmp_path: Path) -> None:
    from datafusion_exprtool.actions.eval.isolation import remove_output_leftovers
    from datafusion_exprtool.actions.eval.runner import EvalJob

    temp = tmp_path / ".out.parquet.1.ab.tmp"
    for name in (temp.name, f"{temp.name}#1", f"{temp.name}#7", "keep.parquet"):
        (tmp_path / name).write_bytes(b"x")
    job = EvalJob(data=b"", container="protobuf", paths=[], mode="project", output_temp=str(temp))
    remove_output_leftovers(job)
    assert os.listdir(tmp_path) == ["keep.parquet"]
    remove_output_leftovers(job)  # nothing left: fine
    remove_output_leftovers(EvalJob(data=b"", container="protobuf", paths=[], mode="project"))


def test_isolated_parquet_output_written_by_datafusion(blobs: Path, data: str, tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    r = run(str(blobs / "udf_closure.expr.bin"), data, "-o", str(out), "-q", "--isolate", "spawn")
    assert r.exit_code == 0, r.stderr
    assert pq.read_metadata(out).created_by.startswith("datafusion")
    want = truth(data, blobs / "udf_closure.expr.bin")
    assert sorted(pq.read_table(out).column(0).to_pylist()) == sorted(want.column("r").to_pylist())
    assert os.listdir(tmp_path) == ["o.parquet"]


def test_quiet_parquet_run_creates_no_console(blobs: Path, data: str, tmp_path: Path) -> None:
    code = (
        "import sys\nfrom datafusion_exprtool.cli.main import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
        "print(code, 'rich.console' in sys.modules)\n"
    )
    out = tmp_path / "o.parquet"
    args = ["eval", str(blobs / "column.expr.bin"), data, "-q", "-o", str(out), "--isolate", "none"]
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert p.stdout.split() == ["0", "False"], p.stderr


def test_worker_ctx_code_cannot_hijack_stdout_or_the_exit_status(tmp_path: Path) -> None:
    """QA: a worker-ctx factory that prints corrupted `reencode -o -` / `check -f json` output, and one that
    calls sys.exit(3) ended check silently with "undecodable input"'s status (0 for sys.exit(0))."""
    (tmp_path / "wk.py").write_text(
        "import sys\nfrom datafusion import SessionContext\n"
        "def exits():\n    sys.exit(0)\n"
        "def prints():\n    print('noise on stdout')\n    return SessionContext()\n"
    )
    blob = str(FIXTURES / "blobs" / "column.expr.bin")
    for command in (["check", blob], ["reencode", blob, "-o", str(tmp_path / "o.bin")]):
        r = run_cli(*command, "--worker-ctx", f"{tmp_path / 'wk.py'}:exits")
        assert r.exit_code == 2 and "called sys.exit(0)" in r.stderr, (command, r.output)
    r = run_cli("check", blob, "-f", "json", "--worker-ctx", f"{tmp_path / 'wk.py'}:prints")
    assert r.exit_code == 0 and json.loads(r.stdout)["schema_version"] >= 1, r.stdout  # (its ctx: another process)
    r = run_cli("reencode", blob, "-o", "-", "--to", "bytes", "--worker-ctx", f"{tmp_path / 'wk.py'}:prints")
    assert r.exit_code == 0 and "noise on stdout" in r.stderr and "noise" not in r.stdout, r.output


def test_a_hanging_worker_ctx_times_out(data: str, tmp_path: Path) -> None:
    """QA: a factory that never returns hung eval; the isolated worker is given EXPRTOOL_WORKER_CTX_TIMEOUT."""
    (tmp_path / "slow.py").write_text("import time\ndef make_ctx():\n    time.sleep(600)\n")
    blob = str(FIXTURES / "blobs" / "column.expr.bin")
    p = subprocess.run(
        [*EXE, "eval", blob, data, "-q", "--worker-ctx", f"{tmp_path / 'slow.py'}:make_ctx"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "EXPRTOOL_WORKER_CTX_TIMEOUT": "3"},
    )  # fmt: skip
    assert p.returncode == 2 and "did not return within 3 s" in p.stderr, p.stderr


def test_eval_into_a_closed_pipe_exits_141(tmp_path: Path) -> None:
    """Docs review: eval exited 0 when its reader left early (`| head`): a pipefail CI step read as a pass."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": list(range(300_000))}), tmp_path / "big.parquet")
    blob = str(FIXTURES / "blobs" / "column.expr.bin")
    for isolate in ("none", "spawn"):
        proc = subprocess.run(
            f"{' '.join(EXE)} eval {blob} {tmp_path / 'big.parquet'} -f csv -q --isolate {isolate} | head -c 10 "
            ">/dev/null; exit ${PIPESTATUS[0]}",
            shell=True, executable="/bin/bash", capture_output=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 141 and proc.stderr == b"", (isolate, proc.returncode, proc.stderr[-300:])


def test_file_sink_never_replaces_a_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    """-o is checked before the run; a file created at that path during the run is kept, not clobbered
    (without --force), and the temporary file is gone either way."""
    from datafusion_exprtool.actions.eval.output import FileSink
    from datafusion_exprtool.atomic import OutputExists

    batch = pa.record_batch({"a": pa.array([1, 2], pa.int64())})
    target = tmp_path / "o.csv"
    sink = FileSink(str(target), "csv")
    sink.write(batch)
    target.write_text("someone else's\n")
    with pytest.raises(OutputExists):
        sink.close(batch.schema)
    assert target.read_text() == "someone else's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.csv"]
    forced = FileSink(str(target), "csv", force=True)
    forced.write(batch)
    forced.close(batch.schema)
    assert pcsv.read_csv(target).column("a").to_pylist() == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.csv"]
