"""`check` on plans nested past datafusion's decode limit: what nests in a plan (each plan node stacked on another
is two protobuf messages; a node's width is free), and a fix that fits plans, measured with datafusion."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import ExecutionPlan, LogicalPlan, SessionContext, col
from datafusion import functions as F

from datafusion_exprtool.catalog.match import normalize
from datafusion_exprtool.reports.check.report import check_bytes
from datafusion_exprtool.reports.explain import explain


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deep") / "t"
    root.mkdir()
    pq.write_table(pa.table({"id": pa.array(range(100), pa.int64())}), root / "p0.parquet")
    return root


def _ctx(table: Path) -> SessionContext:
    ctx = SessionContext()
    ctx.register_parquet("t", str(table) + "/")
    return ctx


@pytest.fixture(scope="module")
def ctx(table: Path) -> SessionContext:
    return _ctx(table)


def _union(ctx: SessionContext, n: int):
    return ctx.sql(" union all ".join(f"select id from t where id = {i % 100}" for i in range(n)))


def _refusal(decode, blob: bytes) -> str | None:
    try:
        decode(SessionContext(), blob)
    except Exception as exc:
        return str(exc)
    return None


def _deep(blob: bytes):
    [found] = [f for f in check_bytes(blob).errors if f.id == "too-deep"]
    return found


def test_a_union_of_300_selects_gets_a_plan_fix_that_works(ctx: SessionContext, table: Path) -> None:
    df = _union(ctx, 300)
    blob = df.logical_plan().to_bytes()
    actual = _refusal(LogicalPlan.from_bytes, blob)
    assert actual is not None and "UnionNode.inputs" in actual and "recursion limit reached" in actual
    found = _deep(blob)
    assert found.datafusion_text in normalize(actual)
    assert "a + b + c" not in found.fix and "optimized_logical_plan()" in found.fix
    assert "299 Union" in found.message  # what nests: one Union per input but the first
    said = explain(actual)[0]
    assert said.id == "too-deep" and said.fix == found.fix  # explain reads the kind from datafusion's path
    # the fix works: the optimized plan is one Union of 300 inputs side by side, decodes, runs, gives the rows
    optimized = df.optimized_logical_plan().to_bytes()
    assert _refusal(LogicalPlan.from_bytes, optimized) is None
    assert not [f for f in check_bytes(optimized).findings if f.id == "too-deep"]
    receiver = _ctx(table)
    rows = receiver.create_dataframe_from_logical_plan(LogicalPlan.from_bytes(receiver, optimized)).count()
    assert rows == df.count() == 300


def test_the_limit_counts_stacked_nodes_not_inputs(ctx: SessionContext) -> None:
    """What datafusion's limit depends on: how many plan nodes stack on one path (about 48 with their scan),
    measured at the edge, and check's verdict agrees on both sides of it."""
    last_ok = max(n for n in range(40, 52) if _refusal(LogicalPlan.from_bytes, _union(ctx, n).logical_plan().to_bytes()) is None)
    for n in (last_ok, last_ok + 1):
        blob = _union(ctx, n).logical_plan().to_bytes()
        refused = _refusal(LogicalPlan.from_bytes, blob) is not None
        assert any(f.id == "too-deep" for f in check_bytes(blob).errors) == refused, n
    assert 44 <= last_ok <= 48


def test_a_physical_join_chain_gets_the_physical_fix(ctx: SessionContext) -> None:
    """A physical plan is optimized already (its unions are flat): what stacks is the query's shape."""
    query = "select t0.id from t t0 " + " ".join(f"join t t{i} on t{i - 1}.id = t{i}.id" for i in range(1, 50))
    blob = ctx.sql(query).execution_plan().to_bytes()
    actual = _refusal(ExecutionPlan.from_bytes, blob)
    assert actual is not None and "recursion limit reached" in actual
    found = _deep(blob)
    assert found.datafusion_text in normalize(actual)
    assert "Parquet" in found.fix and "a + b + c" not in found.fix and "optimized_logical_plan" not in found.fix
    assert "HashJoinExec" in found.message
    assert explain(actual)[0].fix == found.fix
    flat = _union(ctx, 300).execution_plan().to_bytes()  # 300 inputs side by side: no limit met
    assert _refusal(ExecutionPlan.from_bytes, flat) is None and not check_bytes(flat).errors


def test_a_deep_expression_keeps_the_expression_fix() -> None:
    deep = col("a")
    for _ in range(60):
        deep = F.abs(deep)
    found = _deep(deep.to_bytes())
    assert "a + b + c" in found.fix and "plan" not in found.fix
