"""text/plan: logical plans rendered and physical plans outlined from the proto tree alone, against datafusion's
own display of the same plan (``display_indent``), and physical expressions as datafusion prints them."""

from __future__ import annotations

import datafusion
import pyarrow as pa
import pytest
from datafusion import SessionContext
from support.text import root

from datafusion_exprtool.text.physical_expr import render_physical_expr
from datafusion_exprtool.text.plan import render_plan

PLAN_SQL = [
    "select a + 1 as x, s from t where b > 1 order by a desc limit 3",
    "select b, sum(a) filter (where c > 1), count(*) from t group by b having count(*) > 1",
    "select t1.a, t2.b from t t1 join t t2 on t1.a = t2.b and t1.c > t2.c",
    "select a, row_number() over (partition by b order by c) from t union all select a, 1 from t",
    "select distinct on (a) a, b from t order by a, b",
    "select * from (values (1, 'x'), (2, 'y'))",
    "select a, (select max(b) from t) from t where s like 'x%'",
    "select b, count(distinct a) from t group by rollup (b, c)",
    "select case when a > 1 then 'big' else 'small' end, cast(c as double) from t order by 1 nulls first",
]


@pytest.mark.parametrize("sql", PLAN_SQL)
def test_logical_plan_renders_as_display_indent(ctx: SessionContext, sql: str) -> None:
    df = ctx.sql(sql)
    for plan in (df.logical_plan(), df.optimized_logical_plan()):
        assert render_plan(root(plan.to_bytes(), "LogicalPlanNode")) == plan.display_indent()


def _count_exec(ep: datafusion.ExecutionPlan) -> int:
    n, stack = 0, [ep]
    while stack:
        node = stack.pop()
        n += 1
        stack.extend(node.children())
    return n


@pytest.mark.parametrize("sql", PLAN_SQL)
def test_physical_plan_outline(ctx: SessionContext, sql: str) -> None:
    ep = ctx.sql(sql).execution_plan()
    text = render_plan(root(ep.to_bytes(), "PhysicalPlanNode"))
    assert "<undecodable" not in text
    if "not expanded" not in text:  # a node kind the field tables leave opaque hides its inputs
        assert len(text.splitlines()) == _count_exec(ep)


def test_physical_expr_text(ctx: SessionContext) -> None:
    ep = ctx.sql("select a + 1, b from t where b > 1").execution_plan()
    plan = root(ep.to_bytes(), "PhysicalPlanNode")
    proj = plan.to_dict()["projection"]
    texts = [render_physical_expr(x) for x in proj.to_dict()["expr"]]
    assert texts == ["a@0 + 1", "b@1"]


def test_scan_projection_exprs_read_like_datafusions_display(tmp_path) -> None:
    """datafusion 55 writes a scan's projection as expressions (FileScanExecConf.projection_exprs): the outline
    shows them as datafusion's own plan display does."""
    import re

    import pyarrow.parquet as pq

    from datafusion_exprtool.layers.proto.msg import Msg
    from datafusion_exprtool.text.plan import render_plan

    pq.write_table(pa.table({"a": [3, 1], "s": ["x", "y"], "c": [1.0, 2.0]}), tmp_path / "t.parquet")
    ctx = SessionContext()
    ctx.register_parquet("t", str(tmp_path / "t.parquet"))
    for q in ("select s, a from t", "select a + c from t", "select a + 1 as x, s from t where a > 1"):
        plan = ctx.sql(q).execution_plan()
        theirs = re.search(r"projection=(\[[^\]]*\])", plan.display_indent().splitlines()[-1])
        b = plan.to_bytes()
        ours = render_plan(Msg("PhysicalPlanNode", b, 0, len(b))).splitlines()[-1]
        assert theirs is not None and f"projection={theirs[1]}" in ours, (q, ours)
