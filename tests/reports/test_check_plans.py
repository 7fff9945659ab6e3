"""`check` on plans predicts what datafusion 55 does with a plan whose data is not what it was: each test
first proves datafusion's behaviour on the real blob (silent 0 rows, the object-store error, silent nulls,
duplicated rows, a partition that never ends), then that check names it, and explain maps datafusion's text
to check's id."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import ExecutionPlan, LogicalPlan, SessionContext
from support.cli import run_cli
from support.plan_replay import on_object_store, sender, write_data

from datafusion_exprtool.catalog.match import normalize
from datafusion_exprtool.inspection.pipeline import inspect_bytes
from datafusion_exprtool.inspection.plan_scans import plan_scans
from datafusion_exprtool.reports.check.report import check_bytes
from datafusion_exprtool.reports.explain import explain_with_blob

QUERY = "select cust, count(*) as n from orders group by cust"


def _plans(data: Path) -> tuple[bytes, bytes]:
    df = sender(data).sql(QUERY)
    return df.logical_plan().to_bytes(), df.execution_plan().to_bytes()


def _logical_rows(blob: bytes) -> list:
    ctx = SessionContext()
    return ctx.create_dataframe_from_logical_plan(LogicalPlan.from_bytes(ctx, blob)).collect()


def _physical_error(blob: bytes) -> str:
    ctx = SessionContext()
    plan = ExecutionPlan.from_bytes(ctx, blob)
    with pytest.raises(Exception) as caught:
        for i in range(plan.partition_count):
            list(ctx.execute(plan, i))
    return str(caught.value)


def _findings(blob: bytes, fid: str) -> list:
    return [f for f in check_bytes(blob).findings if f.id == fid]


def test_moved_file_trap_is_predicted(tmp_path: Path) -> None:
    data = write_data(tmp_path / "d")
    logical, physical = _plans(data)
    one = sender(data).sql("select region from customers").execution_plan().to_bytes()
    (data / "orders").rename(tmp_path / "moved")
    assert _logical_rows(logical) == []  # datafusion: 0 rows, no error
    actual = _physical_error(physical)  # datafusion: the object-store error
    assert "Object Store error" in actual and "not found" in actual
    for blob in (logical, physical):
        found = _findings(blob, "plan-file-missing")
        assert len(found) == 1 and found[0].severity == "error", check_bytes(blob).findings
        assert found[0].offset == plan_scans(inspect_bytes(blob).payloads[0].root)[0].offset
    said = _findings(logical, "plan-file-missing")[0]
    assert said.datafusion_text == "" and "returns 0 rows with no error" in said.message
    said = _findings(physical, "plan-file-missing")[0]
    # two files are gone: datafusion names the one it opens first, check names both
    texts = [said.datafusion_text.replace("part-0", part) for part in ("part-0", "part-1")]
    assert said.datafusion_text and any(t in normalize(actual) for t in texts), (texts, actual)
    assert all(f"{data / 'orders' / part}.parquet does not exist" in said.message for part in ("part-0", "part-1"))
    explained = explain_with_blob(actual, data=physical)
    assert explained[0].id == "plan-file-missing" and explained[0].offset == said.offset
    (data / "customers.parquet").rename(tmp_path / "customers.parquet")
    actual = _physical_error(one)  # one file gone: check's text is datafusion's, exactly
    said = _findings(one, "plan-file-missing")[0]
    assert said.datafusion_text in normalize(actual) and said.datafusion_text.endswith("(os error 2)")
    (tmp_path / "plan.bin").write_bytes(logical)
    r = run_cli("check", str(tmp_path / "plan.bin"), "--format", "json")
    assert r.exit_code == 1, r.output
    ids = [f["id"] for f in json.loads(r.stdout)["reports"][0]["findings"]]
    assert "plan-file-missing" in ids


def test_an_emptied_directory_is_a_missing_file_too(tmp_path: Path) -> None:
    data = write_data(tmp_path / "d")
    logical, _physical = _plans(data)
    for f in (data / "orders").iterdir():
        f.unlink()
    assert _logical_rows(logical) == []
    found = _findings(logical, "plan-file-missing")
    assert found and "holds no *.parquet file" in found[0].message


def test_a_file_without_a_projected_column_is_predicted(tmp_path: Path) -> None:
    data = write_data(tmp_path / "d")
    logical, physical = _plans(data)
    part = data / "orders" / "part-1.parquet"
    pq.write_table(pa.table({"o_id": pa.array(range(150), pa.int64()), "amount": [1.0] * 150}), part)
    got = _logical_rows(logical)  # datafusion: the missing column reads as nulls, no error
    custs = [v for batch in got for v in batch.column("cust").to_pylist()]
    assert None in custs
    found = _findings(logical, "plan-columns-missing")
    assert len(found) == 1 and "lacks cust" in found[0].message and str(part) in found[0].message
    assert _findings(physical, "plan-columns-missing")


def test_object_store_urls_are_listed_with_datafusions_text(tmp_path: Path) -> None:
    logical, physical = _plans(write_data(tmp_path / "d"))
    for blob, message in ((logical, "LogicalPlanNode"), (physical, "PhysicalPlanNode")):
        moved = on_object_store(blob, message)
        ctx = SessionContext()
        with pytest.raises(Exception) as caught:
            if message == "LogicalPlanNode":
                ctx.create_dataframe_from_logical_plan(LogicalPlan.from_bytes(ctx, moved)).collect()
            else:
                plan = ExecutionPlan.from_bytes(ctx, moved)
                list(ctx.execute(plan, 0))
        actual = str(caught.value)
        report = check_bytes(moved)
        found = [f for f in report.findings if f.id == "object-store-not-registered"]
        assert len(found) == 1 and found[0].severity == "info" and "s3://bucket" in found[0].message
        assert not report.errors
        assert found[0].datafusion_text in normalize(actual)  # logical: the table's path; physical: the store
        assert explain_with_blob(actual, data=moved)[0].id == "object-store-not-registered"


def _partition_rows(blob: bytes, settings: dict[str, str]) -> int:
    total = 0
    count = ExecutionPlan.from_bytes(SessionContext(), blob).partition_count
    for i in range(count):  # each partition in a fresh context, as separate workers run them
        ctx = SessionContext()
        for key, value in settings.items():
            ctx.sql(f"SET {key} = {value}").collect()
        total += sum(b.to_pyarrow().num_rows for b in ctx.execute(ExecutionPlan.from_bytes(ctx, blob), i))
    return total


def test_work_stealing_warning_on_physical_plans_with_several_file_groups(tmp_path: Path) -> None:
    data = write_data(tmp_path / "d")
    df = sender(data).sql("select o_id, amount from orders where cust = 2")
    physical, logical = df.execution_plan().to_bytes(), df.logical_plan().to_bytes()
    whole = df.count()
    steal = "datafusion.execution.enable_file_stream_work_stealing"
    assert _partition_rows(physical, {}) == 2 * whole  # the trap: every partition reads both files
    assert _partition_rows(physical, {steal: "false"}) == whole
    found = _findings(physical, "partition-work-stealing")
    assert len(found) == 1 and found[0].severity == "warning" and "2 file groups" in found[0].message
    assert not _findings(logical, "partition-work-stealing")
    one = sender(data).sql("select cust from customers").execution_plan().to_bytes()
    assert not _findings(one, "partition-work-stealing")


_RUN_ONE_PARTITION = """
import sys
from datafusion import ExecutionPlan, SessionContext
ctx = SessionContext()
for setting in sys.argv[2:]:
    ctx.sql(f"SET {setting}").collect()
plan = ExecutionPlan.from_bytes(ctx, open(sys.argv[1], "rb").read())
print(sum(b.to_pyarrow().num_rows for b in ctx.execute(plan, 0)))
"""


def test_a_join_that_waits_for_every_partition_is_predicted(tmp_path: Path) -> None:
    data = write_data(tmp_path / "d")
    df = sender(data).sql("select o.o_id, c.region from orders o join customers c on o.cust = c.cust")
    blob = tmp_path / "join.bin"
    blob.write_bytes(df.execution_plan().to_bytes())
    script = [sys.executable, "-c", _RUN_ONE_PARTITION, str(blob)]
    with pytest.raises(subprocess.TimeoutExpired):  # datafusion: one partition alone never ends
        subprocess.run(script, capture_output=True, timeout=5)
    done = subprocess.run([*script, "datafusion.optimizer.enable_join_dynamic_filter_pushdown = false"],
                          capture_output=True, timeout=60, text=True)  # fmt: skip
    assert done.returncode == 0 and int(done.stdout) > 0, done.stderr
    found = _findings(blob.read_bytes(), "partition-join-waits")
    assert len(found) == 1 and found[0].severity == "warning"
    plain = sender(data).sql(QUERY).execution_plan().to_bytes()
    assert not _findings(plain, "partition-join-waits")


def test_plan_scans_read_what_datafusion_displays(tmp_path: Path) -> None:
    """The file groups and projection plan_scans reads are the ones display_indent() shows."""
    data = write_data(tmp_path / "d")
    df = sender(data).sql("select o_id, amount from orders where cust = 2")
    plan = df.execution_plan()
    scan = plan_scans(inspect_bytes(plan.to_bytes()).payloads[0].root)[0]
    shown = plan.display_indent()
    groups = "[" + ", ".join("[" + ", ".join(p[len("file:///"):] for p in g) + "]" for g in scan.groups) + "]"
    assert f"file_groups={{2 groups: {groups}}}" in shown
    assert f"projection=[{', '.join(scan.projected[:2])}" in shown
    optimized = df.optimized_logical_plan()
    lscan = plan_scans(inspect_bytes(optimized.to_bytes()).payloads[0].root)[0]
    assert f"TableScan: {lscan.table} projection=[{', '.join(lscan.projected[:3])}]" in optimized.display_indent()
    shutil.rmtree(data)


@pytest.mark.parametrize("rows", [300, 3])  # the file grows, the file shrinks
def test_a_file_that_changed_size_under_a_physical_plan_is_predicted(tmp_path: Path, rows: int) -> None:
    data = write_data(tmp_path / "d")
    logical, physical = _plans(data)
    part = data / "orders" / "part-1.parquet"
    table = pa.table({"o_id": pa.array(range(rows), pa.int64()), "cust": pa.array([1] * rows, pa.int64()),
                      "amount": [1.0] * rows})  # fmt: skip
    pq.write_table(table, part)
    actual = _physical_error(physical)  # datafusion reads the footer where the plan says the file ends
    found = _findings(physical, "plan-file-changed")
    assert len(found) == 1 and found[0].severity == "error", check_bytes(physical).findings
    assert found[0].datafusion_text in normalize(actual)
    assert explain_with_blob(actual, data=physical)[0].id == "plan-file-changed"
    assert not _findings(logical, "plan-file-changed")  # a logical plan records no sizes: it reads the file
    (tmp_path / "p.bin").write_bytes(physical)
    r = run_cli("eval", str(tmp_path / "p.bin"), "--isolate", "none", "-q")
    assert r.exit_code == 2 and "plan-file-changed" in r.stderr, r.output
    r = run_cli("eval", str(tmp_path / "p.bin"), "--isolate", "none", "-q", "-f", "csv",
                "--table", f"orders={data / 'orders'}")  # fmt: skip
    assert r.exit_code == 0, r.output
    want = sender(data).sql(QUERY).to_arrow_table().to_pylist()  # the query over the files as they are now
    assert sorted(r.stdout.splitlines()[1:]) == sorted(f"{row['cust']},{row['n']}" for row in want)
