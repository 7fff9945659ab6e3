"""Regressions left by the QA sweep: an empty blob file, usage errors of --table and DATA without their fix,
and a repro bundle replaced by the replay of itself. Blobs and data are built with datafusion and pyarrow."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import SessionContext, col
from support.blobs import refusing_udf
from support.cli import run_cli


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("left")
    (root / "t").mkdir()
    pq.write_table(pa.table({"id": pa.array(range(1000), pa.int64())}), root / "t" / "p0.parquet")
    ctx = SessionContext()
    ctx.register_parquet("t", str(root / "t") + "/")
    (root / "plan.logical.bin").write_bytes(ctx.sql("select id from t where id > 5").logical_plan().to_bytes())
    (root / "id.pkl").write_bytes(pickle.dumps(col("id")))
    (root / "empty.bin").write_bytes(b"")
    (root / "nothing").mkdir()
    (root / "notes.txt").write_text("not parquet\n")
    (root / "c.csv").write_text("id\n1\n2\n")
    ctx.register_csv("c", str(root / "c.csv"))
    (root / "csv.logical.bin").write_bytes(ctx.sql("select id from c").logical_plan().to_bytes())
    return root


# --- an empty file -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["inspect", "check", "eval", "reencode"])
def test_an_empty_file_is_named_and_said_empty(data: Path, command: str) -> None:
    """datafusion reads zero bytes as an expression with no expr_type; the file being empty is what to say."""
    from datafusion import Expr

    with pytest.raises(Exception, match="Missing required field expr_type"):
        Expr.from_bytes(b"")
    path = str(data / "empty.bin")
    args = [command, path] + (["-o", "-"] if command == "reencode" else [])
    r = run_cli(*args)
    assert r.exit_code == 3, (command, r.output)
    assert f"{path}: cannot decode: container layer: the file is empty (0 bytes)" in r.stderr, r.stderr
    assert "Missing required field" not in r.stderr


def test_empty_stdin_is_said_empty() -> None:
    proc = subprocess.run([sys.executable, "-m", "datafusion_exprtool", "inspect", "-"], input=b"",
                          capture_output=True, timeout=120)  # fmt: skip
    assert proc.returncode == 3 and b"stdin is empty (0 bytes)" in proc.stderr, proc.stderr


# --- every usage error of --table and DATA names its fix -----------------------------------------------------
def _usage_cases(d: Path) -> dict[str, list[str]]:
    plan, expr = str(d / "plan.logical.bin"), str(d / "id.pkl")
    return {
        "table-glob-matches-nothing": [plan, "--table", "t=nope/*.parquet"],
        "table-missing-path": [plan, "--table", "t=nope"],
        "table-empty-directory": [plan, "--table", f"t={d / 'nothing'}"],
        "table-not-parquet": [plan, "--table", f"t={d / 'notes.txt'}"],
        "table-not-name-path": [plan, "--table", "t"],
        "table-no-such-scan": [plan, "--table", f"x={d / 't'}"],
        "table-csv-scan": [str(d / "csv.logical.bin"), "--table", f"c={d / 't'}"],
        "data-glob-matches-nothing": [expr, "nope/*.parquet"],
        "data-missing-path": [expr, "nope.parquet"],
        "data-empty-directory": [expr, str(d / "nothing")],
        "data-not-parquet": [expr, str(d / "notes.txt")],
        "data-missing": [expr],
        "data-for-a-plan-missing-path": [plan, "nope.parquet"],
        "table-for-an-expression": [expr, str(d / "t"), "--table", f"t={d / 't'}"],
    }


CASES = sorted(_usage_cases(Path("/")))


@pytest.mark.parametrize("case", CASES)
def test_every_usage_error_of_table_and_data_names_the_fix(data: Path, case: str) -> None:
    r = run_cli("eval", *_usage_cases(data)[case], "--isolate", "none")
    assert r.exit_code == 2, (case, r.output)
    assert "\n  fix: " in r.stderr, (case, r.stderr)


def test_the_glob_error_says_which_option_and_what_to_do(data: Path) -> None:
    r = run_cli("eval", str(data / "plan.logical.bin"), "--table", "t=nope/*.parquet", "--isolate", "none")
    assert "--table t=nope/*.parquet" in r.stderr and "matches no file" in r.stderr, r.stderr


# --- a bundle is never written over the bundle being replayed ------------------------------------------------
def test_a_bundle_is_never_replaced_by_its_own_replay(data: Path, tmp_path: Path) -> None:
    blob = tmp_path / "refuse.pkl"
    blob.write_bytes(pickle.dumps(refusing_udf()(col("id"))))
    bundle = tmp_path / "repro"
    r = run_cli("eval", str(blob), str(data / "t"), "--isolate", "none", "--bundle", str(bundle), "-q")
    assert r.exit_code == 4 and (bundle / "bundle.json").is_file(), r.output
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    table = str(data / "t")
    for args in (
        [str(bundle), table, "--bundle", str(bundle), "--force"],  # replayed on rows where the search finds 777
        [str(bundle), "--bundle", str(bundle), "--force"],  # on its own row
        [str(bundle / "expr.pkl"), table, "--bundle", str(bundle), "--force"],
    ):
        r = run_cli("eval", *args, "--isolate", "none", "-q")
        assert r.exit_code == 2, (args, r.output)
        assert "input of this run" in r.stderr and "another directory" in r.stderr, r.stderr
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before
    # another directory is fine, and --force still replaces a bundle that is not an input of the run
    other = tmp_path / "again"
    for _ in range(2):
        r = run_cli("eval", str(bundle), table, "--bundle", str(other), "--force", "--isolate", "none", "-q")
        assert r.exit_code == 4 and (other / "bundle.json").is_file(), r.output
