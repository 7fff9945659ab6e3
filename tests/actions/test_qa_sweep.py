"""Regressions found by a QA sweep over plan replay, --find-rows, bundles and job summaries: each test builds
its blob and data with datafusion and checks exprtool's answer against datafusion's own behaviour."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import SessionConfig, SessionContext, col
from support.blobs import refusing_udf
from support.cli import run_cli


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("qa")
    (root / "t").mkdir()
    ids = pa.array(range(1000), pa.int64())
    table = pa.table({"id": ids, "s": pa.array([f"s{i % 7}" for i in range(1000)])})
    pq.write_table(table.slice(0, 500), root / "t" / "p0.parquet", row_group_size=100)
    pq.write_table(table.slice(500), root / "t" / "p1.parquet", row_group_size=100)
    return root


@pytest.mark.parametrize("kind", ["logical", "physical"])
def test_find_rows_on_a_failing_plan_says_it_is_a_plan(data: Path, kind: str) -> None:
    """A plan whose UDF raises on one row: the search is refused because the blob is a plan, not because
    'the expression reads no column' (it reads one: the failure depends on it)."""
    ctx = SessionContext(SessionConfig().with_target_partitions(2))
    ctx.register_parquet("t", str(data / "t") + "/")
    ctx.register_udf(refusing_udf())
    df = ctx.sql("select refuse(id) as r from t")
    plan = df.logical_plan() if kind == "logical" else df.execution_plan()
    blob = data / f"refuse.{kind}.bin"
    blob.write_bytes(plan.to_bytes())
    with pytest.raises(Exception, match="refused 777"):  # datafusion's own run fails on the data
        df.collect()
    r = run_cli("eval", str(blob), "--isolate", "none", "-q", "--find-rows", "--json")
    assert r.exit_code == 4, r.output
    assert "reads no column" not in r.stderr
    assert "the blob is a plan" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["failure"]["stage"] == "execute"
    assert "plan" in doc["find_rows"]["reason"]


def test_find_rows_on_a_one_row_input_does_not_claim_rows_were_tried(data: Path, tmp_path: Path) -> None:
    """A failing one-row input (what a bundle holds): no row outside the failing set exists, so none was
    'tried'; the report says the set is the whole input instead of 'every row tried fails'."""
    one = tmp_path / "one.parquet"
    pq.write_table(pq.read_table(data / "t" / "p1.parquet").slice(277, 1), one)
    expr = refusing_udf()(col("id"))
    blob = tmp_path / "one.pkl"
    blob.write_bytes(pickle.dumps(expr))
    ctx = SessionContext()
    with pytest.raises(Exception, match="refused 777"):  # datafusion fails on that row alone
        ctx.read_parquet(str(one)).select(expr).collect()
    r = run_cli("eval", str(blob), str(one), "--isolate", "none", "-q", "--find-rows", "--json")
    assert r.exit_code == 4, r.output
    found = json.loads(r.stdout)["find_rows"]
    assert found["outcome"] == "no-subset"
    assert "every row tried" not in found["reason"]
    assert "whole input" in found["reason"]


LAYOUTS = {
    "nested": ["a.parquet", "sub/b.parquet"],
    "hive": ["y=1/a.parquet", "y=2/b.parquet"],
    "hive_nested": ["y=1/a.parquet", "y=1/sub/b.parquet", "sub/y=2/c.parquet"],
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_directory_is_read_as_datafusion_lists_it(data: Path, tmp_path: Path, layout: str) -> None:
    """DATA as one directory with subdirectories: exprtool's files (its summary, --find-rows' layout) are the
    ones datafusion's listing reads, and an expression over the directory or a logical plan rebound to it
    gives datafusion's rows, and so does a physical plan rebound to it (whose files exprtool lists)."""
    root = tmp_path / layout
    for rel in LAYOUTS[layout]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((data / "t" / "p0.parquet").read_bytes())
    blob = tmp_path / "id.pkl"
    blob.write_bytes(pickle.dumps(col("id")))
    want = SessionContext().read_parquet(str(root) + "/").select(col("id")).count()
    r = run_cli("eval", str(blob), str(root), "--isolate", "none", "-f", "ndjson")
    assert r.exit_code == 0, r.output
    assert len(r.stdout.splitlines()) == want
    assert f"{want} rows in {want // 500} file(s)" in r.stderr
    ctx = SessionContext(SessionConfig().with_target_partitions(2))
    ctx.register_parquet("t", str(data / "t") + "/")
    df = ctx.sql("select id from t")
    physical = tmp_path / "plan.physical.bin"
    physical.write_bytes(df.execution_plan().to_bytes())
    r = run_cli("eval", str(physical), "--table", f"t={root}", "--isolate", "none", "-q", "-f", "ndjson")
    assert r.exit_code == 0, r.output
    assert len(r.stdout.splitlines()) == want


def test_a_directory_with_parquet_only_in_plain_subdirectories_is_refused(data: Path, tmp_path: Path) -> None:
    """datafusion finds no file there ('No files found at …'): exprtool says why before anything runs (a
    usage error, not a failed evaluation) and which glob reads them."""
    root = tmp_path / "only_sub"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.parquet").write_bytes((data / "t" / "p0.parquet").read_bytes())
    with pytest.raises(Exception, match="No files found"):
        SessionContext().read_parquet(str(root) + "/")
    blob = tmp_path / "id.pkl"
    blob.write_bytes(pickle.dumps(col("id")))
    r = run_cli("eval", str(blob), str(root), "--isolate", "none", "-q")
    assert r.exit_code == 2, r.output
    assert "subdirectories" in r.stderr and "**" in r.stderr


def test_a_failed_parquet_output_leaves_no_traceback_and_no_file(data: Path, tmp_path: Path) -> None:
    """A physical plan that fails after its first batches were written to -o x.parquet: the temporary file
    goes, and the Parquet writer is closed before its file (else pyarrow's writer, collected later, writes
    to the closed file and prints an 'Exception ignored … Traceback' on stderr)."""
    import subprocess
    import sys

    ctx = SessionContext(SessionConfig().with_target_partitions(2).with_batch_size(50))
    ctx.register_parquet("t", str(data / "t") + "/")
    ctx.register_udf(refusing_udf())
    df = ctx.sql("select refuse(id) as r from t")
    blob = tmp_path / "refuse.physical.bin"
    blob.write_bytes(df.execution_plan().to_bytes())
    for fmt in ("parquet", "arrow"):
        out = tmp_path / f"out.{fmt}"
        r = subprocess.run(
            [sys.executable, "-m", "datafusion_exprtool", "eval", str(blob), "--isolate", "none", "-q",
             "--batch-size", "50", "-o", str(out)],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert r.returncode == 4, r.stderr
        assert "refused 777" in r.stderr
        assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["refuse.physical.bin"]


def test_output_never_replaces_an_input_even_with_force(data: Path, tmp_path: Path) -> None:
    """-o naming the golden file, a DATA file, a file of a --table directory or of the directory a logical
    plan lists: refused before anything runs, and the input keeps its bytes."""
    import shutil

    table = tmp_path / "t"
    shutil.copytree(data / "t", table)
    ctx = SessionContext(SessionConfig().with_target_partitions(2))
    ctx.register_parquet("t", str(table) + "/")
    df = ctx.sql("select id, s from t where id > 10")
    logical, physical = tmp_path / "plan.logical.bin", tmp_path / "plan.physical.bin"
    logical.write_bytes(df.logical_plan().to_bytes())
    physical.write_bytes(df.execution_plan().to_bytes())
    golden = tmp_path / "golden.parquet"
    pq.write_table(df.to_arrow_table(), golden)
    expr = tmp_path / "id.pkl"
    expr.write_bytes(pickle.dumps(col("id")))
    cases = [
        (str(physical), "--expect", str(golden), "-o", str(golden)),
        (str(logical), "-o", str(table / "p1.parquet")),
        (str(physical), "--table", f"t={table}", "-o", str(table / "p0.parquet")),
        (str(expr), str(table), "-o", str(table / "p0.parquet")),
        (str(expr), str(table / "p1.parquet"), "-o", str(tmp_path / "t" / ".." / "t" / "p1.parquet")),
    ]
    before = {p: p.read_bytes() for p in [golden, *table.iterdir()]}
    for args in cases:
        r = run_cli("eval", *args, "--force", "--isolate", "none", "-q")
        assert r.exit_code == 2, (args, r.output)
        assert "is an input of this run" in r.stderr
    assert {p: p.read_bytes() for p in [golden, *table.iterdir()]} == before


def test_a_plan_with_an_unbound_placeholder_fails_with_the_fix(data: Path, tmp_path: Path) -> None:
    """datafusion refuses to run a decoded plan with a placeholder; eval says how to ship it bound."""
    from datafusion import LogicalPlan

    ctx = SessionContext()
    ctx.register_parquet("t", str(data / "t") + "/")
    blob = tmp_path / "ph.logical.bin"
    blob.write_bytes(ctx.sql("select id from t where id > $1").logical_plan().to_bytes())
    receiver = SessionContext()
    with pytest.raises(Exception, match="Placeholder '\\$1' was not provided"):
        receiver.create_dataframe_from_logical_plan(LogicalPlan.from_bytes(receiver, blob.read_bytes())).collect()
    r = run_cli("eval", str(blob), "--isolate", "none", "-q")
    assert r.exit_code == 4, r.output
    assert "param_values" in r.stderr
