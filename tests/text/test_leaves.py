"""text/leaves: the fast path for literal/column list entries must render exactly what datafusion prints,
and what the generic walk renders on cut or corrupted bytes.
"""

from __future__ import annotations

import pyarrow as pa
from datafusion import col, lit
from datafusion import functions as F
from datafusion.expr import Expr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.text import S, dt, rendered, root

from datafusion_exprtool.layers.proto.msg import Msg

# --------------------------------------------------------------------------- fast path for list leaves
# expr_list reads one-literal/one-column entries straight from the bytes (text/leaves.py). Ground truth
# stays datafusion; for malformed bytes the reference is the plain generic walk the fast path replaced.

_INT_TYPES = [
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.uint8(),
    pa.uint16(),
    pa.uint32(),
    pa.uint64(),
]


def _int_scalar(t: pa.DataType, draw_int: int) -> pa.Scalar:
    bits, signed = t.bit_width, pa.types.is_signed_integer(t)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return S(lo + draw_int % (hi - lo + 1), t)


_leaf_values = st.one_of(
    st.integers(0, 300),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(2**13, 2**22),
    st.builds(_int_scalar, st.sampled_from(_INT_TYPES), st.integers(0, 2**64)),
    st.floats(width=64),
    st.floats(width=32).map(lambda x: S(x, pa.float32())),
    st.text(max_size=6),
    st.text(min_size=125, max_size=140),  # a two-byte length: the generic path takes it
    st.booleans(),
    st.none(),
    st.sampled_from([S(None, pa.int32()), S(None, pa.utf8()), S(None, pa.date32()), S("v", pa.large_utf8())]),
    st.sampled_from([b"\x00\xff", dt.date(2024, 1, 2)]),
)
_list_items = st.lists(
    st.one_of(
        _leaf_values.map(lit),
        st.sampled_from(
            [col("a"), col("t.b"), col("ü"), col("a") + lit(1), F.abs(col("c")), lit(1) * col("a")]
        ),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_list_items, st.booleans())
def test_mixed_lists_match_datafusion(items: list[Expr], negated: bool) -> None:
    """IN lists, function arguments and flattened operands of mixed leaves and non-leaves."""
    exprs = [F.in_list(col("x"), items, negated=negated)]
    if items:
        exprs.append(F.coalesce(*items))
        chain = items[0]
        for item in items[1:]:
            chain = chain + item
        exprs.append(chain)
    for e in exprs:
        assert rendered(e) == e.canonical_name()


def test_long_list_crosses_batches_and_run_sizes() -> None:
    """Runs of 1..10-byte varints, negatives, other int types and non-leaves, past the 10k batch size."""
    values: list[Expr] = [lit(i) for i in range(0, 40_000, 3)]
    values += [lit(-i) for i in range(50)] + [lit(2**62 + i) for i in range(20)]
    values += [lit(S(i, pa.uint8())) for i in range(200)] + [lit(S(-i, pa.int32())) for i in range(30)]
    values[5_000:5_000] = [col("a"), col("t.b"), lit("s"), col("a") + lit(2), lit(None)]
    values += [
        lit(v) for v in [-1, -2, 2**60, 2**60 + 1, 2**60 + 2, -3, 7, 8, 300, 301, -(2**63)] * 20
    ]  # short runs
    e = F.in_list(col("a"), values)
    assert rendered(e) == e.canonical_name()


def test_leaf_shapes_take_the_fast_path() -> None:
    """The common leaves are recognised from bytes (else the tests above would prove nothing)."""
    from datafusion_exprtool.text.leaves import int_run, leaf_text

    for e in [lit(7), lit(-(2**63)), lit(S(3, pa.int8())), lit(S(2**64 - 1, pa.uint64())), lit(1.5), lit(1e300),
              lit(S(0.1, pa.float32())), lit("ü\"x"), lit(S("v", pa.utf8())), lit(True), lit(None),
              lit(S(None, pa.int64())), lit(b"ab"), lit(dt.date(2024, 1, 2)), col("a"), col("t.b")]:  # fmt: skip
        b = e.to_bytes()
        assert leaf_text(b, 0, len(b)) == e.canonical_name()
    for e in [col("a") + lit(1), lit(S([1], pa.list_(pa.int64()))), lit(S(None, pa.timestamp("s")))]:
        b = e.to_bytes()
        assert leaf_text(b, 0, len(b)) is None
    body = root(F.in_list(col("a"), [lit(i) for i in range(200, 300)]).to_bytes()).to_dict()["in_list"]
    start = body.start + 2 + body.to_dict()["expr"].end - body.to_dict()["expr"].start
    text, stop, count = int_run(body.buf, start, body.end, ", ", 10_000)  # type: ignore[misc]
    assert count == 100 and stop == body.end
    assert text == ", ".join(f"Int64({i})" for i in range(200, 300))


def _list_both_ways(m: Msg, number: int) -> tuple[str, str]:
    from datafusion_exprtool.text.canonical import expr_gen, expr_list
    from datafusion_exprtool.text.engine import children, drive, separated

    fast = "".join(drive(expr_list(m, number)))
    generic = "".join(drive(separated(children(m, number, "LogicalExprNode"), expr_gen)))
    return fast, generic


_MIXED = [lit(i) for i in range(120, 140)] + [lit("ab"), col("t.b"), col("a") + lit(1), lit(None), lit(2.5)]
_MIXED_BODY = (
    root(F.in_list(col("a"), _MIXED + [lit(i) for i in range(5)]).to_bytes()).to_dict()["in_list"].raw()
)


def test_truncated_lists_match_generic_walk() -> None:
    """Cut anywhere: same text, same placeholder, as reading every entry the slow way."""
    for cut in range(len(_MIXED_BODY) + 1):
        body = _MIXED_BODY[:cut]
        fast, generic = _list_both_ways(Msg("InListNode", body, 0, cut), 2)
        assert fast == generic, cut


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_MIXED_BODY) - 1), st.integers(0, 255)), min_size=1, max_size=3))
def test_corrupted_lists_match_generic_walk(flips: list[tuple[int, int]]) -> None:
    body = bytearray(_MIXED_BODY)
    for i, v in flips:
        body[i] = v
    fast, generic = _list_both_ways(Msg("InListNode", bytes(body), 0, len(body)), 2)
    assert fast == generic
