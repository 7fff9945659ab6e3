"""Physical nodes rendered exactly as ``ExecutionPlan.display_indent()``: SortMergeJoinExec, NestedLoopJoinExec,
BufferExec, ScalarSubqueryExec (with its ``scalar_subquery(<pending>)`` expression), and the two datafusion-python
55 cannot plan, SymmetricHashJoinExec and AsyncFuncExec (their bytes: a real plan's node under the other arm,
``support.retag``; the reference: datafusion's display of what it decodes from them).

Left out of datafusion's text, as docs/commands.md lists: a Parquet scan's ``pruning_predicate`` and
``sort_order_for_reorder`` (a SortExec's order handed down to the scan at planning time: datafusion's own round
trip drops it), and a RepartitionExec's ``maintains_sort_order=true`` (its input's output ordering).
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import ExecutionPlan, SessionConfig, SessionContext
from support.retag import retag

from datafusion_exprtool.inspection.pipeline import inspect_bytes

LEFT_OUT = (re.compile(r", pruning_predicate=.*$"), re.compile(r", sort_order_for_reorder=\[[^\]]*\]"),
            re.compile(r", maintains_sort_order=true"))  # fmt: skip


def _theirs(text: str) -> str:
    lines = text.removesuffix("\n").split("\n")
    for pattern in LEFT_OUT:
        lines = [pattern.sub("", line) for line in lines]
    return "\n".join(lines)


def _same(blob: bytes, theirs: str) -> None:
    got = inspect_bytes(blob)
    assert got.payloads[0].message == "PhysicalPlanNode"
    assert got.rendered == _theirs(theirs)


def _context(base: Path, **settings: str) -> SessionContext:
    config = SessionConfig().with_target_partitions(2)
    for key, value in settings.items():
        config = config.set(key, value)
    c = SessionContext(config)
    c.register_parquet("t", str(base / "t.parquet"))
    c.register_parquet("u", str(base / "u.parquet"))
    for name in ("t", "u"):  # memory tables: a hash join pushes no dynamic filter into their scans
        c.register_record_batches(f"m{name}", [pq.read_table(base / f"{name}.parquet").to_batches()])
    return c


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp: Path = tmp_path_factory.mktemp("joins")
    pq.write_table(pa.table({"a": [1, 2, 3], "b": [4, 5, None], "s": ["x", "y", "z"]}), tmp / "t.parquet")
    pq.write_table(pa.table({"a": [1, 2, 4], "c": [4, 6, 8]}), tmp / "u.parquet")
    return tmp


SORT_MERGE = [f"select * from t {kind} join u on t.a = u.a and t.b > u.c" for kind in (
    "inner", "left", "right", "full", "left semi", "left anti", "right semi", "right anti")] + [  # fmt: skip
    "select t.s from t join u on t.a = u.a", "select * from t join u on t.a is not distinct from u.a",
    "select * from t join u on t.a = u.a and t.b = u.c", "select * from t where t.a in (select a from u) or t.b > 5",
    "select * from t where exists (select 1 from u where u.a = t.a and u.c > 4)",
    "select u.c, count(*) from t join u on t.a = u.a group by u.c order by u.c",
]
NESTED_LOOP = [
    "select * from t join u on t.a < u.c", "select t.s from t join u on t.a < u.c",
    "select t.b, u.c from t left join u on t.a < u.c", "select * from t full join u on t.a < u.c or t.b is null",
    "select * from t where exists (select 1 from u where u.c > t.b)",
    "select * from t left anti join u on t.a + 1 > u.c", "select * from t right semi join u on t.b > u.c",
]  # fmt: skip


@pytest.mark.parametrize("sql", SORT_MERGE)
def test_sort_merge_join(base: Path, sql: str) -> None:
    plan = _context(base, **{"datafusion.optimizer.prefer_hash_join": "false"}).sql(sql).execution_plan()
    assert "SortMergeJoinExec: " in plan.display_indent()
    _same(plan.to_bytes(), plan.display_indent())


@pytest.mark.parametrize("sql", NESTED_LOOP)
def test_nested_loop_join(base: Path, sql: str) -> None:
    plan = _context(base).sql(sql).execution_plan()
    assert "NestedLoopJoinExec: " in plan.display_indent()
    _same(plan.to_bytes(), plan.display_indent())


@pytest.mark.parametrize("sql", ["select * from mt join mu on mt.a = mu.a", "select mt.s, mu.c from mt join mu on "
                                 "mt.a = mu.a where mu.c > 4", "select * from mt join mu on mt.a = mu.a join mt m2 on mu.a = m2.a"])
def test_buffer_under_a_hash_join(base: Path, sql: str) -> None:
    """BufferExec: datafusion 55 puts one on a hash join's probe side when the session sets
    ``datafusion.execution.hash_join_buffering_capacity`` (0, its default, adds none)."""
    plan = _context(base, **{"datafusion.execution.hash_join_buffering_capacity": "65536"}).sql(sql).execution_plan()
    assert "BufferExec: capacity=65536" in plan.display_indent()
    _same(plan.to_bytes(), plan.display_indent())


SUBQUERIES = [
    "select a from t where a > (select max(c) from u)", "select a, (select max(c) from u) as m from t",
    "select a from t where a > (select min(c) from u) and b < (select max(c) from u)",
    "select a from t where a > (select min(c) from u) or t.b in (select c from u)",
    "select s, count(*) from t group by s having count(*) > (select count(*) from u where c > 5)",
]


@pytest.mark.parametrize("sql", SUBQUERIES)
def test_scalar_subquery(base: Path, sql: str) -> None:
    """ScalarSubqueryExec (its input, then one child per subquery) and the expressions reading its results:
    ``scalar_subquery(<pending>)``, as any plan decoded from bytes shows them until the subqueries ran."""
    c = _context(base, **{"datafusion.optimizer.prefer_hash_join": "false"})
    plan = c.sql(sql).execution_plan()
    assert "ScalarSubqueryExec: subqueries=" in plan.display_indent()
    _same(plan.to_bytes(), plan.display_indent())
    decoded = ExecutionPlan.from_bytes(c, plan.to_bytes())
    assert _theirs(decoded.display_indent()) == _theirs(plan.display_indent())


@pytest.mark.parametrize("sql", [
    "select * from mt join mu on mt.a = mu.a", "select * from mt left join mu on mt.a = mu.a and mt.b > mu.c",
    "select * from mt full join mu on mt.a = mu.a and mt.s = 'x'", "select * from mt right anti join mu on mt.a = mu.a",
    "select * from mt join mu on mt.a = mu.a and mt.b = mu.c",
])  # fmt: skip
@pytest.mark.parametrize("mode", ["CollectLeft", "Partitioned"])
def test_symmetric_hash_join(base: Path, sql: str, mode: str) -> None:
    """datafusion-python 55 plans a SymmetricHashJoinExec only over unbounded inputs, and those
    (StreamingTableExec) it cannot serialize ("Unsupported plan and extension codec failed … LazyMemTableExec").
    A HashJoinExec's sides, keys, join type, mode and filter are its fields 1-8 too (CollectLeft reads as
    SinglePartition); its projection, null awareness and dynamic filter (9-11) are left out."""
    c = _context(base, **{"datafusion.optimizer.hash_join_single_partition_threshold": "0" if mode == "Partitioned"
                          else "1000000", "datafusion.optimizer.hash_join_single_partition_threshold_rows": "0"
                          if mode == "Partitioned" else "1000000"})  # fmt: skip
    plan = c.sql(sql).execution_plan()
    assert f"HashJoinExec: mode={mode}" in plan.display_indent()
    blob = retag(plan.to_bytes(), "hash_join", 25, drop=(9, 10, 11))
    theirs = ExecutionPlan.from_bytes(c, blob).display_indent()
    assert "SymmetricHashJoinExec: mode=" in theirs
    _same(blob, theirs)


@pytest.mark.parametrize("sql", [
    "select abs(s) as x, upper(cast(s as varchar)), abs(a) from (select a, sum(b) s from t group by a)",
    "select length(s), round(a * 1.5) from (select s, max(a) as a from t group by s)",
])  # fmt: skip
def test_async_func(base: Path, sql: str) -> None:
    """datafusion plans an AsyncFuncExec only for an async UDF, which the Python API cannot define. A
    ProjectionExec's input, expressions and names are its fields 1-3 (datafusion accepts any function call
    there, and refuses anything else: "expected ScalarFunctionExpr")."""
    c = _context(base)
    plan = c.sql(sql).execution_plan()
    assert plan.display_indent().startswith("ProjectionExec: ")
    blob = retag(plan.to_bytes(), "projection", 36)
    theirs = ExecutionPlan.from_bytes(c, blob).display_indent()
    assert theirs.startswith("AsyncFuncExec: async_expr=[async_expr(name=")
    _same(blob, theirs)


def test_the_new_joins_name_their_columns_for_the_nodes_above(base: Path) -> None:
    """A FilterExec's ``projection=[name@i]`` above a SortMergeJoinExec (a LeftMark join: its inputs' columns
    and ``mark``): the join's output columns are derived from its inputs' bytes (text/physical_props)."""
    c = _context(base, **{"datafusion.optimizer.prefer_hash_join": "false"})
    plan = c.sql("select * from t where t.a in (select a from u) or t.b > 5").execution_plan()
    assert "projection=[a@0, b@1, s@2]" in plan.display_indent()
    _same(plan.to_bytes(), plan.display_indent())
