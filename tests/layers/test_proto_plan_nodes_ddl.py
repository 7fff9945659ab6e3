"""The field tables of tools/plan_node_tables.py (the joins besides HashJoinExec, AsyncFuncExec, BufferExec,
ScalarSubqueryExec, the logical DDL nodes and Prepare), checked against what the installed datafusion 55 writes
and refuses, as tests/layers/test_proto_plan_nodes.py checks the first batch: every blob is datafusion's (two
re-tagged from a real plan, ``support.retag``, for the nodes datafusion-python cannot plan); the scan reads them
with no unknown field and nothing opaque; the values read are the ones asked for; each field's name and oneof
are the ones datafusion's own refusal names when the field's wire type is flipped (a map's entry excepted: prost
reads it whatever its wire type says, and so does the scan)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import SessionConfig, SessionContext
from support.decoding import decode_all, decode_cases
from support.plan_msgs import ROOTS, assert_flips_named_as_datafusion, first, plan_root, walk
from support.retag import retag

from datafusion_exprtool.inspection.pipeline import inspect_bytes
from datafusion_exprtool.layers.proto.prost_error import prost_error
from datafusion_exprtool.layers.proto.scan import scan
from datafusion_exprtool.layers.proto.tables import ENUMS, MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, iter_raw

NEW_TYPES = {
    "SortMergeJoinExecNode", "SymmetricHashJoinExecNode", "AsyncFuncExecNode", "BufferExecNode",
    "ScalarSubqueryExecNode", "PhysicalScalarSubqueryExprNode", "CreateExternalTableNode",
    "CreateExternalTableNode.OptionsEntry", "CreateExternalTableNode.ColumnDefaultsEntry", "Constraints",
    "Constraint", "PrimaryKeyConstraint", "CreateCatalogSchemaNode", "CreateCatalogNode", "DropViewNode",
    "CreateViewNode", "PrepareNode",
}  # fmt: skip
#: UniqueConstraint: in the .proto, but datafusion 55 writes every constraint as a primary key
NEVER_WRITTEN = {"UniqueConstraint"}
STATEMENTS = {
    "external": "CREATE EXTERNAL TABLE IF NOT EXISTS e (a INT DEFAULT 7, b INT, PRIMARY KEY (a)) STORED AS CSV "
    "LOCATION '/data/e.csv' PARTITIONED BY (b) WITH ORDER (a DESC) OPTIONS ('format.delimiter' ';')",
    "unbounded": "CREATE OR REPLACE UNBOUNDED EXTERNAL TABLE u (a INT) STORED AS CSV LOCATION '/data/u.csv'",
    "view": "CREATE OR REPLACE VIEW s.v AS SELECT a FROM t", "schema": "CREATE SCHEMA IF NOT EXISTS s1",
    "catalog": "CREATE DATABASE IF NOT EXISTS c1", "drop": "DROP VIEW IF EXISTS c.s.v",
    "prepare": "PREPARE p(INT, VARCHAR) AS SELECT $1, $2",
}  # fmt: skip


@pytest.fixture(scope="module")
def blobs(tmp_path_factory) -> dict:
    tmp: Path = tmp_path_factory.mktemp("plan_nodes_ddl")
    pq.write_table(pa.table({"a": [1, 2], "b": [3, 4]}), tmp / "t.parquet")
    config = SessionConfig().with_target_partitions(2).set("datafusion.optimizer.prefer_hash_join", "false")
    ctx = SessionContext(config.set("datafusion.execution.hash_join_buffering_capacity", "4096"))
    ctx.register_parquet("t", str(tmp / "t.parquet"))
    ctx.register_record_batches("m", [[pa.record_batch({"a": [1, 2], "c": [5, 6]})]])
    out = {f"logical.{k}": ("logical", ctx.sql(f"EXPLAIN {q}").logical_plan().inputs()[0].to_bytes())
           for k, q in STATEMENTS.items()}  # fmt: skip
    physical = {
        "sort_merge": "select * from t left join m on t.a = m.a and t.b > m.c",
        "nulls_equal": "select * from t join m on t.a is not distinct from m.a",
        "subquery": "select a from t where a > (select max(c) from m)",
    }
    out |= {f"physical.{k}": ("physical", ctx.sql(q).execution_plan().to_bytes()) for k, q in physical.items()}
    hashed = SessionContext(SessionConfig().set("datafusion.execution.hash_join_buffering_capacity", "4096"))
    hashed.register_record_batches("m", [[pa.record_batch({"a": [1, 2], "c": [5, 6]})]])
    join = hashed.sql("select * from m m1 join m m2 on m1.a = m2.a and m1.c > m2.c").execution_plan().to_bytes()
    out["physical.buffer"] = ("physical", join)
    out["physical.symmetric"] = ("physical", retag(join, "hash_join", 25, drop=(9, 10, 11)))
    projection = hashed.sql("select abs(a) as x from (select a, max(c) c from m group by a)").execution_plan()
    out["physical.async"] = ("physical", retag(projection.to_bytes(), "projection", 36))
    return {"blobs": out, "tmp": tmp}


def test_scan_reads_the_new_nodes_whole(blobs) -> None:
    seen = set()
    for name, (kind, blob) in blobs["blobs"].items():
        res = scan(blob, ROOTS[kind])
        assert res.unknown_count == 0, (name, res.unknown)
        assert not [o for o in res.opaque if o[0] in NEW_TYPES], (name, res.opaque)
        assert inspect_bytes(blob).payloads[0].message == ROOTS[kind], name
        seen |= {m.type for m in walk(plan_root(blobs, name))}
    assert seen & (NEW_TYPES | NEVER_WRITTEN) == NEW_TYPES


def test_values_are_the_ones_the_statements_asked_for(blobs) -> None:
    ext = first(blobs, "logical.external", "CreateExternalTableNode").to_dict()
    assert (ext["location"], ext["file_type"], ext["if_not_exists"]) == ("/data/e.csv", "CSV", True)
    assert ext["table_partition_cols"] == ["b"] and "unbounded" not in ext
    options = [o.to_dict() for o in ext["options"]]
    assert options == [{"key": "format.delimiter", "value": ";"}]
    assert [d.to_dict()["key"] for d in ext["column_defaults"]] == ["a"]
    key = first(blobs, "logical.external", "PrimaryKeyConstraint").to_dict()
    assert key.get("indices") in ([0], 0, None)  # packed [0] reads as the default, as prost reads it
    unbounded = first(blobs, "logical.unbounded", "CreateExternalTableNode").to_dict()
    assert unbounded["unbounded"] is True and unbounded["or_replace"] is True
    view = first(blobs, "logical.view", "CreateViewNode").to_dict()
    assert view["or_replace"] is True and view["definition"] == STATEMENTS["view"]
    assert first(blobs, "logical.schema", "CreateCatalogSchemaNode").to_dict()["schema_name"] == "s1"
    assert first(blobs, "logical.catalog", "CreateCatalogNode").to_dict()["if_not_exists"] is True
    assert first(blobs, "logical.drop", "DropViewNode").to_dict()["if_exists"] is True
    prepare = first(blobs, "logical.prepare", "PrepareNode").to_dict()
    assert prepare["name"] == "p" and len(prepare["data_types"]) == len(prepare["fields"]) == 2
    smj = first(blobs, "physical.sort_merge", "SortMergeJoinExecNode").to_dict()
    assert ENUMS["JoinType"][smj["join_type"]] == "LEFT" and len(smj["sort_options"]) == 1
    nulls = first(blobs, "physical.nulls_equal", "SortMergeJoinExecNode").to_dict()
    assert ENUMS["NullEquality"][nulls["null_equality"]] == "NULL_EQUALS_NULL"
    assert first(blobs, "physical.buffer", "BufferExecNode").to_dict()["capacity"] == 4096
    assert len(first(blobs, "physical.subquery", "ScalarSubqueryExecNode").to_dict()["subqueries"]) == 1
    slot = first(blobs, "physical.subquery", "PhysicalScalarSubqueryExprNode").to_dict()
    assert slot.get("index", 0) == 0 and "data_type" in slot
    symmetric = first(blobs, "physical.symmetric", "SymmetricHashJoinExecNode").to_dict()
    assert ENUMS["StreamPartitionMode"][symmetric.get("partition_mode", 0)] == "SINGLE_PARTITION"
    assert first(blobs, "physical.async", "AsyncFuncExecNode").to_dict()["async_expr_names"] == ["x"]


def _cases(blobs: dict) -> list[tuple[tuple[str, str], str, bytes]]:
    """((message, field), kind, blob with that field's wire type flipped) for the first occurrence of every
    field of the new types on the wire (packed repeated scalars, map entries and their fields left out)."""
    out, done = [], set()
    for name, (kind, blob) in blobs["blobs"].items():
        for m in walk(plan_root(blobs, name)):
            if m.type not in NEW_TYPES or m.type.endswith("Entry"):
                continue
            table = MESSAGES[m.type]
            for number, wire, _a, _b, tag in iter_raw(m.buf, m.start, m.end):
                spec = table[number]
                key = (m.type, spec.name)
                entry = spec.kind == "message" and spec.type.endswith("Entry")
                if key in done or (spec.repeated and spec.kind != "message") or entry:
                    continue
                done.add(key)
                damaged = bytearray(blob)
                damaged[tag] ^= 2 if wire == LEN else 1
                out.append((key, kind, bytes(damaged)))
    return out


def test_field_names_are_the_ones_datafusion_names(blobs) -> None:
    cases = _cases(blobs)
    assert_flips_named_as_datafusion(cases, blobs["tmp"])
    assert len(cases) >= 40


def test_a_map_entry_reads_whatever_its_wire_type_says(blobs) -> None:
    """prost reads a map entry's length whatever wire type its tag says: datafusion decodes a CREATE EXTERNAL
    TABLE whose option entry is tagged as a varint, and the scan reads it the same."""
    _kind, blob = blobs["blobs"]["logical.external"]
    entry = first(blobs, "logical.external", "CreateExternalTableNode")
    tag = next(t for n, _w, _a, _b, t in iter_raw(entry.buf, entry.start, entry.end) if n == 8)
    damaged = bytearray(blob)
    damaged[tag] ^= LEN  # wire type 2 -> 0
    path = blobs["tmp"] / "entry-as-varint"
    path.write_bytes(bytes(damaged))
    assert decode_all([(path, "logical")]) == [None]
    assert scan(bytes(damaged), "LogicalPlanNode").unknown_count == 0
    assert prost_error(bytes(damaged), "LogicalPlanNode") is None


def _dropped(blobs: dict) -> list[tuple[str, str, bytes]]:
    """(``Message.field@arm``, kind, the blob without that field) for each non-repeated message field of the new
    types, and of the JoinOn / JoinFilter under each join, met for the first time (its tag renumbered to a free
    number: prost skips it, nothing else moves)."""
    out, seen = [], set()
    for name, (kind, blob) in blobs["blobs"].items():
        root = plan_root(blobs, name)
        where = root.which("PhysicalPlanType")[0] if kind == "physical" else ""
        for m in walk(root):
            if m.type not in NEW_TYPES and m.type not in ("JoinOn", "JoinFilter"):
                continue
            table = MESSAGES[m.type]
            free = next(n for n in range(15, 0, -1) if n not in table)
            for number, wire, _a, _b, tag in iter_raw(m.buf, m.start, m.end):
                spec = table[number]
                key = f"{m.type}.{spec.name}@{where}"
                if spec.kind != "message" or spec.repeated or spec.oneof or key in seen or blob[tag] >= 0x80:
                    continue
                seen.add(key)
                data = bytearray(blob)
                data[tag] = free << 3 | wire
                out.append((key, kind, bytes(data)))
    return out


def test_required_fields_of_the_new_nodes_are_predicted_in_datafusions_words(blobs) -> None:
    """Each field datafusion's from_proto requires is damage for ``inspect`` with datafusion's own text
    (layers/proto/semantics), and what it accepts without the field is not (a SortMergeJoinExec's sort options
    carry no expression: no false alarm on every sort-merge join)."""
    from datafusion_exprtool.errors import DecodeError

    cases = _dropped(blobs)
    verdicts = decode_cases(cases, blobs["tmp"], "dropped")
    for (key, kind, data), said in zip(cases, verdicts, strict=True):
        try:
            damage = inspect_bytes(data, message=kind).damage
        except DecodeError as err:
            damage = [err]
        if said is None:
            assert not damage, key
            continue
        assert damage, (key, said[:200])
        text = getattr(damage[0], "datafusion_text", "") or ""
        assert text and text in said.replace('\\"', '"'), (key, text, said[:300])
    assert sum(said is not None for said in verdicts) >= 25
    for kind, blob in blobs["blobs"].values():
        assert not inspect_bytes(blob, message=kind).damage
