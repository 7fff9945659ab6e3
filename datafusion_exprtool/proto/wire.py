"""Protobuf wire format: varints and the raw field stream of one message body.

The reader knows nothing about datafusion; tables.py says what each number means.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import DecodeError

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
WIRE_NAMES = {0: "varint", 1: "i64", 2: "len", 3: "sgroup", 4: "egroup", 5: "i32"}


def read_varint(buf: bytes, pos: int, end: int, origin: int = 0) -> tuple[int, int]:
    """Return (value, next position). Raises DecodeError on a truncated or overlong varint."""
    if pos < end:
        b = buf[pos]
        if b < 0x80:
            return b, pos + 1
    result = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise DecodeError("protobuf", origin + start, "truncated varint (buffer underflow)")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("protobuf", origin + start, "invalid varint (more than 10 bytes)")


def iter_raw(
    buf: bytes, start: int, end: int, origin: int = 0
) -> Iterator[tuple[int, int, int, int, int]]:
    """Yield (field number, wire type, value-or-start, value-end, tag position) per field of a body.

    For VARINT the third item is the integer and the fourth is the position after it; for LEN,
    I32 and I64 they delimit the payload within ``buf``. Offsets in errors are ``origin + pos``.
    """
    pos = start
    while pos < end:
        tag_pos = pos
        b = buf[pos]
        if b < 0x80:
            key = b
            pos += 1
        else:
            key, pos = read_varint(buf, pos, end, origin)
        number = key >> 3
        wire = key & 7
        if number == 0:
            raise DecodeError("protobuf", origin + tag_pos, "invalid tag value: 0")
        if wire == LEN:
            length, pos = read_varint(buf, pos, end, origin)
            stop = pos + length
            if stop > end:
                raise DecodeError(
                    "protobuf", origin + tag_pos,
                    f"field {number}: length {length} runs past the end of its message (buffer underflow)",
                )
            yield number, wire, pos, stop, tag_pos
            pos = stop
        elif wire == VARINT:
            value, pos = read_varint(buf, pos, end, origin)
            yield number, wire, value, pos, tag_pos
        elif wire == I64:
            if pos + 8 > end:
                raise DecodeError("protobuf", origin + tag_pos, f"field {number}: truncated 64-bit value")
            yield number, wire, pos, pos + 8, tag_pos
            pos += 8
        elif wire == I32:
            if pos + 4 > end:
                raise DecodeError("protobuf", origin + tag_pos, f"field {number}: truncated 32-bit value")
            yield number, wire, pos, pos + 4, tag_pos
            pos += 4
        else:
            raise DecodeError(
                "protobuf", origin + tag_pos, f"field {number}: unsupported wire type {wire} ({WIRE_NAMES.get(wire, '?')})"
            )
