"""The plan node field tables taken from datafusion.proto (tools/gen_proto_tables.py ``PLAN_NODE_MESSAGES``: the
fact sheet names these types but lists none of their fields), checked against what the installed datafusion 55
writes and refuses.

Every blob is built by datafusion; the scan reads them with no unknown field and nothing opaque; the values read
are those the query asked for; and each field's name (with its oneof) is the one datafusion's own refusal names
when that field's wire type is flipped (decoded for real in a child process, support.decoding.decode_all).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from datafusion import SessionConfig, SessionContext
from support.plan_msgs import ROOTS, assert_flips_named_as_datafusion, first, plan_root, walk

from datafusion_exprtool.layers.proto.scan import scan
from datafusion_exprtool.layers.proto.tables import ENUMS, MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, iter_raw

NEW_TYPES = {
    "ArrowScanExecNode", "UnnestExecNode", "ListUnnest", "UnnestOptions", "RecursionUnnestOption",
    "ColumnUnnestListItem", "ColumnUnnestListRecursion", "GenerateSeriesNode", "GenerateSeriesArgsContainsNull",
    "GenerateSeriesArgsInt64", "GenerateSeriesArgsTimestamp", "GenerateSeriesArgsDate", "ExplainExecNode",
    "StringifiedPlan", "PlanType", "AnalyzedLogicalPlanType", "OptimizedLogicalPlanType",
    "OptimizedPhysicalPlanType", "AnalyzeExecNode", "AnalyzeNode", "ParquetSinkExecNode", "CsvSinkExecNode",
    "JsonSinkExecNode", "ParquetSink", "CsvSink", "JsonSink", "FileSinkConfig", "CsvWriterOptions", "JsonWriterOptions",
    "DmlNode",
}  # fmt: skip
PARIS = "arrow_cast('2020-01-0{}T00:00:00', 'Timestamp(Nanosecond, Some(\"Europe/Paris\"))')"
PHYSICAL = {
    "arrow": "select a from ar where a > 1",
    "unnest": "select unnest(l), unnest(unnest(ll)), unnest(st) from p",
    "int64": "select * from generate_series(-3, 3, 2)",
    "timestamp": f"select * from generate_series({PARIS.format(1)}, {PARIS.format(2)}, interval '6 hours')",
    "date": "select * from range(date '2020-01-01', date '2020-03-01', interval '1 month')",
    "null": "select * from range(NULL, 3)",
    "explain": "explain verbose select a from p",
    "analyze": "explain analyze verbose select a from p",
    "copy_csv": "COPY (select a from p) TO '{tmp}/o.csv' OPTIONS ('format.delimiter' ';', 'format.null_value' 'N')",
    "copy_json": "COPY (select a from p) TO '{tmp}/o.json'",
    "copy_parquet": "COPY (select a from p) TO '{tmp}/o.parquet'",
    "insert": "INSERT INTO d SELECT * FROM p",
}
LOGICAL = {
    "unnest": "select unnest(l), unnest(unnest(ll)) from p", "analyze": "explain analyze verbose select a from p",
    "insert": "INSERT INTO d SELECT * FROM p",
}  # fmt: skip


@pytest.fixture(scope="module")
def blobs(tmp_path_factory) -> dict:
    tmp: Path = tmp_path_factory.mktemp("plan_nodes")
    table = pa.table({"a": [1, 2], "l": [[1, 2], None], "ll": [[[1], [2, 3]], []], "st": [{"x": 1}, None]})
    pq.write_table(table, tmp / "t.parquet")
    with ipc.new_file(tmp / "t.arrow", table.schema) as writer:
        writer.write_table(table)
    ctx = SessionContext(SessionConfig().with_target_partitions(2))
    ctx.register_parquet("p", str(tmp / "t.parquet"))
    ctx.register_arrow("ar", str(tmp / "t.arrow"))
    (tmp / "d").mkdir()
    pq.write_table(table, tmp / "d" / "part.parquet")
    ctx.register_parquet("d", f"{tmp}/d/")
    out = {
        f"physical.{k}": ("physical", ctx.sql(q.format(tmp=tmp)).execution_plan().to_bytes())
        for k, q in PHYSICAL.items()
    }
    out |= {f"logical.{k}": ("logical", ctx.sql(q).logical_plan().to_bytes()) for k, q in LOGICAL.items()}
    df = ctx.table("p").unnest_columns("l", "st", preserve_nulls=False)
    out["logical.unnest_columns"] = ("logical", df.logical_plan().to_bytes())
    out["physical.unnest_columns"] = ("physical", df.execution_plan().to_bytes())
    return {"blobs": out, "tmp": tmp}


def test_scan_reads_the_new_nodes_whole(blobs) -> None:
    seen = set()
    for name, (kind, blob) in blobs["blobs"].items():
        res = scan(blob, ROOTS[kind])
        assert res.unknown_count == 0, (name, res.unknown)
        assert not [o for o in res.opaque if o[0] in NEW_TYPES], (name, res.opaque)
        seen |= {m.type for m in walk(plan_root(blobs, name))} & NEW_TYPES
    assert seen == NEW_TYPES


def test_values_are_the_ones_the_query_asked_for(blobs) -> None:
    i64 = first(blobs, "physical.int64", "GenerateSeriesArgsInt64").to_dict()
    assert (i64["start"], i64["end"], i64["step"], i64["include_end"]) == (-3, 3, 2, True)
    assert ENUMS["GenerateSeriesName"][i64.get("name", 0)] == "GS_GENERATE_SERIES"
    ts = first(blobs, "physical.timestamp", "GenerateSeriesArgsTimestamp").to_dict()
    assert ts["tz"] == "Europe/Paris" and ts["step"].to_dict() == {"nanos": 6 * 3600 * 10**9}
    date = first(blobs, "physical.date", "GenerateSeriesArgsDate").to_dict()
    assert ENUMS["GenerateSeriesName"][date["name"]] == "GS_RANGE" and date["step"].to_dict() == {"months": 1}
    null = first(blobs, "physical.null", "GenerateSeriesArgsContainsNull").to_dict()
    assert ENUMS["GenerateSeriesName"][null["name"]] == "GS_RANGE"
    depths = sorted(m.to_dict().get("depth") for m in walk(plan_root(blobs, "physical.unnest")) if m.type == "ListUnnest")
    assert depths == [1, 2]
    items = [m for m in walk(plan_root(blobs, "logical.unnest")) if m.type == "ColumnUnnestListItem"]
    assert sorted(i.to_dict()["recursion"].to_dict()["depth"] for i in items) == [1, 2]
    assert first(blobs, "physical.unnest_columns", "UnnestOptions").to_dict().get("preserve_nulls") is None
    assert first(blobs, "physical.analyze", "AnalyzeExecNode").to_dict()["verbose"] is True
    assert first(blobs, "logical.analyze", "AnalyzeNode").to_dict()["verbose"] is True
    plans = [m.to_dict() for m in walk(plan_root(blobs, "physical.explain")) if m.type == "StringifiedPlan"]
    assert any(p["plan"].startswith("Projection: p.a") for p in plans) and len(plans) > 20
    csv = first(blobs, "physical.copy_csv", "CsvWriterOptions").to_dict()
    assert (csv["delimiter"], csv["null_value"]) == (";", "N")
    config = first(blobs, "physical.copy_json", "FileSinkConfig").to_dict()
    assert config["table_paths"] == [f"file://{blobs['tmp']}/o.json"] and config["file_extension"] == "json"
    insert = first(blobs, "physical.insert", "FileSinkConfig").to_dict()
    assert [f.to_dict()["path"] for f in insert["file_groups"]] == [f"{str(blobs['tmp']).lstrip('/')}/d/part.parquet"]
    dml = first(blobs, "logical.insert", "DmlNode").to_dict()
    assert ENUMS["DmlNode.Type"][dml["dml_type"]] == "INSERT_APPEND"


def _cases(blobs: dict) -> list[tuple[tuple[str, str], str, bytes]]:
    """((message, field), kind, blob with that field's wire type flipped) for the first occurrence of every
    field of the new types on the wire (packed repeated scalars left out: prost takes them either way)."""
    out, done = [], set()
    for name, (kind, blob) in blobs["blobs"].items():
        for m in walk(plan_root(blobs, name)):
            if m.type not in NEW_TYPES:
                continue
            table = MESSAGES[m.type]
            for number, wire, _a, _b, tag in iter_raw(m.buf, m.start, m.end):
                spec = table[number]
                key = (m.type, spec.name)
                if key in done or (spec.repeated and spec.kind != "message"):
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


def test_explain_texts_are_reported_as_clear_text(blobs) -> None:
    """An ExplainExec carries datafusion's plan texts (paths, literals, statistics): each distinct one is listed."""
    from datafusion_exprtool.inspection.pipeline import inspect_bytes

    _kind, blob = blobs["blobs"]["physical.explain"]
    texts = [s.text for s in inspect_bytes(blob).sensitive if s.kind == "explain-text"]
    plans = {m.to_dict().get("plan") for m in walk(plan_root(blobs, "physical.explain")) if m.type == "StringifiedPlan"}
    assert sorted(texts) == sorted(plans - {None, ""})
    assert any(str(blobs["tmp"]).lstrip("/") in t for t in texts)  # the scan's path travels in the text
