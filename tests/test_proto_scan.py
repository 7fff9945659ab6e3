"""proto.scan against datafusion 55 itself: what it decodes scans clean, what it refuses raises DecodeError,
and the nesting limit sits exactly where datafusion puts it."""

from __future__ import annotations

import datetime
import decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from blobtools import MySum, RowOnes, double_it_udf, ld, varint
from datafusion import Expr, SessionContext, col, lit, udaf, udwf
from datafusion import functions as F
from datafusion.expr import Window
from datafusion.plan import ExecutionPlan, LogicalPlan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.proto import runs
from datafusion_exprtool.proto import scan as scan_module
from datafusion_exprtool.proto.msg import Msg
from datafusion_exprtool.proto.scan import (
    DATAFUSION_DECODE_DEPTH_LIMIT,
    MAX_SENSITIVE,
    ROOT_MESSAGES,
    detect_message,
    scan,
)


# --- hand encoding (checked against datafusion's own bytes below) ------------------------------------
def absn(n: int, inner: bytes) -> bytes:
    """n nested abs() around a LogicalExprNode."""
    for _ in range(n):
        inner = ld(20, ld(1, b"abs") + ld(2, inner))
    return inner


def case_wrap(inner: bytes) -> bytes:
    """CASE WHEN true THEN <inner> END: three message levels instead of two."""
    return ld(10, ld(2, ld(1, ld(3, b"\x08\x01")) + ld(2, inner)))


def column(name: bytes, relation: bytes | None = None, extra: bytes = b"", rel_extra: bytes = b"") -> bytes:
    body = ld(1, name) + extra
    if relation is not None:
        body += ld(2, ld(1, relation) + rel_extra)
    return ld(1, body)


def in_list_blob(n: int) -> bytes:
    """col('a') IN (0, 1, …, n-1) the way datafusion encodes it (checked for small n)."""
    items = b"".join(ld(2, ld(3, b"\x38" + varint(i))) for i in range(n))
    return ld(14, ld(1, column(b"a")) + items)


def df_decodes(blob: bytes) -> tuple[bool, str]:
    try:
        Expr.from_bytes(blob)
    except Exception as err:  # datafusion raises RuntimeError
        return False, str(err)
    return True, ""


# --- corpus ----------------------------------------------------------------------------------------
DOUBLE = double_it_udf()
MY_SUM = udaf(MySum, [pa.int64()], pa.int64(), [pa.int64()], "immutable", "my_sum")
ONES = udwf(RowOnes, [pa.int64()], pa.int64(), "immutable", "ones")

EXPRS = {
    "column": col("a"),
    "qualified": col("t.a"),
    "alias_plus": (col("a") + lit(1)).alias("x"),
    "alias_metadata": col("a").alias("x", metadata={"k": "v"}),
    "literals": F.concat(lit("s"), lit(1.5), lit(True), lit(None), lit(b"\x00\x01")),
    "date_ts_dec": F.coalesce(
        lit(datetime.date(2024, 1, 2)),
        lit(datetime.datetime(2024, 1, 2, 3, 4, 5)),
        lit(decimal.Decimal("1.25")),
    ),
    "typed_null": lit(pa.scalar(None, pa.int32())),
    "list_literal": lit(pa.scalar([1, 2])),
    "struct_literal": lit(pa.scalar({"x": 1})),
    "chain": col("a") + lit(0) + lit(1) + lit(2),
    "nested_ops": (col("a") * (col("b") - lit(3))) / lit(2) > lit(1),
    "bool": (col("a").is_null() | ~col("b").is_not_null()) & (col("c") == lit(True)),
    "case": F.when(col("a") > lit(1), lit("big")).otherwise(lit("small")),
    "cast": col("a").cast(pa.float64()),
    "in_list": F.in_list(col("a"), [lit(1), lit(2)], negated=True),
    "between": col("a").between(lit(1), lit(5)),
    "regexp_like": F.regexp_like(col("s"), lit("x.*")),
    "try_cast": col("a").try_cast(pa.int32()),
    "negative": lit(0) - col("a"),
    "abs": F.abs(col("a")),
    "random": F.random(),
    "sum": F.sum(col("a")),
    "count_distinct_filter": F.count(col("a"), distinct=True, filter=col("b") > lit(0)),
    "array_agg_order": F.array_agg(col("a"), order_by=[col("b").sort(ascending=False)]),
    "row_number": F.row_number(partition_by=[col("s")], order_by=[col("a")]),
    "lag": F.lag(col("a"), 2, partition_by=[col("s")]),
    "sum_over": F.sum(col("a")).over(Window(partition_by=[col("s")], order_by=[col("a")])),
    "udf_inline": DOUBLE(col("a")) + lit(1),
    "udaf_inline": MY_SUM(col("a")),
    "udwf_inline": ONES(col("a")),
}


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
    assert "TableParquetOptions" in {t for t, _o, _s in logical.opaque}
    assert {(s.node, s.name, s.kind) for s in logical.functions} == {
        ("AggregateUDFExprNode", "sum", "aggregate"),
        ("WindowExprNode", "row_number", "window"),
    }
    physical = scan(plans["physical"], "PhysicalPlanNode", origin=9)
    paths = [s for s in physical.sensitive if s.kind == "path"]
    assert paths and all(s.text == path.lstrip("/") for s in paths)
    assert plans["physical"][paths[0].offset - 9 :].startswith(path.lstrip("/").encode())
    stats = {s.text for s in physical.sensitive if s.kind == "statistics"}
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


# --- fuzzing ---------------------------------------------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    for message in ROOT_MESSAGES:
        try:
            scan(data, message)
        except DecodeError:
            pass
    try:
        detect_message(data)
    except DecodeError:
        pass


SEEDS = [EXPRS[n].to_bytes() for n in ("alias_plus", "case", "sum_over", "in_list", "literals", "cast")]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS), st.integers(min_value=0), st.integers(min_value=0, max_value=255), st.booleans()
)
def test_mutations_agree_with_datafusion(seed: bytes, where: int, byte: int, insert: bool) -> None:
    """A one-byte change: scan refuses it (or flags the depth) exactly when prost refuses it."""
    i = where % len(seed)
    blob = seed[:i] + bytes([byte]) + seed[i + (0 if insert else 1) :]
    ok, text = df_decodes(blob)
    prost_refuses = "failed to decode Protobuf message" in text
    try:
        res = scan(blob, "LogicalExprNode")
    except DecodeError as err:
        assert prost_refuses or "Missing required field" in str(err), (blob.hex(), str(err))
        return
    assert prost_refuses == res.exceeds_limit, (blob.hex(), text)


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


# --- leaf runs: the fast path must be indistinguishable from the generic walk ----------------------
MIXED = [
    "1", "200", "-3", "70000", "'x'", "b", "abs(a)", "9223372036854775807", "-9223372036854775808",
    "1.5", "true", "5", "-1", "0", "16384", "'héllo'", "2.25", "false", "127", "128",
]  # fmt: skip


def sql_in_list(items: list[str], physical: bool = False) -> bytes:
    """``a IN (items…)`` as datafusion encodes it from SQL (an unoptimized projection, or a physical plan)."""
    ctx = SessionContext()
    batch = pa.record_batch({"a": pa.array([1], pa.int64()), "b": pa.array([2], pa.int64())})
    ctx.register_record_batches("t", [[batch]])
    if physical:
        return ctx.sql(f"select * from t where a in ({','.join(items)})").execution_plan().to_bytes()
    raw = ctx.sql(f"select a in ({','.join(items)}) from t").logical_plan().to_variant().projections()[0]
    return Expr(raw).to_bytes()


def outcome(blob: bytes, message: str = "LogicalExprNode", *, fast: bool, origin: int = 11) -> tuple:
    """Everything a scan reports (or its error), with the leaf-run fast path on or off."""
    saved = scan_module.FAST_RUNS
    scan_module.FAST_RUNS = fast
    try:
        res = scan(blob, message, origin)
    except DecodeError as err:
        return ("error", err.layer, err.offset, str(err))
    finally:
        scan_module.FAST_RUNS = saved
    sites = [
        (f.node, f.name, f.kind, f.fun_definition, f.payload_offset, f.msg.offset, f.udaf)
        for f in res.functions
    ]
    return (
        res.message, res.size, res.depth, res.exceeds_limit, res.node_count, res.root_arms,
        [(u.type, u.number, u.wire, u.offset, u.path) for u in res.unknown], res.unknown_count,
        res.opaque, res.opaque_count, sites, res.sensitive, res.codec_payloads, res.sensitive_dropped,
    )  # fmt: skip


def in_list_parts(blob: bytes) -> tuple[bytes, bytes]:
    """(the InListNode's expr field, its list entries) of a datafusion ``x IN (…)`` blob."""
    node = Msg("LogicalExprNode", blob, 0, len(blob)).to_dict()["in_list"]
    expr, *entries = node.fields()
    assert expr.name == "expr" and all(f.name == "list" for f in entries) and entries
    return blob[expr.offset : entries[0].offset], blob[entries[0].offset : node.end]


def in_list_of(expr_field: bytes, entries: bytes) -> bytes:
    return ld(14, expr_field + entries)


@pytest.fixture(scope="module")
def mixed_in_list() -> bytes:
    return sql_in_list(MIXED * 15 + [str(i) for i in range(-300, 300, 7)])


def test_mixed_leaf_runs_scan_like_the_generic_walk(mixed_in_list: bytes) -> None:
    blob = mixed_in_list
    assert df_decodes(blob)[0]
    fast = outcome(blob, fast=True)
    assert fast == outcome(blob, fast=False)
    assert fast[0] == "LogicalExprNode" and fast[6:8] == ([], 0)
    assert [s[1] for s in fast[10]] == ["abs"] * 15  # the nested function between runs is still a site
    # the run really is taken: from the first entry, the fast path covers the integer stretch
    _expr, entries = in_list_parts(blob)
    spec = scan_module._TAGS["InListNode"][0x12][4][2]
    pos, count = runs.leaf_run(entries, 0, len(entries), spec)
    assert (count, pos) == (
        4,
        sum(len(ld(2, ld(3, b"\x38" + varint(i & (2**64 - 1))))) for i in (1, 200, -3, 70000)),
    )
    tail = entries.rindex(ld(2, ld(3, b"\x38" + varint(2**64 - 300))))
    assert runs.leaf_run(entries, tail, len(entries), spec) == (
        len(entries),
        len(range(-300, 300, 7)),
    )


def test_physical_in_list_runs_scan_like_the_generic_walk() -> None:
    blob = sql_in_list([str(i) for i in range(-100, 400)] + ["1.5", "2.5"] * 50, physical=True)
    ExecutionPlan.from_bytes(SessionContext(), blob)
    fast = outcome(blob, "PhysicalPlanNode", fast=True)
    assert fast == outcome(blob, "PhysicalPlanNode", fast=False) and fast[0] == "PhysicalPlanNode"
    assert fast[4] > 1200  # 600 literal leaves, two nodes each


def test_hand_assembled_fixed_width_and_long_varint_runs() -> None:
    f32 = [ld(2, ld(3, b"\x65" + bytes([i, 0, 0, 0x3F]))) for i in range(40)]  # float32_value, i32
    f64 = [ld(2, ld(3, b"\x69" + bytes([i] * 8))) for i in range(40)]  # float64_value, i64
    long = [ld(2, ld(3, b"\x38" + b"\xff" * 9 + b"\x01"))] * 40  # -1: a 10-byte varint
    other = [ld(2, ld(3, b"\x08" + varint(i % 2))) for i in range(40)] + [
        ld(2, ld(3, b"\x20" + varint(i))) for i in range(40)
    ]
    blob = in_list_of(ld(1, column(b"a")), b"".join(f32 + f64 + long + other))
    assert df_decodes(blob)[0]
    fast = outcome(blob, fast=True)
    assert fast == outcome(blob, fast=False) and fast[4] == 2 * 200 + 4
    spec = scan_module._TAGS["InListNode"][0x12][4][2]
    entries = b"".join(f32 + f64 + long + other)
    assert runs.leaf_run(entries, 0, len(entries), spec) == (len(entries), 200)


@pytest.mark.parametrize(
    "overlong", [b"\xff" * 9 + b"\x02", b"\xff" * 9 + b"\x7f", b"\xff" * 10 + b"\x01", b"\x80" * 10 + b"\x00"]
)
def test_overlong_varint_in_a_run_is_refused_at_the_same_offset(overlong: bytes) -> None:
    entries = [ld(2, ld(3, b"\x38" + varint(i))) for i in range(50)]
    entries[30] = ld(2, ld(3, b"\x38" + overlong))
    blob = in_list_of(ld(1, column(b"a")), b"".join(entries))
    assert not df_decodes(blob)[0]
    fast = outcome(blob, fast=True)
    assert fast == outcome(blob, fast=False)
    assert fast[0] == "error" and "invalid varint" in fast[3]
    assert fast[2] == 11 + blob.index(b"\x38" + overlong[:2]) + 1


def test_depth_of_a_call_with_only_leaves() -> None:
    """Nothing but the run reaches the deepest level: root → call → argument → ScalarValue."""
    args = b"".join(ld(2, ld(3, b"\x38" + varint(i))) for i in range(0, 10**6, 997))
    blob = ld(20, ld(1, b"make_array") + args)
    assert df_decodes(blob)[0]
    fast = outcome(blob, fast=True)
    assert fast == outcome(blob, fast=False)
    assert (fast[2], fast[4], fast[10][0][1]) == (4, 2 + 2 * len(range(0, 10**6, 997)), "make_array")


def test_truncations_inside_a_run_fail_like_the_generic_walk(mixed_in_list: bytes) -> None:
    """The list cut at every byte of a stretch, outer lengths fixed up: same verdict, same error."""
    expr_field, entries = in_list_parts(mixed_in_list)
    seen = set()
    for cut in range(0, 400):
        blob = in_list_of(expr_field, entries[:cut])
        fast = outcome(blob, fast=True)
        assert fast == outcome(blob, fast=False), cut
        ok = df_decodes(blob)[0]
        assert ok == (fast[0] != "error"), (cut, fast)
        seen.add(ok)
    assert seen == {True, False}


def test_corruptions_inside_a_run_fail_like_the_generic_walk(mixed_in_list: bytes) -> None:
    blob = mixed_in_list
    start = blob.index(b"\x12\x04\x1a\x02\x38\x01")
    verdicts = set()
    for i in range(start, start + 160):
        for byte in {0x00, 0x01, 0x02, 0x0C, 0x12, 0x1A, 0x38, 0x69, 0x7F, 0x80, 0xFF, blob[i] ^ 1}:
            bad = blob[:i] + bytes([byte]) + blob[i + 1 :]
            fast = outcome(bad, fast=True)
            assert fast == outcome(bad, fast=False), (i, byte)
            verdicts.add(fast[0] == "error")
    assert verdicts == {True, False}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255), st.booleans())
def test_mutated_runs_agree_with_datafusion_and_the_generic_walk(where: int, byte: int, insert: bool) -> None:
    seed = RUN_SEED
    i = where % len(seed)
    blob = seed[:i] + bytes([byte]) + seed[i + (0 if insert else 1) :]
    fast = outcome(blob, fast=True)
    assert fast == outcome(blob, fast=False), (i, byte, insert)
    ok, text = df_decodes(blob)
    if fast[0] == "error":
        assert "failed to decode Protobuf message" in text or "Missing required field" in fast[3], blob.hex()
    else:
        assert ("failed to decode Protobuf message" in text) == fast[3], blob.hex()


RUN_SEED = (
    in_list_blob(12)[:-6]
    + ld(2, ld(3, b"\x38" + b"\xff" * 9 + b"\x01"))
    + ld(2, ld(3, b"\x69" + b"\x00" * 8))
)


def test_odd_leaves_are_not_retried_on_every_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leaves that pass the cheap byte check but not the run pattern (two arms set) fall back to the
    generic walk, and a failed try suspends tries for a stretch: a list of them costs few regex tries."""
    odd = ld(2, ld(3, b"\x38\x01\x38\x02"))
    ints = b"".join(ld(2, ld(3, b"\x38" + varint(i))) for i in range(3000))
    blob = in_list_of(ld(1, column(b"a")), odd * 2000 + ints + odd * 3 + ints)
    assert df_decodes(blob)[0]
    tries: list[int] = []
    real = runs.leaf_run

    def counting(buf: bytes, pos: int, end: int, spec: tuple) -> tuple[int, int]:
        found = real(buf, pos, end, spec)
        tries.append(found[1])
        return found

    monkeypatch.setattr(scan_module, "leaf_run", counting)  # where scan() looks it up
    fast = outcome(blob, fast=True)
    assert fast == outcome(blob, fast=False) and fast[4] == 2 * 8003 + 4
    misses = [c for c in tries if c == 0]
    assert 0 < len(misses) <= len(odd) * 2000 // runs.RUN_RETRY + 2
    assert sum(tries) >= 6000 - 2 * (runs.RUN_RETRY // 6 + 2)  # the int stretches still run fast


def test_the_fast_runs_switch_in_scan_is_the_one_scan_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run code lives in proto/runs.py; the switch stays in scan: off, no run is tried at all."""
    blob = in_list_of(ld(1, column(b"a")), b"".join(ld(2, ld(3, b"\x38" + varint(i))) for i in range(500)))
    tries: list[int] = []
    real = runs.leaf_run

    def counting(buf: bytes, pos: int, end: int, spec: tuple) -> tuple[int, int]:
        tries.append(pos)
        return real(buf, pos, end, spec)

    monkeypatch.setattr(scan_module, "leaf_run", counting)
    slow = outcome(blob, fast=False)
    assert tries == []
    assert outcome(blob, fast=True) == slow and len(tries) == 1
    assert scan_module.FAST_RUNS is True  # outcome() restored it


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
