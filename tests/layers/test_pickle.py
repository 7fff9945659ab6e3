"""layers/pickle: the static pickle machine (vm), Expr payload extraction (expr_payload) and outer-pickle
safety (safety), against real pickles."""

from __future__ import annotations

import functools
import os
import pickle
import pickletools
import tracemalloc

import pytest
from datafusion import col, functions, lit
from hypothesis import given, settings
from hypothesis import strategies as st
from support.blobs import Evil, NestedUnpickler, global_ops

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.pickle.expr_payload import find_expr_payloads
from datafusion_exprtool.layers.pickle.safety import classify
from datafusion_exprtool.layers.pickle.values import Call, Frozen, Global, PDict, PList, PSet, iter_nodes
from datafusion_exprtool.layers.pickle.vm import run

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def to_py(value):
    """Test-only: turn plain symbolic containers back into Python values (iterative enough for test data)."""
    if isinstance(value, PList):
        return [to_py(v) for v in value.items]
    if isinstance(value, PDict):
        return {to_py(k): to_py(v) for k, v in value.pairs}
    if isinstance(value, PSet):
        return {to_py(v) for v in value.items}
    if isinstance(value, Frozen):
        return frozenset(to_py(v) for v in value.items)
    if isinstance(value, tuple):
        return tuple(to_py(v) for v in value)
    if isinstance(value, Call) and isinstance(value.func, Global):  # what old protocols REDUCE data through
        build = {"bytes": bytes, "set": set, "frozenset": frozenset, "encode": lambda s, enc: s.encode(enc)}
        return build[value.func.name](*to_py(value.args))
    return value


def small_expr():
    return (col("a") + lit(1)).alias("x")


@functools.cache
def big_expr():
    """A 143 KB payload (§5.3); built once, building 20 000 literals takes seconds."""
    return functions.in_list(col("a"), [lit(i) for i in range(20_000)])


def medium_expr():
    return functions.in_list(col("a"), [lit(i) for i in range(60)])


# ------------------------------------------------------------------------------------------------------ machine
data_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4)
        | st.frozensets(st.integers(), max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(value=data_values, protocol=st.sampled_from(list(PROTOCOLS)))
def test_plain_data_round_trips_symbolically(value, protocol):
    data = pickle.dumps(value, protocol=protocol)
    res = run(data)
    assert to_py(res.value) == value
    assert res.end_offset == len(data)
    assert res.opcodes == sum(1 for _ in pickletools.genops(data))
    assert res.globals == [] or protocol < 4  # bytes, sets and frozensets are REDUCEd on old protocols


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_protocol_is_read(protocol):
    res = run(pickle.dumps([1, "a"], protocol=protocol))
    assert res.protocol == protocol


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_memo_references_see_later_appends(protocol):
    loop: list = []
    loop.append(loop)
    shared = {"k": [1]}
    res = run(pickle.dumps([loop, shared, shared], protocol=protocol))
    outer = res.value
    assert outer.items[0].items[0] is outer.items[0]
    assert outer.items[1] is outer.items[2]
    assert isinstance(outer.items[1], PDict) and to_py(outer.items[1].get("k")) == [1]


def test_offset_of_points_at_the_bytes():
    payload = os.urandom(300)
    data = pickle.dumps(["s", payload], protocol=4)
    res = run(data, origin=1000)
    got = res.value.items[1]
    start = res.offset_of(got) - 1000
    assert data[start : start + 300] == payload


def test_deep_nesting_is_iterative():
    depth = 200_000
    data = b"\x80\x04" + b"]" * depth + b"a" * (depth - 1) + b"."
    res = run(data)
    assert isinstance(res.value, PList)
    assert len(iter_nodes(res.value)) == depth


def test_large_binbytes_is_copied_once():
    blob = b"y" * 10_000_000
    data = pickle.dumps([blob], protocol=5)
    tracemalloc.start()
    try:
        res = run(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.value.items[0] == blob
    assert peak < 1.5 * len(blob)


@pytest.mark.parametrize(
    "data, message, offset",
    [
        (b"\xff", "unknown opcode 0xff", 0),
        (b"K\x01R.", "stack underflow at opcode REDUCE", 2),
        (b"K\x01t.", "could not find MARK at opcode TUPLE", 2),
        (b"h\x05.", "memo key 5 not found at opcode BINGET", 0),
        (b"\x80\x06.", "unsupported pickle protocol: 6 at opcode PROTO", 0),
        (b"\x80\x04K\x01", "truncated (no STOP opcode)", 4),
        (b"\x80\x04\x8c\x03ab", "truncated at opcode SHORT_BINUNICODE", 2),
        (b"\x8c\x02\xff\xfe.", "invalid UTF-8", 0),
    ],
)
def test_malformed_streams(data, message, offset):
    with pytest.raises(DecodeError) as info:
        run(data, origin=7, layer="cloudpickle")
    assert message in str(info.value)
    assert info.value.layer == "cloudpickle"
    assert info.value.offset == 7 + offset


def test_truncation_names_binbytes():
    data = pickle.dumps(big_expr(), protocol=4)
    cut = data[: len(data) // 2]
    with pytest.raises(DecodeError) as info:
        run(cut)
    assert "pickle data was truncated at opcode BINBYTES" in str(info.value)
    assert info.value.offset == 80  # the opcode, §3.1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_truncation_is_a_decode_error(protocol):
    data = pickle.dumps([small_expr(), {"k": (1.5, None)}], protocol=protocol)
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            run(data[:cut])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_crashes(data):
    try:
        run(data)
    except DecodeError as exc:
        assert exc.layer == "pickle"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_expr_pickles_never_crash(data):
    blob = bytearray(
        pickle.dumps([small_expr(), medium_expr()], protocol=data.draw(st.sampled_from([0, 2, 4])))
    )
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    try:
        run(bytes(blob))
    except DecodeError:
        pass


# ------------------------------------------------------------------------------------------------ Expr payloads
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("make", [small_expr, medium_expr, big_expr])
def test_single_expr_payload(protocol, make):
    expr = make()
    data = pickle.dumps(expr, protocol=protocol)
    found = find_expr_payloads(run(data, origin=3))
    assert len(found) == 1
    assert found[0].data == expr.to_bytes()
    if protocol >= 3:
        assert found[0].via == "bytes"
        start = found[0].offset - 3
        assert data[start : start + len(found[0].data)] == expr.to_bytes()
    else:
        assert found[0].via == "_codecs.encode"
        assert data[found[0].offset - 3 : found[0].offset - 2] == b"R"  # the REDUCE of _codecs.encode


def test_default_protocol_offsets_match_the_fact_sheet():
    small, medium = small_expr(), medium_expr()
    assert len(small.to_bytes()) < 256 <= len(medium.to_bytes())
    assert find_expr_payloads(run(pickle.dumps(small)))[0].offset == 82
    assert find_expr_payloads(run(pickle.dumps(medium)))[0].offset == 85
    assert len(big_expr().to_bytes()) > 140_000


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_containers_of_exprs(protocol):
    a, b, c = small_expr(), medium_expr(), col("z")
    value = {"first": [a, b], "again": (a, c), "b": b}
    found = find_expr_payloads(run(pickle.dumps(value, protocol=protocol)))
    assert [p.data for p in found] == [a.to_bytes(), b.to_bytes(), c.to_bytes()]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_same_expr_twice_is_one_reduce_site(protocol):
    e = small_expr()
    res = run(pickle.dumps([e, e], protocol=protocol))
    assert len(find_expr_payloads(res)) == 1
    assert res.value.items[0] is res.value.items[1]


def test_expr_pickle_structure():
    res = run(pickle.dumps(small_expr()))
    assert [g.dotted for g in res.globals] == ["builtins.getattr", "datafusion.expr.Expr"]
    assert isinstance(res.value, Call) and isinstance(res.value.func.func, Global)


# ------------------------------------------------------------------------------------------------ outer safety
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_benign_expr_pickles_are_not_suspicious(protocol):
    value = [small_expr(), {"k": (medium_expr(), col("b"))}]
    assert classify(run(pickle.dumps(value, protocol=protocol)), "expr", "pickle") == []


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_command_in_outer_pickle(protocol):
    data = pickle.dumps([small_expr(), Evil()], protocol=protocol)
    findings = classify(run(data, origin=10), "expr", "pickle")
    dotted = f"{os.system.__module__}.system"
    expected = {p + 10 for p in global_ops(data, dotted)}
    assert expected and {f.offset for f in findings if f.id == "suspicious-global"} == expected
    calls = [f for f in findings if f.id == "suspicious-call"]
    assert len(calls) == 1 and data[calls[0].offset - 10 : calls[0].offset - 9] == b"R"
    assert all(f.verdict == "suspicious" and f.layer == "pickle" for f in findings)


def test_nested_unpickler_in_outer_pickle():
    data = pickle.dumps(NestedUnpickler(), protocol=4)
    findings = classify(run(data), "expr", "pickle")
    nested = [f for f in findings if f.id == "nested-unpickler"]
    assert {f.offset for f in nested} >= set(global_ops(data, "_pickle.loads"))
    assert nested and all(f.verdict == "suspicious" for f in nested)


@pytest.mark.parametrize(
    "data",
    [
        b"cos\nsystem\n(S'echo'\ntR.",  # protocol 0 by hand
        b"c__builtin__\ngetattr\n(c__builtin__\nbuiltins\nS'eval'\ntR(S'1'\ntR.",
        b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85R.",
    ],
)
def test_handcrafted_attacks(data):
    findings = classify(run(data), "cloudpickle", "cloudpickle")
    assert any(f.verdict == "suspicious" for f in findings)


def _sb(text: str) -> bytes:
    return b"\x8c" + bytes([len(text)]) + text.encode()


def test_getattr_through_an_innocent_module_is_flagged_at_each_reduce():
    data = (
        b"\x80\x04" + _sb("builtins") + _sb("getattr") + b"\x93" + _sb("posixpath") + _sb("os") + b"\x93"
        + _sb("system") + b"\x86R" + _sb("id") + b"\x85R."
    )  # fmt: skip
    reduces = [pos for op, _arg, pos in pickletools.genops(data) if op.name == "REDUCE"]
    findings = classify(run(data, origin=5), "cloudpickle", "cloudpickle")
    assert [(f.id, f.offset) for f in findings] == [("suspicious-call", r + 5) for r in reduces]
    assert "posixpath.os.system" in findings[1].message


def test_codec_names_resolve_as_pythons_lookup_does() -> None:
    """`_codecs.encode(s, name)` (protocols 0-2) with a name Python resolves to latin-1 rebuilds the same
    bytes; exprtool replicates the lookup (it must not import what a blob names) and agrees with it."""
    import codecs
    import random

    from datafusion_exprtool.layers.pickle.expr_payload import is_latin1_codec

    names = ["latin1", "Latin 1", "latin\x11", "iso-8859-1", "cp819", "L1", "utf8", "latin2", "latin1\x00", "8859"]
    rng = random.Random(0)
    for _ in range(2000):
        b = bytearray(rng.choice(["latin1", "latin-1", "iso8859-1", "l1", "latin"]).encode())
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(7)
        names.append(b.decode("latin-1"))
    for name in names:
        try:
            real = codecs.lookup(name).name == "iso8859-1"
        except (LookupError, ValueError):
            real = False
        assert is_latin1_codec(name) == real, repr(name)
    p0 = bytearray(pickle.dumps(col("a") + lit(1), protocol=2))
    at = p0.index(b"latin1")
    p0[at + 5] = 0x11  # 'latin\x11': Python still finds latin-1, and so does exprtool
    assert pickle.loads(bytes(p0)).canonical_name() == (col("a") + lit(1)).canonical_name()
    assert [p.data for p in find_expr_payloads(run(bytes(p0)))] == [(col("a") + lit(1)).to_bytes()]
