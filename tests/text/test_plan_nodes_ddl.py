"""The logical DDL nodes and PREPARE rendered exactly as ``LogicalPlan.display_indent()``.

``ctx.sql("CREATE VIEW …")`` runs the statement at once and returns an empty DataFrame (its plan is
``EmptyRelation``); the statement's own plan is the input of ``EXPLAIN <statement>``, which datafusion plans
without running. ``to_bytes()`` writes CreateExternalTable, CreateView, CreateCatalogSchema, CreateCatalog,
DropView and Prepare; the others it refuses (``DROP_TABLE_REFUSED`` below, datafusion's words).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import LogicalPlan, SessionContext

from datafusion_exprtool.inspection.pipeline import inspect_bytes
from datafusion_exprtool.reports.check.report import check_inspection
from datafusion_exprtool.reports.check.target import Target


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> SessionContext:
    base: Path = tmp_path_factory.mktemp("ddl")
    pq.write_table(pa.table({"a": [1, 2], "s": ["x", "y"]}), base / "t.parquet")
    c = SessionContext()
    c.register_parquet("t", str(base / "t.parquet"))
    return c


def _statement(ctx: SessionContext, sql: str) -> LogicalPlan:
    return ctx.sql(f"EXPLAIN {sql}").logical_plan().inputs()[0]


def _same(plan: LogicalPlan) -> None:
    got = inspect_bytes(plan.to_bytes())
    assert got.payloads[0].message == "LogicalPlanNode"
    assert got.rendered == plan.display_indent().removesuffix("\n")


STATEMENTS = [
    "CREATE VIEW v AS SELECT a FROM t", "CREATE OR REPLACE VIEW v2 AS SELECT a FROM t WHERE a > 1",
    "CREATE VIEW v(x, y) AS SELECT 1, 2", 'CREATE VIEW "My View" AS SELECT 1', "CREATE VIEW s.v AS SELECT 1",
    "CREATE VIEW c.s.v AS SELECT s FROM t", 'CREATE VIEW "tab\tq""x" AS SELECT 1',
    "CREATE EXTERNAL TABLE e STORED AS PARQUET LOCATION '/data/t.parquet'",
    "CREATE EXTERNAL TABLE e (a INT DEFAULT 1, b VARCHAR DEFAULT 'x' || 'y') STORED AS CSV LOCATION '/tmp/n.csv'",
    "CREATE EXTERNAL TABLE e (a INT, b INT, PRIMARY KEY (a, b)) STORED AS CSV LOCATION '/tmp/n.csv' "
    "PARTITIONED BY (b) WITH ORDER (a DESC NULLS LAST) OPTIONS ('format.has_header' 'true')",
    "CREATE EXTERNAL TABLE IF NOT EXISTS s.e STORED AS PARQUET LOCATION 's3://bucket/x/' "
    "OPTIONS ('aws.access_key_id' 'AKIA', 'aws.secret_access_key' 'SECRET', 'aws.region' 'eu')",
    "CREATE UNBOUNDED EXTERNAL TABLE u (a INT) STORED AS CSV LOCATION '/tmp/x.csv'",
    "CREATE SCHEMA s1", "CREATE SCHEMA IF NOT EXISTS datafusion.s2", 'CREATE SCHEMA "a""b"',
    "CREATE DATABASE c1", "CREATE DATABASE IF NOT EXISTS c2", "DROP VIEW v", "DROP VIEW IF EXISTS c.s.nosuch",
    "PREPARE p(INT, VARCHAR, TIMESTAMP, DECIMAL(10,2), DOUBLE, DATE) AS SELECT $1 + 1, $2, $3, $4, $5, $6",
    "PREPARE q AS SELECT a FROM t WHERE a > $1",
]  # fmt: skip


@pytest.mark.parametrize("sql", STATEMENTS)
def test_statement_plans(ctx: SessionContext, sql: str) -> None:
    plan = _statement(ctx, sql)
    assert plan.display_indent().split(":")[0] in (
        "CreateView", "CreateExternalTable", "CreateCatalogSchema", "CreateCatalog", "DropView", "Prepare")  # fmt: skip
    _same(plan)
    _same(ctx.sql(f"EXPLAIN {sql}").logical_plan())  # the statement under Explain


def test_create_database_is_a_plan_not_a_call(ctx: SessionContext) -> None:
    """``CREATE DATABASE c1`` (``a2 01 06 0a 02 63 31 1a 00``) reads as an expression too: a call ``c1()`` with
    an empty definition, which datafusion never writes (a call it writes has none, or its codec's bytes)."""
    blob = _statement(ctx, "CREATE DATABASE c1").to_bytes()
    assert blob == bytes.fromhex("a201060a0263311a00")
    assert inspect_bytes(blob).rendered == 'CreateCatalog: "c1"'
    from datafusion import udf

    call = udf(lambda x: x, [pa.int64()], pa.int64(), "immutable", name="c1")
    assert inspect_bytes(call().to_bytes()).message == "LogicalExprNode"


def test_a_unique_constraint_travels_as_a_primary_key(ctx: SessionContext) -> None:
    """datafusion 55 writes a UNIQUE constraint as a primary key (its to_proto maps both to ``primary_key``): the
    sender shows ``Unique([1])``, the bytes and every receiver ``PrimaryKey([1])``; exprtool shows the bytes."""
    plan = _statement(
        ctx, "CREATE EXTERNAL TABLE e (a INT, b INT, UNIQUE (b), PRIMARY KEY (a, b)) STORED AS CSV LOCATION '/n.csv'"
    )
    assert "constraints=[Unique([1]), PrimaryKey([0, 1])]" in plan.display_indent()
    received = LogicalPlan.from_bytes(SessionContext(), plan.to_bytes()).display_indent()
    assert "constraints=[PrimaryKey([1]), PrimaryKey([0, 1])]" in received
    assert inspect_bytes(plan.to_bytes()).rendered == received.removesuffix("\n")


DROP_TABLE_REFUSED = "LogicalPlan serde is not yet implemented for DropTable"


@pytest.mark.parametrize(("sql", "node"), [("DROP TABLE t", "DropTable"), ("CREATE TABLE m AS SELECT 1 AS x",
                         "CreateMemoryTable"), ("DROP SCHEMA s1", "DropCatalogSchema")])  # fmt: skip
def test_statements_datafusion_does_not_serialize(ctx: SessionContext, sql: str, node: str) -> None:
    with pytest.raises(Exception, match=DROP_TABLE_REFUSED.replace("DropTable", node)):
        _statement(ctx, sql).to_bytes()


def test_a_statements_clear_text_is_listed(ctx: SessionContext) -> None:
    """The table's location, each option (``key=value``: credentials go there; ``check`` warns) and the
    statement's SQL as datafusion rebuilt it; a view's SQL text."""
    blob = _statement(ctx, STATEMENTS[10]).to_bytes()
    got = inspect_bytes(blob)
    texts = {(s.kind, s.text) for s in got.sensitive}
    assert {("path", "s3://bucket/x/"), ("option", "aws.secret_access_key=SECRET"),
            ("option", "aws.access_key_id=AKIA"), ("option", "aws.region=eu")} <= texts  # fmt: skip
    assert any(k == "sql-text" and t.startswith("CREATE EXTERNAL TABLE") for k, t in texts)
    findings = check_inspection(got, Target()).findings
    assert {f.message for f in findings if f.id == "sensitive-option"} >= {
        "in clear text: a table option (CREATE EXTERNAL TABLE … OPTIONS: credentials go there): "
        "aws.secret_access_key=SECRET"
    }
    view = inspect_bytes(_statement(ctx, "CREATE VIEW v AS SELECT a FROM t").to_bytes())
    assert ("sql-text", "CREATE VIEW v AS SELECT a FROM t") in {(s.kind, s.text) for s in view.sensitive}
