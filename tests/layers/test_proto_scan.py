"""proto.scan against datafusion 55 itself: what it decodes scans clean, what it refuses raises DecodeError,
and the nesting limit sits exactly where datafusion puts it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import SessionContext, col, lit
from datafusion import functions as F
from datafusion.plan import ExecutionPlan, LogicalPlan
from support.blobs import absn, case_wrap, column, in_list_blob, ld, varint
from support.decoding import df_decodes
from support.exprs import EXPRS

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.inspection.pipeline import inspect_bytes
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.roots import ROOT_MESSAGES
from datafusion_exprtool.layers.proto.scan import (
    DATAFUSION_DECODE_DEPTH_LIMIT,
    detect_message,
    scan,
)
from datafusion_exprtool.layers.proto.scan_facts import MAX_SENSITIVE


@pytest.fixture(scope="module")
def expr_blobs() -> dict[str, bytes]:
    return {name: e.to_bytes() for name, e in EXPRS.items()}


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    path = tmp_path_factory.mktemp("scan") / "small.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3], "s": ["x", "y", "z"]}), path)
    ctx = SessionContext()
    df = ctx.read_parquet(str(path))
    df = df.filter(col("a") > lit(1)).sort(col("s")).aggregate([col("s")], [F.sum(col("a")).alias("total")])
    df = df.select(col("s"), col("total"), F.row_number(order_by=[col("total")]).alias("rn"))
    ctx.register_parquet("t", str(path))
    sql = ctx.sql(
        "SELECT s, a * 2 AS d FROM t WHERE s LIKE 'x%' OR s ILIKE 'Y%' OR a > (SELECT max(a) FROM t) LIMIT 5"
    )
    mem = ctx.from_pydict({"a": [1, 2, 3], "secret": ["p", "q", "r"]})
    return {
        "path": str(path),
        "logical": df.logical_plan().to_bytes(),
        "optimized": df.optimized_logical_plan().to_bytes(),
        "physical": df.execution_plan().to_bytes(),
        "sql": sql.logical_plan().to_bytes(),
        "sql_physical": sql.execution_plan().to_bytes(),
        "memory": mem.execution_plan().to_bytes(),
    }


# --- expressions -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPRS))
def test_datafusion_blobs_scan_clean_and_detect(expr_blobs: dict[str, bytes], name: str) -> None:
    blob = expr_blobs[name]
    assert df_decodes(blob)[0]
    res = scan(blob, "LogicalExprNode", origin=7)
    assert (res.unknown_count, res.unknown, res.opaque) == (0, [], [])
    assert not res.exceeds_limit and res.sensible
    assert res.node_count >= 2 and 2 <= res.depth < 40
    kind, detected = detect_message(blob)
    assert kind == "LogicalExprNode" and detected.depth == res.depth


def test_hand_encoder_matches_datafusion() -> None:
    e = col("t.a")
    for _ in range(3):
        e = F.abs(e)
    assert absn(3, column(b"a", b"t")) == e.to_bytes()
    assert in_list_blob(300) == F.in_list(col("a"), [lit(i) for i in range(300)]).to_bytes()
    case_e = F.when(lit(True), col("a")).end()
    assert case_wrap(column(b"a")) == case_e.to_bytes()


def test_function_sites(expr_blobs: dict[str, bytes]) -> None:
    blob = expr_blobs["udf_inline"]
    (site,) = scan(blob, "LogicalExprNode", origin=100).functions
    assert (site.node, site.name, site.kind, site.udaf) == ("ScalarUDFExprNode", "double_it", "scalar", False)
    assert site.fun_definition.startswith(b"DFPYUDF\x01")
    assert blob[site.payload_offset - 100 :].startswith(site.fun_definition)
    assert isinstance(site.msg, Msg) and site.msg.to_dict()["fun_name"] == "double_it"

    def one(name: str) -> tuple:
        (s,) = scan(expr_blobs[name], "LogicalExprNode").functions
        return s.node, s.name, s.kind, s.udaf, (s.fun_definition or b"")[:7]

    assert one("udaf_inline") == ("AggregateUDFExprNode", "my_sum", "aggregate", False, b"DFPYUDA")
    assert one("udwf_inline") == ("WindowExprNode", "ones", "window", False, b"DFPYUDW")
    assert one("sum_over") == ("WindowExprNode", "sum", "window", True, b"")
    assert one("row_number") == ("WindowExprNode", "row_number", "window", False, b"")
    assert one("sum") == ("AggregateUDFExprNode", "sum", "aggregate", False, b"")
    names = [s.name for s in scan(expr_blobs["date_ts_dec"], "LogicalExprNode").functions]
    assert names == ["coalesce"]
    nested = absn(3, column(b"a"))
    sites = scan(nested, "LogicalExprNode").functions
    assert [s.name for s in sites] == ["abs"] * 3 and [s.msg.offset for s in sites] == sorted(
        s.msg.offset for s in sites
    )


def test_empty_blob_is_missing_expr_type() -> None:
    ok, text = df_decodes(b"")
    assert not ok and "Missing required field expr_type" in text
    with pytest.raises(DecodeError, match="Missing required field expr_type") as info:
        scan(b"", "LogicalExprNode", origin=5)
    assert (info.value.layer, info.value.offset) == ("protobuf", 5)
    with pytest.raises(DecodeError, match="Missing required field expr_type"):
        detect_message(b"")


# --- refusals --------------------------------------------------------------------------------------
def test_every_truncation_is_refused_like_datafusion(expr_blobs: dict[str, bytes]) -> None:
    for name in ("alias_plus", "case", "sum_over", "cast", "udf_inline"):
        blob = expr_blobs[name]
        for cut in range(len(blob)):
            assert not df_decodes(blob[:cut])[0], (name, cut)
            with pytest.raises(DecodeError) as info:
                scan(blob[:cut], "LogicalExprNode", origin=3)
            assert info.value.layer == "protobuf" and 3 <= info.value.offset <= 3 + cut


def test_plan_truncations_are_refused(plans: dict[str, bytes]) -> None:
    ctx = SessionContext()
    for kind, message, decoder in (
        ("logical", "LogicalPlanNode", LogicalPlan),
        ("memory", "PhysicalPlanNode", ExecutionPlan),
    ):
        blob = plans[kind]
        for cut in range(0, len(blob), max(1, len(blob) // 60)):
            with pytest.raises(Exception):  # noqa: B017 - datafusion raises a bare Exception here
                decoder.from_bytes(ctx, blob[:cut])
            with pytest.raises(DecodeError):
                scan(blob[:cut], message)


def test_error_names_the_path() -> None:
    good = (col("a") + lit(1)).alias("x").to_bytes()
    # alias(12 1a) expr(0a 15) binary(22 13) operands[0](0a 05 …): claim 40 bytes for operands[0]
    assert good[6:8] == b"\x0a\x05"
    bad = good[:7] + b"\x28" + good[8:]
    assert not df_decodes(bad)[0]
    with pytest.raises(DecodeError) as info:
        scan(bad, "LogicalExprNode")
    assert (
        "LogicalExprNode.alias → AliasNode.expr → LogicalExprNode.binary_expr → BinaryExprNode.operands"
        in str(info.value)
    )
    assert "length 40 runs past the end" in str(info.value) and info.value.offset == 6


@pytest.mark.parametrize(
    ("blob", "words"),
    [
        (column(b"\xff"), "not UTF-8"),
        (ld(1, b"\x08\x01"), "invalid wire type"),  # Column.name (a string) sent as a varint
        (column(b"a", extra=b"\x28" + b"\xff" * 9 + b"\x02"), "invalid varint"),
        (column(b"a", extra=b"\x00\x01"), "invalid tag value: 0"),
        (column(b"a", extra=b"\x2e\x01"), "invalid wire type value: 6"),
        (column(b"a", extra=b"\x2c"), "unexpected end group tag"),
        (column(b"a", extra=b"\x2b\x08\x01"), "group"),
        (ld(14, ld(1, column(b"a")) + b"\x18"), "truncated varint"),
    ],
)
def test_refused_wire_format(blob: bytes, words: str) -> None:
    ok, text = df_decodes(blob)
    assert not ok and "failed to decode Protobuf message" in text
    with pytest.raises(DecodeError, match=words):
        scan(blob, "LogicalExprNode")


def test_unknown_fields_are_kept_like_datafusion_skips_them() -> None:
    blob = column(
        b"a", extra=b"\xa8\x06\x07" + ld(51, b"zz") + b"\x2b\x08\x01\x2c"
    )  # 101: varint; 51: len; 5: group
    assert df_decodes(blob)[0]
    res = scan(blob, "LogicalExprNode", origin=10)
    assert [(u.type, u.number, u.wire) for u in res.unknown] == [
        ("Column", 101, 0),
        ("Column", 51, 2),
        ("Column", 5, 3),
    ]
    assert res.unknown[0].offset == 10 + 5 and res.unknown[0].path.startswith(
        "LogicalExprNode.column → Column"
    )
    assert Msg("LogicalExprNode", blob, 0, len(blob)).to_dict()["column"].to_dict()["name"] == "a"


@pytest.mark.parametrize("wire", range(8))
def test_a_map_field_is_length_delimited_whatever_its_wire_type(wire: int) -> None:
    """prost reads a map entry's length without checking the wire type (0-5 all pass); scan agrees."""
    entry = ld(1, b"k") + ld(2, b"v")

    def alias_with_metadata(key: int) -> bytes:
        return ld(2, ld(1, column(b"a")) + ld(2, b"x") + varint(key) + varint(len(entry)) + entry)

    blob = alias_with_metadata(4 << 3 | wire)
    ok, text = df_decodes(blob)
    assert ok == (wire <= 5), text
    if ok:
        res, proper = scan(blob, "LogicalExprNode"), scan(alias_with_metadata(4 << 3 | 2), "LogicalExprNode")
        assert (res.unknown_count, res.depth, res.node_count) == (0, proper.depth, proper.node_count)
    else:
        assert "failed to decode Protobuf message" in text
        with pytest.raises(DecodeError, match="invalid wire type value"):
            scan(blob, "LogicalExprNode")


# --- nesting limit ---------------------------------------------------------------------------------
DEPTH_CASES = {
    "49 abs(t.a)": absn(49, column(b"a", b"t")),
    "49 abs(NULL)": absn(49, ld(3, ld(33, ld(1, b"")))),
    "50 abs(a)": absn(50, column(b"a")),
    "48 abs(case placeholder)": absn(48, case_wrap(ld(34, ld(1, b"$1")))),
    "48 abs(case placeholder+metadata)": absn(
        48, case_wrap(ld(34, ld(1, b"$1") + ld(4, ld(1, b"k") + ld(2, b"v"))))
    ),
    "unknown field at depth 100": absn(49, column(b"a", b"t", extra=b"\x28\x01")),
    "unknown field at depth 101": absn(49, column(b"a", b"t", rel_extra=b"\x28\x01")),
    "empty group at depth 100": absn(49, column(b"a", extra=b"\x2b\x2c")),
    "full group at depth 100": absn(49, column(b"a", extra=b"\x2b\x08\x01\x2c")),
    "nested group at depth 99": absn(47, case_wrap(column(b"a", extra=b"\x2b\x33\x34\x2c"))),
    "nested group at depth 100": absn(49, column(b"a", extra=b"\x2b\x33\x34\x2c")),
}


@pytest.mark.parametrize("name", sorted(DEPTH_CASES))
def test_depth_limit_matches_datafusion(name: str) -> None:
    blob = DEPTH_CASES[name]
    ok, text = df_decodes(blob)
    res = scan(blob, "LogicalExprNode")
    assert res.exceeds_limit == (not ok), (name, res.depth, text[-120:])
    assert res.exceeds_limit == (res.depth > DATAFUSION_DECODE_DEPTH_LIMIT)
    assert res.depth in (
        DATAFUSION_DECODE_DEPTH_LIMIT,
        DATAFUSION_DECODE_DEPTH_LIMIT + 1,
        DATAFUSION_DECODE_DEPTH_LIMIT - 1,
    )
    if not ok:
        assert "recursion limit reached" in text


def test_depth_of_real_nested_functions() -> None:
    for n in (49, 50):
        e = col("a")
        for _ in range(n):
            e = F.abs(e)
        res = scan(e.to_bytes(), "LogicalExprNode")
        assert res.depth == 2 * n + 2
        assert res.exceeds_limit == (not df_decodes(e.to_bytes())[0]) == (n == 50)


def test_logical_plan_depth_limit_matches_datafusion(tmp_path) -> None:
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "f.parquet")
    ctx = SessionContext()
    df = ctx.read_parquet(str(tmp_path / "f.parquet"))
    seen = set()
    for n in range(36, 52):
        plan = df
        for i in range(n):
            plan = plan.filter(col("a") > lit(i))
        blob = plan.logical_plan().to_bytes()
        try:
            LogicalPlan.from_bytes(ctx, blob)
            ok = True
        except Exception as err:
            ok = False
            assert "recursion limit reached" in str(err)
        res = scan(blob, "LogicalPlanNode")
        assert res.exceeds_limit == (not ok), (n, res.depth)
        seen.add(ok)
    assert seen == {True, False}


def test_ten_thousand_levels_are_scanned_iteratively() -> None:
    blob = absn(10_000, column(b"a"))
    res = scan(blob, "LogicalExprNode")
    assert res.depth == 20_002 and res.exceeds_limit and len(res.functions) == 10_000
    with pytest.raises(DecodeError, match="levels") as info:  # the path is abbreviated
        scan(blob[:-1] + b"\xff", "LogicalExprNode")  # the innermost column name is not UTF-8
    assert len(str(info.value)) < 600 and info.value.offset == len(blob) - 1
    assert detect_message(blob)[0] == "LogicalExprNode"


def test_large_in_list() -> None:
    n = 100_000
    blob = in_list_blob(n)
    res = scan(blob, "LogicalExprNode")
    assert (res.node_count, res.depth, res.unknown_count) == (2 * n + 4, 4, 0)
    assert detect_message(blob)[0] == "LogicalExprNode"


# --- plans and detection ---------------------------------------------------------------------------
def test_plans_decode_in_datafusion_and_are_detected(plans: dict[str, bytes]) -> None:
    ctx = SessionContext()
    for kind, expected in (
        ("logical", "LogicalPlanNode"),
        ("optimized", "LogicalPlanNode"),
        ("physical", "PhysicalPlanNode"),
        ("memory", "PhysicalPlanNode"),
        ("sql", "LogicalPlanNode"),
        ("sql_physical", "PhysicalPlanNode"),
    ):
        blob = plans[kind]
        (LogicalPlan if expected == "LogicalPlanNode" else ExecutionPlan).from_bytes(ctx, blob)
        found, res = detect_message(blob, origin=4)
        assert found == expected, kind
        assert res.sensible and not res.exceeds_limit
        if expected == "LogicalPlanNode":
            assert res.unknown == []
        else:  # fact sheet §5.6: AggregateExecNode 14 is newer than the tables
            assert {(u.type, u.number) for u in res.unknown} <= {("AggregateExecNode", 14)}
        for other in ROOT_MESSAGES:
            if other != expected:
                try:
                    wrong = scan(blob, other)
                except DecodeError:
                    continue
                assert not wrong.sensible or wrong.unknown_count > res.unknown_count


def test_plan_sites_and_clear_text(plans: dict[str, bytes]) -> None:
    path = plans["path"]
    logical = scan(plans["logical"], "LogicalPlanNode")
    assert [s.text for s in logical.sensitive if s.kind == "path"] == ["file://" + path]
    assert any(s.kind == "environment" and s.text.startswith("datafusion version") for s in logical.sensitive)
    assert not logical.opaque and not logical.unknown  # the parquet options are read, not kept opaque
    assert {(s.node, s.name, s.kind) for s in logical.functions} == {
        ("AggregateUDFExprNode", "sum", "aggregate"),
        ("WindowExprNode", "row_number", "window"),
    }
    physical = scan(plans["physical"], "PhysicalPlanNode", origin=9)
    paths = [s for s in physical.sensitive if s.kind == "path"]
    assert paths and all(s.text == path.lstrip("/") for s in paths)
    assert plans["physical"][paths[0].offset - 9 :].startswith(path.lstrip("/").encode())
    assert {s.label for s in physical.statistics} == {"min_value", "max_value"}  # rendered by inspection
    inspected = inspect_bytes(plans["physical"], message="physical")
    stats = {s.text for s in inspected.sensitive if s.kind == "statistics"}
    assert {'column min_value = Utf8View("x")', 'column max_value = Utf8View("z")'} <= stats
    assert {s.node for s in physical.functions} == {"PhysicalAggregateExprNode", "PhysicalWindowExprNode"}
    memory = scan(plans["memory"], "PhysicalPlanNode")
    (rows,) = [s for s in memory.sensitive if s.kind == "table-rows"]
    assert b"secret" in plans["memory"][rows.offset :]


def test_sensitive_list_is_capped() -> None:
    paths = b"".join(ld(2, b"file:///data/p%d.parquet" % i) for i in range(MAX_SENSITIVE + 50))
    blob = ld(1, paths)  # LogicalPlanNode.listing_scan{paths…}
    res = scan(blob, "LogicalPlanNode")
    assert len(res.sensitive) == MAX_SENSITIVE and res.sensitive_dropped == 50


def test_detection_ranking_and_tie_break() -> None:
    # valid as all three (an empty first arm each): the documented order decides
    assert detect_message(b"\x0a\x00")[0] == "LogicalExprNode"
    # two root arms: not sensible as an Expr; a PhysicalPlanNode parse with one arm wins
    two_arms = column(b"a") + ld(3, b"\x38\x01")
    res = scan(two_arms, "LogicalExprNode")
    assert res.root_arms == ["column", "literal"] and not res.sensible
    # a physical-only arm (csv_scan=2 holds FileScanExecConf): unknown fields elsewhere lose
    phys = ld(2, ld(1, ld(8, b"file:///")))
    kind, best = detect_message(phys)
    assert kind == "PhysicalPlanNode" and best.unknown_count == 0


def test_detection_prefers_a_reading_without_opaque_nodes_or_unwritten_arms() -> None:
    """QA: DataFrame.read_empty's physical plan (PlaceholderRowExec) read as LogicalPlanNode (a drop_view
    whose DropViewNode the tables do not expand: opaque, so anything reads) and the logical EmptyRelation
    (bytes 52 00) as the expression CASE END (a CASE without WHEN: datafusion cannot build one)."""
    ctx = SessionContext()
    physical = ctx.read_empty().execution_plan().to_bytes()
    ExecutionPlan.from_bytes(SessionContext(), physical)
    kind, res = detect_message(physical)
    assert kind == "PhysicalPlanNode" and res.opaque_count == 0
    logical = ctx.sql("SELECT 1 WHERE false").optimized_logical_plan()
    blob = logical.to_bytes()
    assert LogicalPlan.from_bytes(SessionContext(), blob).display_indent() == logical.display_indent()
    assert detect_message(blob)[0] == "LogicalPlanNode"
    assert inspect_bytes(blob).message == "LogicalPlanNode"
    with pytest.raises(Exception, match="CASE"):  # datafusion refuses to build the other reading
        F.case(col("a")).end()
