"""text/logical_plan: a logical plan rendered from its bytes alone equals datafusion's ``display_indent()`` of
the same plan, node kind by node kind (SQL and DataFrame plans, before and after optimization); what the bytes
do not hold is left out, and only that."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import LogicalPlan, SessionContext, col, lit, udf

from datafusion_exprtool.inspection.pipeline import inspect_bytes


@pytest.fixture(scope="module")
def pctx(tmp_path_factory: pytest.TempPathFactory) -> SessionContext:
    """``t`` (a, b, c, s, f) and ``p`` (v), a listing table partitioned by ``year``, both parquet."""
    base: Path = tmp_path_factory.mktemp("logical")
    pq.write_table(pa.table({"a": [1, 2], "b": [2, 3], "c": [3, 4], "s": ["x", "y"], "f": [1.5, None]}),
                   base / "t.parquet")  # fmt: skip
    for year, vs in (("2020", [1, 2]), ("2021", [3])):
        (base / "p" / f"year={year}").mkdir(parents=True)
        pq.write_table(pa.table({"v": vs}), base / "p" / f"year={year}" / "x.parquet")
    ctx = SessionContext()
    ctx.register_parquet("t", str(base / "t.parquet"))
    ctx.register_parquet("p", str(base / "p"), table_partition_cols=[("year", pa.string())])
    return ctx


def ours(plan: LogicalPlan) -> str | None:
    return inspect_bytes(plan.to_bytes()).rendered


def both(ctx: SessionContext, sql: str) -> list[LogicalPlan]:
    df = ctx.sql(sql)
    return [df.logical_plan(), df.optimized_logical_plan()]


SQL = [
    # Projection, Filter, Sort (with and without fetch), Limit, TableScan projection and partial filters
    "select a + 1 as x, s from t where b > 1 order by a desc limit 3",
    "select a from t order by a limit 4",
    "select a from t offset 2",  # no fetch: datafusion writes i64::MAX, read back as none
    "select a from t order by a desc nulls last limit 0",
    # Aggregate, grouping sets, HAVING, DISTINCT
    "select b, sum(a) filter (where c > 1), count(*) from t group by b having count(*) > 1",
    "select b, count(distinct a) from t group by rollup (b, c)",
    "select a, b from t group by grouping sets ((a), (a, b))",
    "select count(*) from t",
    "select distinct a from t",
    "select distinct on (a) a, b from t order by a, b",
    # joins: keys, filter, USING, cross, outer, set operations
    "select t1.a, t2.b from t t1 join t t2 on t1.a = t2.b and t1.c > t2.c",
    "select * from t t1 left join t t2 using (a)",
    "select * from t t1 cross join t t2",
    "select * from t t1 full join t t2 on t1.a = t2.a and t1.b = t2.b",
    "select * from t t1 join t t2 on t1.a is not distinct from t2.a",
    "select a from t intersect select b from t",
    "select a from t except select b from t",
    # Union, Distinct, WindowAggr
    "select a, row_number() over (partition by b order by c) from t union all select a, 1 from t",
    "select a from t union select b from t",
    "select a, sum(b) over (order by a rows between 1 preceding and 1 following) from t",
    # Values (five rows shown, then ...), EmptyRelation, SubqueryAlias
    "select * from (values (1, 'x'), (2, 'y'))",
    "select * from (values (1),(2),(3),(4),(5),(6),(7))",
    "select 1",
    # scalar subqueries: one Subquery: line each, in the order of the expressions
    "select a, (select max(b) from t), (select min(a) from t) from t",
    "select * from t where a > (select avg(b) from t)",
    "select case when a > 1 then 'big' else 'small' end, cast(c as double) from t order by 1 nulls first",
    "explain select a from t",
    "explain verbose select a from t",
    # a partitioned listing table: full_filters on partition columns alone, partial_filters otherwise
    "select * from p where year = '2020'",
    "select * from p where year = '2020' and v > 1",
    "select * from p where year || 'x' = '2020x'",
    "select * from p where year = cast(now() as varchar)",
    "select v from p where v > 1 or year = '2021'",
]


@pytest.mark.parametrize("sql", SQL)
def test_sql_plans_render_as_display_indent(pctx: SessionContext, sql: str) -> None:
    for plan in both(pctx, sql):
        assert ours(plan) == plan.display_indent()


def test_dataframe_plans_render_as_display_indent(pctx: SessionContext) -> None:
    df = pctx.table("t")
    right = pctx.table("t").select(col("a").alias("a2"))
    for frame in (
        df.repartition(4),
        df.repartition_by_hash(col("a"), col("b"), num=3),
        df.distinct(),
        df.join(right, left_on=["a"], right_on=["a2"], how="left"),
        df.join(right, left_on=["a"], right_on=["a2"], how="anti"),
        df.filter(col("a") > lit(1)).sort(col("b").sort(ascending=False)),
    ):
        for plan in (frame.logical_plan(), frame.optimized_logical_plan()):
            assert ours(plan) == plan.display_indent()


def test_a_view_scan_shows_no_children(pctx: SessionContext) -> None:
    """A view's plan travels inside its scan, and datafusion's display shows the scan alone."""
    pctx.register_view("v", pctx.table("t").filter(col("a") > lit(1)))
    for sql in ("select * from v", "select a from v where b > 0"):
        for plan in both(pctx, sql):
            assert ours(plan) == plan.display_indent()


PUSHED_FETCH = r"^(\s*TableScan: .*), fetch=\d+$"


def test_a_scans_pushed_fetch_is_left_out(pctx: SessionContext) -> None:
    """The optimizer pushes a limit into the scan (``fetch=``): the bytes do not keep it, so the line has the rest."""
    for plan in (pctx.sql("select a from t limit 5 offset 2").optimized_logical_plan(),
                 pctx.table("t").limit(3, offset=1).optimized_logical_plan()):
        theirs = plan.display_indent()
        assert re.search(PUSHED_FETCH, theirs, re.M)
        assert ours(plan) == re.sub(PUSHED_FETCH, r"\1", theirs, flags=re.M)


def test_a_recursive_querys_work_table_projection_is_left_out(pctx: SessionContext) -> None:
    """A CTE work table's scan holds its name and schema, not whether the optimizer projected it."""
    sql = "with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) select * from r"
    logical, optimized = both(pctx, sql)
    assert ours(logical) == logical.display_indent()
    theirs = optimized.display_indent()
    assert "TableScan: r projection=" in theirs
    assert ours(optimized) == re.sub(r"(TableScan: r) projection=\[[^\]]*\]", r"\1", theirs)


def test_a_udf_partition_filters_class_is_left_out(pctx: SessionContext) -> None:
    """A filter on partition columns alone is exact only when its functions are Immutable; a Python UDF's
    volatility does not travel on the plan's wire, so that filter is left off the scan's line."""
    tag = udf(lambda a: a, [pa.string()], pa.string(), "immutable", name="tag")
    pctx.register_udf(tag)
    plan = pctx.sql("select * from p where tag(year) = '2020'").optimized_logical_plan()
    theirs = plan.display_indent()
    assert "full_filters=[tag(p.year) = " in theirs
    assert ours(plan) == re.sub(r", full_filters=\[.*\]$", "", theirs, flags=re.M)
