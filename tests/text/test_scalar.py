"""text/scalar (and text/nested): literals and data types rendered from the proto tree must equal
datafusion's own text: scalar values of every kind (nested ones via pyarrow, typed nested NULLs no Python
API builds, float text in Rust's shortest form) and CAST data types.
"""

from __future__ import annotations

import sys

import pyarrow as pa
import pytest
from datafusion import col, lit
from datafusion import functions as F
from datafusion.expr import Expr
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support.text import D, S, dt, rendered, root, varint_by_hand

from datafusion_exprtool.text.canonical import render_expr
from datafusion_exprtool.text.scalar import datatype_display, scalar_debug

# --------------------------------------------------------------------------- literals

LITERALS = [
    1, -7, 0, 2**63 - 1, -(2**63), 1.0, 1e20, 1e-7, float("nan"), float("inf"), float("-inf"), -0.0, 1.5, 0.1,
    1 / 3, 123456789.125, 5e-324, 1.7976931348623157e308, "x", 'a"b', "tab\there\nnl", "üñí©ødé", "", True, False,
    None, b"\x00\x01", b"", dt.date(2024, 1, 2), dt.date(1, 1, 1), dt.datetime(2024, 1, 2, 3, 4, 5), D("123.45"),
    D("-0.001"),
    S(1, pa.int8()), S(-2, pa.int16()), S(3, pa.int32()), S(4, pa.uint8()), S(5, pa.uint16()), S(6, pa.uint32()),
    S(2**64 - 1, pa.uint64()), S(1.5, pa.float32()), S(0.1, pa.float32()), S(1e10, pa.float32()),
    S(3.4e38, pa.float32()), S(1e-10, pa.float32()), S(float("nan"), pa.float32()),
    S(None, pa.int32()), S(None, pa.utf8()), S("L", pa.large_utf8()), S(None, pa.large_utf8()),
    S(b"ab", pa.binary(2)), S(b"ab", pa.large_binary()), S(b"ab", pa.binary_view()), S(None, pa.binary(3)),
    S(dt.date(2024, 1, 2), pa.date64()), S(None, pa.date32()), S(None, pa.date64()),
    S(None, pa.timestamp("ns", "UTC")), S(None, pa.timestamp("s")), S(None, pa.time32("s")), S(None, pa.time64("ns")),
    S(None, pa.duration("ns")), S(None, pa.month_day_nano_interval()), S(None, pa.decimal256(40, 3)),
    S(None, pa.float64()), S(None, pa.bool_()), S(None, pa.large_binary()), S(None, pa.string_view()),
    S(None, pa.binary_view()), S(None, pa.uint64()), S(None, pa.float32()), S(None, pa.binary()),
    S(17e17, pa.timestamp("ns", "UTC")), S(1, pa.timestamp("s")), S(1, pa.timestamp("ms", "+01:00")),
    S(-5, pa.timestamp("us", "America/New_York")), S(3600, pa.time32("s")), S(1, pa.time32("ms")),
    S(3600000000, pa.time64("us")), S(5, pa.time64("ns")), S(5, pa.duration("ms")), S(-5, pa.duration("s")),
    S(5, pa.duration("us")), S(5, pa.duration("ns")),
    S(D("-1.23"), pa.decimal128(5, 2)), S(None, pa.decimal128(5, 2)), S(D("-1.23"), pa.decimal256(40, 2)),
    S(D("1.23"), pa.decimal32(5, 2)), S(D("1.23"), pa.decimal64(12, 2)), S(D("0.00"), pa.decimal128(5, 2)),
    S(D("-0.05"), pa.decimal128(5, 2)), S(D("12"), pa.decimal128(5, 0)), S(D("1.2E+3"), pa.decimal128(5, -2)),
    S(D("99999999999999999999999999999999999999"), pa.decimal128(38, 0)),
    S(D("-1" + "0" * 60), pa.decimal256(76, 0)), S(None, pa.decimal32(3, 1)),
    S((1, 2, 3), pa.month_day_nano_interval()), S((-1, 0, -7), pa.month_day_nano_interval()),
    S([1, 2], pa.list_(pa.int64())), S([1, None], pa.large_list(pa.int64())), S({"x": 1}, pa.struct([("x", pa.int64())])),
    S([("k", "1")], pa.map_(pa.utf8(), pa.utf8())), S([1, 2], pa.list_(pa.int32(), 2)),
    S(["a", 'b"'], pa.list_(pa.utf8())), S([1.0, None, 2.5], pa.list_(pa.float64())), S([], pa.list_(pa.int64())),
    S([[1, 2], [3]], pa.list_(pa.list_(pa.int64()))),
    S([{"x": 1, "y": "a"}], pa.list_(pa.struct([("x", pa.int64()), ("y", pa.utf8())]))),
    S({"x": 1, "y": "a b", "z": None}, pa.struct([("x", pa.int64()), ("y", pa.utf8()), ("z", pa.float64())])),
    S({"x": {"y": [1, 2]}}, pa.struct([("x", pa.struct([("y", pa.list_(pa.int64()))]))])),
    S(None, pa.struct([("x", pa.int64())])),
    S(
        {"d": dt.date(2024, 1, 2), "b": b"ab", "f": 1.0, "dec": D("1.5"), "bo": True, "t": dt.datetime(2024, 1, 2, 3, 4, 5)},
        pa.struct([("d", pa.date32()), ("b", pa.binary()), ("f", pa.float64()), ("dec", pa.decimal128(5, 2)),
                   ("bo", pa.bool_()), ("t", pa.timestamp("us"))]),
    ),
    S([("k", 1), ("j", None)], pa.map_(pa.utf8(), pa.int64())), S([(1, 'a"\n')], pa.map_(pa.int64(), pa.utf8())),
    S([], pa.map_(pa.utf8(), pa.int64())), S([dt.date(2024, 1, 2)], pa.list_(pa.date32())),
    S([b"ab"], pa.list_(pa.binary())), S([True, False, None], pa.list_(pa.bool_())),
    S([dt.datetime(2024, 1, 2, 3, 4, 5)], pa.list_(pa.timestamp("us"))),
    S([dt.datetime(2024, 1, 2, 3, 4, 5)], pa.list_(pa.timestamp("ns", "UTC"))),
    S([D("1.50"), D("-0.05")], pa.list_(pa.decimal128(5, 2))),
    S([1.0, 1e20, 1e-7, 1e15, 1e16, 0.00001, 1.5e-5, float("nan"), -0.0, 5e-324, 1.2345678901234567e19],
      pa.list_(pa.float64())),
    S([1.5, 1e15, 123456789.0, 0.1, 1e-6, 1e-5, 16777216.0, 3.4e38], pa.list_(pa.float32())),
    S([{"k": 1}], pa.list_(pa.map_(pa.utf8(), pa.int64()))),
    S([dt.timedelta(seconds=5), dt.timedelta(0), dt.timedelta(days=1, microseconds=5), -dt.timedelta(seconds=1)],
      pa.list_(pa.duration("us"))),
    S([dt.time(1, 2, 3)], pa.list_(pa.time64("us"))), S([dt.time(1, 2, 3, 4000)], pa.list_(pa.time32("ms"))),
    S({"s": {"t": 1}}, pa.struct([("s", pa.struct([("t", pa.int64())]))])),
    S({"l": [1, None]}, pa.struct([("l", pa.list_(pa.int64()))])),
    S({"m": [("a", 1)]}, pa.struct([("m", pa.map_(pa.utf8(), pa.int64()))])),
    S([("k", [1, 2])], pa.map_(pa.utf8(), pa.list_(pa.int64()))),
    S([None], pa.list_(pa.utf8())), S([""], pa.list_(pa.utf8())), S([1, 2], pa.large_list(pa.int8())),
    S([None, None], pa.list_(pa.int32(), 2)),
    S([dt.datetime(2024, 1, 2, 3, 4, 5, 120000), dt.datetime(2024, 1, 2, 3, 4, 5, 123456)],
      pa.list_(pa.timestamp("ns", "+01:00"))),
    S([dt.datetime(2024, 1, 2, 3, 4, 5, 120000)], pa.list_(pa.timestamp("ms", "America/New_York"))),
    S([(1, 2, 3), (0, 0, 0), (-1, 0, 1000000000), (0, 0, 3723000000001)], pa.list_(pa.month_day_nano_interval())),
    S([dt.datetime(2024, 1, 2)], pa.list_(pa.date64())), S([b"ab"], pa.list_(pa.binary(2))),
    S(["x"], pa.list_(pa.string_view())), S([1], pa.list_(pa.field("x", pa.int64(), nullable=False))),
    S([1, 2], pa.list_(pa.uint8())), S([[1], [], [None, 2]], pa.large_list(pa.list_(pa.int16()))),
]  # fmt: skip


def _dict_scalar() -> pa.Scalar:
    return pa.DictionaryArray.from_arrays(pa.array([0], pa.int32()), pa.array(["k"]))[0]


LITERALS.append(_dict_scalar())
LITERALS.append(pa.DictionaryArray.from_arrays(pa.array([0], pa.int8()), pa.array([7], pa.int64()))[0])


def _id(v: object) -> str:
    try:
        text = repr(v)
    except ValueError:
        text = f"value={getattr(v, 'value', '?')}"
    return f"{getattr(v, 'type', type(v).__name__)}:{text}"[:60]


@pytest.mark.parametrize("value", LITERALS, ids=_id)
def test_literal_matches_datafusion(value: object) -> None:
    e = lit(value)
    assert rendered(e) == e.canonical_name()


def test_scalar_debug_direct() -> None:
    b = lit(S(1700000000000000000, pa.timestamp("ns", "UTC"))).to_bytes()
    lit_msg = root(b).to_dict()["literal"]
    assert scalar_debug(lit_msg) == 'TimestampNanosecond(1700000000000000000, Some("UTC"))'


# --------------------------------------------------------------------------- data types (CAST)

TYPES = [
    pa.int64(), pa.int8(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64(), pa.int16(), pa.int32(), pa.utf8(),
    pa.string_view(), pa.large_string(), pa.binary(), pa.large_binary(), pa.binary_view(), pa.bool_(), pa.float16(),
    pa.float32(), pa.float64(), pa.date32(), pa.date64(), pa.null(), pa.timestamp("us", "UTC"), pa.timestamp("s"),
    pa.timestamp("ns", "+01:00"), pa.timestamp("ms"), pa.time32("ms"), pa.time32("s"), pa.time64("ns"),
    pa.time64("us"), pa.duration("us"), pa.duration("s"), pa.duration("ms"), pa.duration("ns"),
    pa.decimal128(10, 3), pa.decimal256(50, -2), pa.decimal32(5, 1), pa.decimal64(12, 3), pa.binary(3),
    pa.list_(pa.int64()), pa.large_list(pa.utf8()), pa.list_(pa.int32(), 3),
    pa.struct([("x", pa.int64()), ("y", pa.utf8())]), pa.map_(pa.utf8(), pa.int64()),
    pa.map_(pa.utf8(), pa.int64(), keys_sorted=True), pa.dictionary(pa.int16(), pa.utf8()),
    pa.month_day_nano_interval(), pa.list_(pa.field("x", pa.int64(), nullable=False)),
    pa.list_(pa.field("item", pa.int64(), nullable=False)), pa.list_(pa.field("x", pa.int64())),
    pa.struct([pa.field("x", pa.int64(), False)]), pa.struct([]), pa.list_(pa.list_(pa.int8())),
    pa.struct([pa.field('a "b"', pa.int64())]), pa.list_(pa.field("x", pa.int64(), metadata={"k": "v", "a": "b"})),
    pa.list_(pa.field("x", pa.int64()), 4), pa.large_list(pa.field("v", pa.utf8(), nullable=False)),
    pa.struct([("s", pa.struct([("t", pa.list_(pa.float32()))]))]), pa.dictionary(pa.int8(), pa.large_utf8()),
    pa.map_(pa.int32(), pa.list_(pa.utf8())),
]  # fmt: skip


@pytest.mark.parametrize("t", TYPES, ids=str)
def test_cast_and_datatype_display(t: pa.DataType) -> None:
    for e in (
        col("a").cast(t),
        Expr(col("a").expr.try_cast(t)) if hasattr(col("a").expr, "try_cast") else None,
    ):
        if e is None:
            continue
        assert rendered(e) == e.canonical_name()
    cast_node = root(col("a").cast(t).to_bytes()).to_dict()["cast"]
    assert f"AS {datatype_display(cast_node.to_dict()['arrow_type'])})" in col("a").cast(t).canonical_name()


# --------------------------------------------------------------------------- typed nested NULLs (no Python API builds them)


def _ld(tag: bytes, body: bytes) -> bytes:
    return tag + varint_by_hand(len(body)) + body


def _field(name: bytes, typ: bytes, nullable: bool) -> bytes:
    return _ld(b"\x0a", name) + _ld(b"\x12", typ) + (b"\x18\x01" if nullable else b"")


_I64, _UTF8 = _ld(b"\x52", b""), _ld(b"\x72", b"")


def _struct_type(*fields: bytes) -> bytes:
    return _ld(b"\xe2\x01", b"".join(_ld(b"\x0a", f) for f in fields))


NULL_TYPES = {
    "list": _ld(b"\xca\x01", _ld(b"\x0a", _field(b"item", _I64, True))),
    "large_list": _ld(b"\xd2\x01", _ld(b"\x0a", _field(b"item", _I64, True))),
    "fixed_size_list": _ld(b"\xda\x01", _ld(b"\x0a", _field(b"item", _I64, True)) + b"\x10\x02"),
    "struct": _struct_type(_field(b"x", _I64, True), _field(b"y", _UTF8, True)),
    "map": _ld(
        b"\x8a\x02",
        _ld(
            b"\x0a",
            _field(
                b"entries", _struct_type(_field(b"key", _UTF8, False), _field(b"value", _I64, True)), False
            ),
        ),
    ),
}


@pytest.mark.parametrize("kind", NULL_TYPES)
def test_typed_nested_null(kind: str) -> None:
    """``null_value`` holding a nested type: ground truth from datafusion decoding the same bytes."""
    blob = _ld(b"\x1a", _ld(b"\x8a\x02", NULL_TYPES[kind]))
    assert render_expr(root(blob)) == Expr.from_bytes(blob).canonical_name()


@given(st.floats(width=64))
@example(562949953421312.2)  # an exact tie between two shortest digit strings: Rust rounds away from 0
@example(-88558991609643.62)
@example(1853119323222010.2)
@settings(max_examples=300, deadline=None)
def test_float_literals_match_datafusion(x: float) -> None:
    assert rendered(lit(x)) == lit(x).canonical_name()


@given(st.floats(width=32, allow_nan=False))
@example(3.4025001647762064e38)  # shortest candidates past f32::MAX used to raise OverflowError
@example(3.4028234663852886e38)
@settings(max_examples=300, deadline=None)
def test_float32_literals_match_datafusion(x: float) -> None:
    e = lit(S(x, pa.float32()))
    assert rendered(e) == e.canonical_name()


def test_inspect_path_does_not_import_pyarrow(tmp_path: pytest.TempPathFactory) -> None:
    """Moving nested literals to nested.py keeps pyarrow out unless a blob holds one."""
    import subprocess

    plain = F.in_list(col("a"), [lit(1), lit("x"), col("b")])
    nested = lit(S([1, 2], pa.list_(pa.int64())))
    code = (
        "import sys\nfrom datafusion_exprtool.layers.proto.msg import Msg\n"
        "from datafusion_exprtool.text.canonical import render_expr\n"
        "for path in sys.argv[1:]:\n"
        "    b = open(path, 'rb').read()\n"
        "    print(render_expr(Msg('LogicalExprNode', b, 0, len(b))), 'pyarrow' in sys.modules)\n"
    )
    paths = []
    for name, e in (("plain", plain), ("nested", nested)):
        p = tmp_path / name  # type: ignore[operator]
        p.write_bytes(e.to_bytes())
        paths.append(str(p))
    out = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [f"{plain.canonical_name()} False", f"{nested.canonical_name()} True"]
