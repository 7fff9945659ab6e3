"""layers/proto/runs: scan's leaf-run fast path against the generic walk and datafusion 55: the fast path
must be indistinguishable, on whole blobs, cuts, corruptions and mutations."""

from __future__ import annotations

import pyarrow as pa
import pytest
from datafusion import Expr, SessionContext
from datafusion.plan import ExecutionPlan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.blobs import column, in_list_blob, ld, varint
from support.decoding import df_decodes

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto import runs
from datafusion_exprtool.layers.proto import scan as scan_module
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.scan import scan

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
