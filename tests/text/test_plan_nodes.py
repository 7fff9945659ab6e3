"""Plan nodes whose field tables come from datafusion.proto rather than the fact sheet (ArrowScan, UnnestExec and
logical Unnest's list items, LazyMemoryExec from range()/generate_series, ExplainExec, AnalyzeExec and logical
Analyze): each plan datafusion 55 builds is detected as its own message type and rendered exactly as its
``display_indent()``; the one part left out is a Parquet scan's derived ``pruning_predicate``."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from datafusion import SessionConfig, SessionContext, col

from datafusion_exprtool.inspection.pipeline import inspect_bytes


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> SessionContext:
    """``p`` (parquet) and ``ar`` (arrow file) with list, nested-list and struct columns; ``m`` a memory table."""
    base: Path = tmp_path_factory.mktemp("nodes")
    table = pa.table({
        "a": [1, 2, 3], "l": [[1, 2], [3], None], "s": ["x", "y", "z"],
        "st": [{"p": 1, "q": "a"}, None, {"p": 3, "q": "c"}], "ll": [[[1], [2, 3]], [], None],
    })  # fmt: skip
    pq.write_table(table, base / "t.parquet")
    with ipc.new_file(base / "t.arrow", table.schema) as writer:
        writer.write_table(table)
    c = SessionContext(SessionConfig().with_target_partitions(2).with_batch_size(100))
    c.register_parquet("p", str(base / "t.parquet"))
    c.register_arrow("ar", str(base / "t.arrow"))
    c.register_record_batches("m", [table.to_batches()])
    return c


def _same(plan, message: str) -> None:
    got = inspect_bytes(plan.to_bytes())
    assert got.payloads[0].message == message
    theirs = plan.display_indent().removesuffix("\n")
    if ", pruning_predicate=" in theirs:  # derived at planning time from the file schema's statistics
        theirs = "\n".join(line.split(", pruning_predicate=")[0] for line in theirs.split("\n"))
    assert got.rendered == theirs


PHYSICAL_SQL = [
    # ArrowScan
    "select * from ar", "select a, s from ar where a > 1", "select count(*) from ar",
    # UnnestExec
    "select unnest(l) from p", "select unnest(st) from p", "select unnest(unnest(ll)) from p",
    "select a, unnest(l), unnest(ll) from m", "select unnest([1, 2, 3]) as u",
    # LazyMemoryExec: range / generate_series, integer, timestamp (with and without a zone), date, NULL
    "select * from range(10)", "select * from range(5, 1, -2)", "select value from range(3) where value > 1",
    "select count(*) from range(10)", "select * from generate_series(-3, 3)",
    "select * from generate_series(timestamp '2020-01-01', timestamp '2020-01-02', interval '6 hours')",
    "select * from range(arrow_cast('2020-01-01T00:00:00', 'Timestamp(Nanosecond, Some(\"Europe/Paris\"))'), "
    "arrow_cast('2020-01-02T00:00:00', 'Timestamp(Nanosecond, Some(\"Europe/Paris\"))'), interval '6 hours')",
    "select * from generate_series(date '2020-01-01', date '2020-03-01', interval '1 month')",
    "select * from range(NULL, 3)", "select * from generate_series(1, NULL)",
    "select * from range(3) a join range(3) b on a.value = b.value",
    # ExplainExec, AnalyzeExec, PlaceholderRowExec
    "explain select 1", "explain verbose select a from p", "explain analyze select a from p",
    "explain analyze verbose select a from m where a > 1", "select 1", "select 1 union all select 2",
]


@pytest.mark.parametrize("sql", PHYSICAL_SQL)
def test_physical_plans_of_the_new_nodes(ctx: SessionContext, sql: str) -> None:
    _same(ctx.sql(sql).execution_plan(), "PhysicalPlanNode")


LOGICAL_SQL = [
    "select unnest(l) from p", "select unnest(st) from p", "select unnest(unnest(ll)) from p",
    "select a, unnest(l), unnest(ll) from p", "select u from (select unnest(l) as u from p) x where u > 1",
    "explain analyze select a from p", "explain analyze verbose select a from p where a > 1",
    "select * from ar",
]


@pytest.mark.parametrize("sql", LOGICAL_SQL)
def test_logical_plans_of_the_new_nodes(ctx: SessionContext, sql: str) -> None:
    df = ctx.sql(sql)
    _same(df.logical_plan(), "LogicalPlanNode")
    _same(df.optimized_logical_plan(), "LogicalPlanNode")


@pytest.mark.parametrize(
    "build",
    [
        lambda c: c.table("p").unnest_columns("l"),
        lambda c: c.table("p").unnest_columns("l", "st", preserve_nulls=False),
        lambda c: c.table("p").alias("q").unnest_columns("ll"),
        lambda c: c.table("p").filter(col("a") > 1).sort(col("a")).unnest_columns("st"),
        lambda c: c.table("p").select(col("a"), col("l").alias("renamed")).unnest_columns("renamed"),
    ],
)
def test_dataframe_unnest_names_the_input_columns(ctx: SessionContext, build) -> None:
    """``unnest_columns("l")`` holds the column unqualified; datafusion shows it as the input's schema does
    (``p.l``, ``q.ll``): the input's columns are derived from its bytes (text/logical_columns.py)."""
    df = build(ctx)
    _same(df.logical_plan(), "LogicalPlanNode")
    _same(df.optimized_logical_plan(), "LogicalPlanNode")
    _same(df.execution_plan(), "PhysicalPlanNode")


@pytest.mark.parametrize("sql", ["select b from c where a > 1", "select s from p where a > 1"])
def test_a_filter_projection_over_a_file_scan_names_the_scans_columns(ctx, tmp_path, sql: str) -> None:
    """``FilterExec: a@0 > 1, projection=[b@1]``: the names come from the scan below (its projected columns)."""
    import pyarrow.csv as pacsv

    pacsv.write_csv(pa.table({"a": [1, 2], "s": ["x", "y"], "b": [3, 4]}), tmp_path / "c.csv")
    ctx.register_csv("c", str(tmp_path / "c.csv"))
    try:
        plan = ctx.sql(sql).execution_plan()
        assert "projection=[" in plan.display_indent().split("\n")[0]
        _same(plan, "PhysicalPlanNode")
    finally:
        ctx.deregister_table("c")


@pytest.mark.parametrize("target", ["o.csv", "o.json", "o.parquet", "o.arrow", "out/"])
def test_copy_to_and_its_sink(ctx, tmp_path, target: str) -> None:
    """``COPY … TO``: the logical CopyTo (its format read from the file type datafusion's codec writes) and the
    physical DataSinkExec (an Arrow file sink is an extension datafusion cannot serialize)."""
    df = ctx.sql(f"COPY (select a, s from p) TO '{tmp_path / target}'" + (" STORED AS PARQUET" if "/" in target else ""))
    _same(df.logical_plan(), "LogicalPlanNode")
    if not target.endswith(".arrow"):
        _same(df.execution_plan(), "PhysicalPlanNode")


def test_insert_into_a_listing_table(ctx, tmp_path) -> None:
    """``INSERT INTO``: ``Dml: op=[Insert Into] table=[d]`` (the target table is named, not shown as a child) and
    ``DataSinkExec: sink=ParquetSink(file_groups=[the table's files])``."""
    (tmp_path / "d").mkdir()
    pq.write_table(pa.table({"a": [1]}), tmp_path / "d" / "part.parquet")
    ctx.register_parquet("d", f"{tmp_path}/d/")
    try:
        df = ctx.sql("INSERT INTO d SELECT a FROM p")
        _same(df.logical_plan(), "LogicalPlanNode")
        _same(df.execution_plan(), "PhysicalPlanNode")
    finally:
        ctx.deregister_table("d")
