"""The README story's own fixtures: the bad-row sample (fixtures/generate_orders.py) is what its generator writes
and fails in datafusion exactly where the story says; the plan the story ships (fixtures/ship_plan.py) is a
logical plan of its query over the directory it is given."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import Expr, LogicalPlan, SessionContext
from support.blobs import raised
from support.repo import FIXTURES, ROOT, committed_fixtures_match


def _generator():
    spec = importlib.util.spec_from_file_location("generate_orders", FIXTURES / "generate_orders.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generator_reproduces_the_committed_sample(tmp_path: Path) -> None:
    gen = _generator()
    paths, blob = gen.generate(tmp_path)
    for path in paths:
        mine = ROOT / path.relative_to(tmp_path)
        assert pq.read_table(mine).equals(pq.read_table(path)), mine  # the rows; bytes may vary with pyarrow
        assert pq.ParquetFile(mine).metadata.num_row_groups == gen.ROWS // gen.ROW_GROUP
    if not committed_fixtures_match():
        pytest.skip("the committed blob is stamped with another Python minor or datafusion version")
    assert (ROOT / gen.BLOB_REL).read_bytes() == blob.read_bytes()  # deterministic, byte for byte


def test_the_udf_fails_on_the_one_row_the_story_names() -> None:
    """datafusion runs the committed blob: every file fails only because of the decimal-comma row."""
    gen = _generator()
    if not committed_fixtures_match():
        pytest.skip("the committed blob is stamped with another Python minor or datafusion version")
    expr = Expr.from_bytes((ROOT / gen.BLOB_REL).read_bytes())
    part, row = gen.BAD
    for index in range(gen.FILES):
        table = pq.read_table(ROOT / gen.DATA_REL / f"part-{index}.parquet")
        ctx = SessionContext()
        df = ctx.from_arrow(table)
        if index != part:
            assert df.select(expr).count() == gen.ROWS
            continue
        exc = raised(lambda df=df: df.select(expr).collect())
        assert f"could not convert string to float: '{gen.BAD_AMOUNT}'" in str(exc)
        assert table.column("amount")[row].as_py() == gen.BAD_AMOUNT
        assert row // gen.ROW_GROUP == 2  # the story shows "row group 2  row 1,234"
        without = pa.concat_tables([table.slice(0, row), table.slice(row + 1)])
        assert ctx.from_arrow(without).select(expr).count() == gen.ROWS - 1


def test_ship_plan_writes_the_query_as_a_logical_plan_over_the_directory(small_parquet: Path, tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    prod.mkdir()
    (prod / "part-0.parquet").write_bytes(small_parquet.read_bytes())
    done = subprocess.run([sys.executable, str(FIXTURES / "ship_plan.py"), "prod/", "plan.bin"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    blob = (tmp_path / "plan.bin").read_bytes()
    assert f"file://{prod.resolve()}/".encode() in blob  # the absolute path: why the story builds it where it runs
    ctx = SessionContext()
    plan = LogicalPlan.from_bytes(ctx, blob)
    assert "TableScan: sales" in plan.display_indent()
    replayed = ctx.create_dataframe_from_logical_plan(plan).to_pydict()
    direct = SessionContext()
    direct.register_parquet("sales", str(small_parquet))
    query = _query()
    assert replayed == direct.sql(query).to_pydict() and len(replayed["s"]) == 3


def _query() -> str:
    spec = importlib.util.spec_from_file_location("ship_plan", FIXTURES / "ship_plan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.QUERY
