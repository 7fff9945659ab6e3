"""DFPY framing against real datafusion 55 blobs; error texts checked against datafusion's own errors."""

from __future__ import annotations

import struct
import sys

import pytest
from datafusion import SessionContext
from datafusion.expr import Expr
from hypothesis import given, settings
from hypothesis import strategies as st
from support.blobs import (
    envelope_ctx,
    find_fun_definition,
    replace_fun_definition,
)
from support.exprs import UDF_EXPRS, scalar_expr

from datafusion_exprtool.layers import dfpy

RUNNING = sys.version_info[:2]


def decode_error(blob: bytes, ctx: SessionContext | None = None) -> str:
    with pytest.raises(RuntimeError) as info:
        Expr.from_bytes(blob, ctx)
    return str(info.value)


@pytest.mark.parametrize("kind", UDF_EXPRS)
def test_inline_header(kind: str) -> None:
    blob = UDF_EXPRS[kind]().to_bytes()
    start, end, node_kind = find_fun_definition(blob)
    fd = dfpy.parse_fun_definition(blob[start:end], start, node_kind)
    assert fd.family == dfpy.KIND_FAMILIES[kind]
    assert fd.kind == kind == node_kind
    assert fd.wire_version == 1
    assert fd.python == RUNNING
    assert fd.envelope is None and fd.problems == []
    assert fd.stream_offset == start + dfpy.HEADER_SIZE
    assert blob[fd.stream_offset : end] == fd.stream
    assert fd.stream.startswith(b"\x80\x05")  # cloudpickle protocol 5


@pytest.mark.parametrize("kind", UDF_EXPRS)
def test_envelope_from_real_codec(kind: str) -> None:
    blob = UDF_EXPRS[kind]().to_bytes(envelope_ctx())
    start, end, node_kind = find_fun_definition(blob)
    fd = dfpy.parse_fun_definition(blob[start:end], start, node_kind)
    assert fd.envelope is not None
    assert fd.envelope.codec_id == "my_library.Codec"
    assert fd.envelope.version == 1
    assert fd.envelope.offset == start
    assert fd.family == dfpy.KIND_FAMILIES[kind]
    assert fd.python == RUNNING
    assert fd.problems == []
    assert blob[fd.stream_offset : end] == fd.stream


def test_nested_envelopes() -> None:
    inner = SessionContext().with_python_udf_inlining(enabled=False)
    inner = inner.with_logical_extension_codec(SessionContext(), codec_id="in.Two")
    outer = SessionContext().with_python_udf_inlining(enabled=False)
    outer = outer.with_logical_extension_codec(inner, codec_id="out.One")
    blob = scalar_expr().to_bytes(outer)
    start, end, kind = find_fun_definition(blob)
    fd = dfpy.parse_fun_definition(blob[start:end], start, kind)
    assert [e.codec_id for e in fd.envelopes] == ["out.One", "in.Two"]
    assert fd.family == "DFPYUDF" and fd.problems == []


def test_long_envelope_chains_are_not_a_problem() -> None:
    """datafusion sets no limit on nested envelopes: a chain of 40 codecs decodes, and exprtool reads all 40."""
    ctx = SessionContext()
    for k in range(40):
        outer = SessionContext().with_python_udf_inlining(enabled=False)
        ctx = outer.with_logical_extension_codec(ctx, codec_id=f"c{k}")
    blob = scalar_expr().to_bytes(ctx)
    assert Expr.from_bytes(blob, ctx).canonical_name() == scalar_expr().canonical_name()
    start, end, kind = find_fun_definition(blob)
    fd = dfpy.parse_fun_definition(blob[start:end], start, kind)
    assert [e.codec_id for e in fd.envelopes] == [f"c{k}" for k in reversed(range(40))]
    assert fd.family == "DFPYUDF" and fd.problems == []


def test_foreign_bytes_are_inner() -> None:
    fd = dfpy.parse_fun_definition(b"\x08\x01foreign", 100, "scalar")
    assert fd.family is None and fd.kind == "scalar"
    assert fd.inner == b"\x08\x01foreign" and fd.inner_offset == 100
    assert fd.problems == []


def _patched(kind: str, index: int, value: int) -> tuple[bytes, bytes, int]:
    blob = UDF_EXPRS[kind]().to_bytes()
    start, end, _k = find_fun_definition(blob)
    fun = bytearray(blob[start:end])
    fun[index] = value
    return replace_fun_definition(blob, bytes(fun)), bytes(fun), start


@pytest.mark.parametrize("kind", UDF_EXPRS)
def test_wire_version_message_is_datafusions(kind: str) -> None:
    patched, fun, start = _patched(kind, 7, 2)
    fd = dfpy.parse_fun_definition(fun, start, kind)
    assert [p.id for p in fd.problems] == ["dfpy-wire-version"]
    assert fd.problems[0].offset == start + 7
    assert dfpy.wire_version_message(kind, 2) == fd.problems[0].datafusion_text
    assert fd.problems[0].datafusion_text in decode_error(patched)


@pytest.mark.parametrize("kind", UDF_EXPRS)
def test_python_mismatch_message_is_datafusions(kind: str) -> None:
    sent = (RUNNING[0], RUNNING[1] + 1)
    patched, fun, start = _patched(kind, 9, sent[1])
    fd = dfpy.parse_fun_definition(fun, start, kind)
    assert fd.python == sent and fd.problems == []
    assert dfpy.python_mismatch_message(kind, sent, RUNNING) in decode_error(patched)


@pytest.mark.parametrize("kind", UDF_EXPRS)
@pytest.mark.parametrize("keep", [7, 8, 9])
def test_truncated_header_message_is_datafusions(kind: str, keep: int) -> None:
    blob = UDF_EXPRS[kind]().to_bytes()
    start, end, _k = find_fun_definition(blob)
    fun = blob[start : start + keep]
    fd = dfpy.parse_fun_definition(fun, start, kind)
    assert [p.id for p in fd.problems] == ["dfpy-truncated"]
    assert fd.problems[0].offset == start + keep
    assert fd.problems[0].datafusion_text in decode_error(replace_fun_definition(blob, fun))


def test_wire_version_checked_before_truncation() -> None:
    blob = scalar_expr().to_bytes()
    fun = b"DFPYUDF\x02"
    fd = dfpy.parse_fun_definition(fun, 0, "scalar")
    assert [p.id for p in fd.problems] == ["dfpy-wire-version"]
    assert fd.problems[0].datafusion_text in decode_error(replace_fun_definition(blob, fun))


def _enveloped(kind: str = "scalar", codec_id: str = "my_library.Codec") -> tuple[bytes, bytes, int]:
    blob = UDF_EXPRS[kind]().to_bytes(envelope_ctx(codec_id))
    start, end, _k = find_fun_definition(blob)
    return blob, blob[start:end], start


def test_envelope_version_message_is_datafusions() -> None:
    blob, fun, start = _enveloped()
    fun = fun[:7] + b"\x07" + fun[8:]
    fd = dfpy.parse_fun_definition(fun, start, "scalar")
    assert [p.id for p in fd.problems] == ["dfpy-envelope-version"]
    assert fd.envelope is not None and fd.envelope.version == 7
    assert dfpy.envelope_version_message(7) == fd.problems[0].datafusion_text
    assert fd.problems[0].datafusion_text in decode_error(replace_fun_definition(blob, fun), envelope_ctx())


@pytest.mark.parametrize("keep", [7, 8, 10, 12 + 5])
def test_envelope_truncations_are_datafusions(keep: int) -> None:
    blob, fun, start = _enveloped()
    fun = fun[:keep]
    fd = dfpy.parse_fun_definition(fun, start, "scalar")
    assert [p.id for p in fd.problems] == ["dfpy-envelope-truncated"]
    assert fd.problems[0].datafusion_text in decode_error(replace_fun_definition(blob, fun), envelope_ctx())


def test_non_utf8_codec_id_is_datafusions() -> None:
    blob, fun, start = _enveloped()
    fun = fun[:12] + b"\xff" + fun[13:]
    fd = dfpy.parse_fun_definition(fun, start, "scalar")
    assert [p.id for p in fd.problems] == ["dfpy-envelope-codec-id"]
    assert fd.problems[0].offset == start + 12
    assert fd.problems[0].datafusion_text in decode_error(replace_fun_definition(blob, fun), envelope_ctx())


@pytest.mark.parametrize("kind", UDF_EXPRS)
@pytest.mark.parametrize("installed", [[], ["other.Codec"], ["a.B", "c.D"]])
def test_codec_missing_message_is_datafusions(kind: str, installed: list[str]) -> None:
    blob, fun, start = _enveloped(kind)
    fd = dfpy.parse_fun_definition(fun, start, kind)
    assert fd.envelope is not None
    ctx = SessionContext()
    for codec_id in installed:
        ctx = ctx.with_logical_extension_codec(SessionContext(), codec_id=codec_id)
    expected = dfpy.codec_missing_message(kind, fd.envelope.codec_id or "", installed)
    assert expected in decode_error(blob, ctx)


def test_codec_missing_message_anon() -> None:
    capsule = SessionContext().__datafusion_logical_extension_codec__()
    sender = SessionContext().with_python_udf_inlining(enabled=False).with_logical_extension_codec(capsule)
    blob = scalar_expr().to_bytes(sender)
    start, end, kind = find_fun_definition(blob)
    fd = dfpy.parse_fun_definition(blob[start:end], start, kind)
    assert fd.envelope is not None and fd.envelope.codec_id == sender.logical_extension_codec_ids()[0]
    assert fd.envelope.codec_id.startswith("anon:")
    for installed in ([], ["x.Y"]):
        ctx = SessionContext()
        for codec_id in installed:
            ctx = ctx.with_logical_extension_codec(SessionContext(), codec_id=codec_id)
        message = dfpy.codec_missing_message(kind, fd.envelope.codec_id, installed)
        assert message.endswith(dfpy.ANON_SENTENCE)
        assert message in decode_error(blob, ctx)


def test_id_len_past_end() -> None:
    data = b"DFPYCHN\x01" + struct.pack("<I", 1 << 31) + b"abc"
    fd = dfpy.parse_fun_definition(data, 40, "aggregate")
    assert fd.envelope is not None and fd.envelope.id_len == 1 << 31
    assert fd.problems[0].datafusion_text == dfpy.ENVELOPE_TRUNCATIONS["id"]
    assert fd.problems[0].offset == 40 + 12


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=64), st.sampled_from([b"", b"DFPYCHN", b"DFPYUDF", b"DFPYCHN\x01\x01\x00\x00\x00x"])
)
def test_never_raises_on_garbage(tail: bytes, head: bytes) -> None:
    data = head + tail
    fd = dfpy.parse_fun_definition(data, 5, None)
    assert fd.size == len(data)
    for p in fd.problems:
        assert p.layer == "dfpy" and p.offset is not None and 5 <= p.offset <= 5 + len(data)
    if fd.stream_offset is not None:
        assert data[fd.stream_offset - 5 :] == fd.stream
