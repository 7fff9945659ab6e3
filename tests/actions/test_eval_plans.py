"""`exprtool eval PLAN`: logical and physical plans built with datafusion, replayed by exprtool, compared
with datafusion's own run of the same blob; --table rebinding, --partition, memory tables, the shared
options (-o, --expect, --limit, formats) and the refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import ExecutionPlan, SessionContext
from support.cli import run_cli
from support.plan_replay import (
    NOT_LOGICAL,
    QUERIES,
    datafusion_result,
    on_object_store,
    rows,
    sender,
    write_data,
    write_plans,
)

from datafusion_exprtool.actions.eval.plan_run import JOIN_DYNAMIC_FILTER, WORK_STEALING

CASES = [f"{q}.{k}" for q in QUERIES for k in ("logical", "physical") if not (k == "logical" and q in NOT_LOGICAL)]


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("plans")
    data = write_data(root / "data")
    blobs = write_plans(data, root)
    return {"root": root, "data": data, "blobs": blobs}


def run(*args: str):
    return run_cli("eval", *args)


def replay(blob: Path, out: Path, *extra: str) -> pa.Table:
    r = run(str(blob), "--isolate", "none", "-q", "-o", str(out), *extra)
    assert r.exit_code == 0, r.output
    return pq.read_table(out)


@pytest.mark.parametrize("case", CASES)
def test_replay_equals_datafusion(plans: dict, case: str, tmp_path: Path) -> None:
    blob = plans["blobs"][case]
    got = replay(blob, tmp_path / "out.parquet")
    want = datafusion_result(blob.read_bytes(), case.split(".")[1])
    assert got.column_names == want.column_names
    assert got.num_rows == want.num_rows > 0
    assert rows(got) == rows(want)
    sql = sender(plans["data"]).sql(QUERIES[case.split(".")[0]]).to_arrow_table()  # the query itself
    assert rows(got) == rows(sql)
    if case.startswith("sort_limit"):  # a sorted result keeps its order
        assert got.to_pylist() == want.to_pylist()


def test_isolated_worker_replays_a_plan_with_a_python_udf(plans: dict, tmp_path: Path) -> None:
    """The default --isolate spawn: the inline UDF is decoded in a fresh worker process."""
    blob = plans["blobs"]["udf_agg.physical"]
    r = run(str(blob), "-f", "ndjson")
    assert r.exit_code == 0, r.output
    got = [json.loads(line) for line in r.stdout.splitlines()]
    want = datafusion_result(blob.read_bytes(), "physical").to_pylist()
    assert sorted(map(json.dumps, got)) == sorted(map(json.dumps, want))
    assert "physical plan, 1 scan" in r.stderr and "bump (scalar, inline)" in r.stderr


@pytest.mark.parametrize("kind", ["logical", "physical"])
def test_rebinding_to_a_copy_gives_the_same_result(plans: dict, kind: str, tmp_path: Path) -> None:
    """The plan's own data is moved away: without --table the replay is refused (datafusion would return 0
    rows or fail); rebound to a copy it gives the result of the original data."""
    data = write_data(tmp_path / "prod")
    blob = write_plans(data, tmp_path)[f"join.{kind}"]
    want = datafusion_result(blob.read_bytes(), kind)
    copy = tmp_path / "sample ü%20x"  # a path datafusion's URLs percent-encode
    shutil.copytree(data, copy)
    data.rename(tmp_path / "gone")
    r = run(str(blob), "--isolate", "none", "-q")
    assert r.exit_code == 2 and "plan-file-missing" in r.stderr, r.output
    got = replay(
        blob, tmp_path / "out.parquet", "--table", f"orders={copy / 'orders'}", "--table",
        f"customers={copy / 'customers.parquet'}",
    )  # fmt: skip
    assert rows(got) == rows(want) and got.num_rows > 0


@pytest.mark.parametrize("kind", ["logical", "physical"])
def test_a_plan_on_an_object_store_replays_on_local_data(plans: dict, kind: str, tmp_path: Path) -> None:
    """A plan captured where the data lives in s3://: unregistered here, datafusion refuses it (exit 4 with the
    catalog's cause); rebound to a local copy it gives the plan's result."""
    blob = tmp_path / "s3.bin"
    original = plans["blobs"][f"scan.{kind}"].read_bytes()
    blob.write_bytes(on_object_store(original, "LogicalPlanNode" if kind == "logical" else "PhysicalPlanNode"))
    r = run(str(blob), "--isolate", "none")
    assert r.exit_code == 4 and "object-store-not-registered" in r.stderr, r.output
    assert "object store s3://bucket: the worker context must register it" in r.stderr
    got = replay(blob, tmp_path / "out.parquet", "--table", f"orders={plans['data'] / 'orders'}")
    assert rows(got) == rows(datafusion_result(original, kind))


def test_rebinding_with_a_glob_and_data_argument(plans: dict, tmp_path: Path) -> None:
    """PATH may be a glob; DATA given to a plan with one file scan rebinds that scan."""
    blob = plans["blobs"]["scan.physical"]
    copy = tmp_path / "c"
    shutil.copytree(plans["data"] / "orders", copy)
    want = rows(datafusion_result(blob.read_bytes(), "physical"))
    assert rows(replay(blob, tmp_path / "a.parquet", "--table", f"orders={copy}/*.parquet")) == want
    got = replay(blob, tmp_path / "b.parquet", str(copy / "part-0.parquet"), str(copy / "part-1.parquet"))
    assert rows(got) == want


@pytest.mark.parametrize("kind", ["logical", "physical"])
def test_rebinding_to_data_without_a_projected_column_is_a_usage_error_naming_it(
    plans: dict, kind: str, tmp_path: Path
) -> None:
    blob = plans["blobs"][f"udf_agg.{kind}"]
    lacking = tmp_path / "orders" / "x.parquet"
    lacking.parent.mkdir()
    pq.write_table(pa.table({"o_id": [1, 2], "cust": [1, 2]}), lacking)  # no amount
    r = run(str(blob), "--isolate", "none", "--table", f"orders={lacking}")
    assert r.exit_code == 2, r.output
    assert "lacks column amount" in r.stderr and str(lacking) in r.stderr


def test_partitions_union_equals_the_whole_plan(plans: dict) -> None:
    for case in ("scan.physical", "udf_agg.physical", "join.physical", "window.physical"):
        blob = plans["blobs"][case]
        count = ExecutionPlan.from_bytes(SessionContext(), blob.read_bytes()).partition_count
        assert count == 2, case
        parts = []
        for i in range(count):
            r = run(str(blob), "--isolate", "none", "-q", "-f", "ndjson", "--partition", str(i))
            assert r.exit_code == 0, (case, r.output)
            parts.append([json.loads(line) for line in r.stdout.splitlines()])
        whole = datafusion_result(blob.read_bytes(), "physical").to_pylist()
        union = [row for part in parts for row in part]
        assert sorted(map(json.dumps, union)) == sorted(map(json.dumps, whole)), case
        assert all(parts), case  # each partition did its share


def test_partition_with_work_stealing_on_reads_every_file(plans: dict) -> None:
    """The trap exprtool's replay avoids, reproduced when asked for: each partition reads all the files."""
    blob = plans["blobs"]["scan.physical"]
    whole = datafusion_result(blob.read_bytes(), "physical").num_rows
    counted = 0
    for i in range(2):
        r = run(str(blob), "--isolate", "none", "-q", "-f", "csv", "--partition", str(i),
                "--config", f"{WORK_STEALING}=true")  # fmt: skip
        assert r.exit_code == 0, r.output
        counted += len(r.stdout.splitlines()) - 1
    assert counted == 2 * whole


def test_one_partition_runs_as_a_correct_worker(plans: dict) -> None:
    """In a spawned worker (the default isolation), with the settings that keep one partition correct."""
    r = run(str(plans["blobs"]["join.physical"]), "--partition", "0", "-f", "csv")
    assert r.exit_code == 0, r.output
    assert f"{WORK_STEALING}=false" in r.stderr and f"{JOIN_DYNAMIC_FILTER}=false" in r.stderr


def test_partition_refusals(plans: dict) -> None:
    r = run(str(plans["blobs"]["scan.physical"]), "--isolate", "none", "--partition", "2")
    assert r.exit_code == 2 and "the plan has 2 output partitions" in r.stderr, r.output
    r = run(str(plans["blobs"]["scan.logical"]), "--isolate", "none", "--partition", "0")
    assert r.exit_code == 2 and "a logical plan has no partitions" in r.stderr, r.output


def test_memory_table_plan_replays_with_no_data_and_cannot_be_rebound(plans: dict, tmp_path: Path) -> None:
    blob = plans["blobs"]["memory.physical"]
    r = run(str(blob), "--isolate", "none", "-q", "-f", "ndjson")
    assert r.exit_code == 0, r.output
    assert [json.loads(line) for line in r.stdout.splitlines()] == [{"k": 2, "v": "b"}, {"k": 3, "v": "c"}]
    r = run(str(blob), "--isolate", "none", "--table", f"mem={plans['data'] / 'customers.parquet'}")
    assert r.exit_code == 2, r.output
    assert "no scan of the plan answers to 'mem'" in r.stderr and "cannot be rebound: its rows travel" in r.stderr
    r = run(str(plans["blobs"]["values.logical"]), "--isolate", "none", "-q", "-f", "csv")
    assert r.exit_code == 0 and r.stdout.splitlines() == ['"x","y"', '2,"b"', '3,"c"'], r.output


def test_expect_limit_and_formats_work_for_plans(plans: dict, tmp_path: Path) -> None:
    for kind in ("logical", "physical"):
        blob = plans["blobs"][f"window.{kind}"]
        golden = tmp_path / f"golden-{kind}.parquet"
        pq.write_table(datafusion_result(blob.read_bytes(), kind), golden)
        r = run(str(blob), "--isolate", "none", "--expect", str(golden), "-o", str(tmp_path / f"o-{kind}.csv"))
        assert r.exit_code == 0 and f"matches {golden}" in r.stderr, r.output
        assert len((tmp_path / f"o-{kind}.csv").read_text().splitlines()) == 401
        other = tmp_path / f"other-{kind}.parquet"
        pq.write_table(datafusion_result(blob.read_bytes(), kind).slice(1), other)
        r = run(str(blob), "--isolate", "none", "--expect", str(other))
        assert r.exit_code == 1 and "differs" in r.stderr, r.output
        r = run(str(blob), "--isolate", "none", "-q", "--limit", "3", "-f", "ndjson")
        assert r.exit_code == 0 and len(r.stdout.splitlines()) == 3, r.output


def test_expression_options_are_refused_for_plans_and_plan_options_for_expressions(
    plans: dict, tmp_path: Path
) -> None:
    r = run(str(plans["blobs"]["scan.logical"]), "--isolate", "none", "--keep", "a")
    assert r.exit_code == 2 and "the blob is a plan" in r.stderr, r.output
    from datafusion import col

    expr = tmp_path / "e.bin"
    expr.write_bytes(col("o_id").to_bytes())
    r = run(str(expr), str(plans["data"] / "customers.parquet"), "--isolate", "none", "--partition", "0")
    assert r.exit_code == 2 and "--table and --partition replay plans" in r.stderr, r.output
    r = run(str(expr), "--isolate", "none")
    assert r.exit_code == 2 and "an expression needs DATA" in r.stderr, r.output
    r = run(str(plans["blobs"]["join.logical"]), str(plans["data"] / "customers.parquet"), "--isolate", "none")
    assert r.exit_code == 2 and "the plan has 2 file scans" in r.stderr, r.output


def test_a_physical_plan_with_no_rows_writes_an_empty_result(tmp_path: Path) -> None:
    data = write_data(tmp_path / "d")
    blob = tmp_path / "none.bin"
    blob.write_bytes(sender(data).sql("select o_id from orders where o_id < 0").execution_plan().to_bytes())
    r = run(str(blob), "--isolate", "none", "-o", str(tmp_path / "out.parquet"))
    assert r.exit_code == 0, r.output
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 0


def test_a_suspicious_plan_is_refused_before_anything_runs(plans: dict, tmp_path: Path) -> None:
    """The trust gate holds for plans: a UDF payload that calls os.system is refused, nothing executes."""
    import os
    import pickle

    from datafusion_exprtool.layers.proto.splice import splice
    from datafusion_exprtool.layers.proto.wire import encode_len_field, iter_raw

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    def swap(m):
        if m.type != "ScalarUDFExprNode":
            return None
        fields = list(iter_raw(m.buf, m.start, m.end))
        payload = next(m.buf[a:b] for n, _w, a, b, _t in fields if n == 3)
        evil = payload[:10] + pickle.dumps(Evil())  # the DFPY header kept, the cloudpickle stream replaced
        return b"".join(encode_len_field(3, evil) if n == 3 else m.buf[t:b] for n, _w, _a, b, t in fields)

    blob = tmp_path / "evil.bin"
    blob.write_bytes(splice(plans["blobs"]["scan.logical"].read_bytes(), "LogicalPlanNode", swap)[0])
    r = run(str(blob), "--isolate", "none")
    assert r.exit_code == 1 and "suspicious" in r.stderr and "--trust" in r.stderr, r.output
    assert not marker.exists()
