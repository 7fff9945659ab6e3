"""text/physical_plan: a physical plan rendered from its bytes alone equals datafusion's own
``ExecutionPlan.display_indent()`` (modulo the one trailing newline datafusion ends it with)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from datafusion import SessionConfig, SessionContext

from datafusion_exprtool.inspection.pipeline import inspect_bytes


def _memory_ctx(partitions: int = 1) -> SessionContext:
    ctx = SessionContext(SessionConfig().with_target_partitions(partitions))
    batch = pa.record_batch({"a": [1, 2, 3], "b": [2, 3, 4], "c": [3, 4, 5], "s": ["x", "y", "z"]})
    ctx.register_record_batches("t", [[batch, batch], [batch]])
    ctx.register_record_batches("u", [[pa.record_batch({"a": [1], "d": [7]})]])
    return ctx


MEMORY_SQL = [
    "select a, b + 1 as x from t",
    "select a from t where b > 2 and s = 'x'",
    "select a from t order by a desc nulls last, b asc nulls first",
    "select a from t order by a desc, b limit 2",
    "select * from t limit 1 offset 1",
    "select * from t where a > 1 limit 3",
    "select count(*), sum(a) as s, avg(b) from t",
    "select b, count(*) from t group by b",
    "select b, c, count(distinct a) from t group by grouping sets ((b), (b, c))",
    "select t.a, u.d from t join u on t.a = u.a",
    "select t.a from t left join u on t.a = u.a and t.b > u.d",
    "select a from t union all select a from u",
    "select 1",
    "select * from t cross join u",
    "select a, row_number() over (order by b) from t",
]


@pytest.mark.parametrize("partitions", [1, 3])
@pytest.mark.parametrize("sql", MEMORY_SQL)
def test_memory_plans_render_as_datafusion_displays_them(sql: str, partitions: int) -> None:
    plan = _memory_ctx(partitions).sql(sql).execution_plan()
    theirs = plan.display_indent().removesuffix("\n")
    assert inspect_bytes(plan.to_bytes()).rendered == theirs


FILE_SQL = [
    "select s, a from t",
    "select a + c as x from t",
    "select a from t where a > 1",
    "select b, max(f) from t group by b order by b",
]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
@pytest.mark.parametrize("sql", FILE_SQL)
def test_file_scans_render_as_datafusion_displays_them(tmp_path, fmt: str, sql: str) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pa.table({"a": [1, 2], "b": [2, 3], "c": [3, 4], "s": ["x", "y"], "f": [1.5, 2.5]})
    ctx = SessionContext(SessionConfig().with_target_partitions(2))
    path = tmp_path / f"t.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
        ctx.register_parquet("t", str(path))
    elif fmt == "csv":
        pacsv.write_csv(table, path)
        ctx.register_csv("t", str(path))
    else:
        path.write_text("".join(f'{{"a": {a}, "b": {b}, "c": {c}, "s": "{s}", "f": {f}}}\n'
                                for a, b, c, s, f in zip(*table.to_pydict().values(), strict=True)))  # fmt: skip
        ctx.register_json("t", str(path))
    plan = ctx.sql(sql).execution_plan()
    theirs = plan.display_indent().removesuffix("\n")
    ours = inspect_bytes(plan.to_bytes()).rendered
    if "pruning_predicate=" in theirs:  # derived by the planner from the file schema's statistics: left out
        theirs = theirs.split(", pruning_predicate=")[0]
        assert ours.startswith(theirs)
        return
    assert ours == theirs


@pytest.mark.parametrize("sql", ["select a, b from t", "select b from t", "select b, a from t order by a"])
def test_scan_output_ordering_follows_the_projection(tmp_path, sql: str) -> None:
    """A declared file sort order shows over the projected columns, up to the first one projected away."""
    import pyarrow.parquet as pq
    from datafusion import col

    pq.write_table(pa.table({"a": [1, 2], "b": [2, 3]}), tmp_path / "t.parquet")
    ctx = SessionContext()
    ctx.register_parquet("t", str(tmp_path / "t.parquet"), file_sort_order=[[col("a").sort(), col("b").sort()]])
    plan = ctx.sql(sql).execution_plan()
    assert inspect_bytes(plan.to_bytes()).rendered == plan.display_indent().removesuffix("\n")


LITERAL_SQL = [
    "select map(['a', 'b'], ['1', '2']) as m",
    "select map(['k'], [1]) as m, map([1, 2], [[1], [2, 3]]) as n",
    "select named_struct('nested', named_struct('a', 1), 's', 'x') as s",
    "select named_struct('a', 1, 'b', [1, 2]) as s",
    "select X'000102FF' as b",
    "select X'68656C6C6F20776F726C64' as b",
    "select arrow_cast(X'666978656421', 'FixedSizeBinary(6)') as b",
    "select arrow_cast(X'68656C6C6F20776F726C64', 'LargeBinary') as b",
]


@pytest.mark.parametrize("sql", LITERAL_SQL)
def test_nested_and_binary_literals_show_their_display(sql: str) -> None:
    """A physical plan prints a literal with ScalarValue's Display (maps and structs unquoted, nested structs
    without spaces, binaries in hex), not the Debug text of ``canonical_name()``."""
    plan = _memory_ctx().sql(sql).execution_plan()
    assert inspect_bytes(plan.to_bytes()).rendered == plan.display_indent().removesuffix("\n")


def _lambda_cases():
    from datafusion import col, lit
    from datafusion import functions as f

    return [
        lambda: f.array_transform(col("a"), lambda v: v * 2),
        lambda: f.array_transform(col("a"), f.lambda_(["v"], lit(0))),
        lambda: f.array_any_match(col("a"), lambda v: v > col("b")),
        lambda: f.array_filter(col("a"), f.lambda_(["x"], f.lambda_var("x") > lit(1))),
        lambda: f.array_transform(col("a"), lambda v: f.array_transform(f.make_array(v), lambda w: w + v)),
    ]


@pytest.mark.parametrize("case", range(5))
def test_higher_order_functions_show_their_lambdas(case: int) -> None:
    """``array_transform(a@0, (v) -> v@2 * 2)``: a lambda's parameters, its body, its variables by index."""
    ctx = SessionContext()
    ctx.register_record_batches("t", [[pa.record_batch({"a": [[1, 2], [3]], "b": [1, 2]})]])
    expr = _lambda_cases()[case]()
    plan = ctx.table("t").select(expr.alias("r")).execution_plan()
    assert inspect_bytes(plan.to_bytes()).rendered == plan.display_indent().removesuffix("\n")
