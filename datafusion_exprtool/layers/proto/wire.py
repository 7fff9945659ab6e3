"""Protobuf wire format: varints and the raw field stream of one message body.

The one wire reader of the package: every varint is read by ``read_varint`` (callers that word errors
their own way wrap it), and ``KIND_WIRE`` says which wire type each field kind travels as. The reader
knows nothing about datafusion; tables.py says what each number means.
"""

from __future__ import annotations

from collections.abc import Iterator

from datafusion_exprtool.errors import CORRUPT, TRUNCATED, UNDERFLOW, DecodeError

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
WIRE_NAMES = {0: "varint", 1: "i64", 2: "len", 3: "sgroup", 4: "egroup", 5: "i32"}
#: the wire type a field of each protobuf kind travels as (its packed form aside); the kinds not listed
#: (the integers, bool, enum) are VARINT: read it as ``KIND_WIRE.get(kind, VARINT)``
KIND_WIRE: dict[str, int] = {
    "double": I64, "fixed64": I64, "sfixed64": I64,
    "float": I32, "fixed32": I32, "sfixed32": I32,
    "string": LEN, "bytes": LEN, "message": LEN, "map": LEN,
}  # fmt: skip


#: the message of the DecodeError ``read_varint`` raises when the buffer ends inside a varint (kind TRUNCATED;
#: any other error of it is an invalid varint, kind CORRUPT: more than 10 bytes, or a 10th byte above 1)
TRUNCATED_VARINT = "truncated varint (buffer underflow)"


def read_varint(buf: bytes, pos: int, end: int, origin: int = 0) -> tuple[int, int]:
    """Return (value, next position): the one varint reader; prost's rules (at most 10 bytes, the 10th at most 1).

    Raises DecodeError on a truncated (kind TRUNCATED) or an invalid varint (CORRUPT); readers that report
    errors their own way catch it and say it in their words.
    """
    if pos + 1 < end:  # the one- and two-byte varints (tags, most lengths) without the loop
        b = buf[pos]
        if b < 0x80:
            return b, pos + 1
        c = buf[pos + 1]
        if c < 0x80:
            return (b & 0x7F) | c << 7, pos + 2
    elif pos < end and buf[pos] < 0x80:
        return buf[pos], pos + 1
    result = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise DecodeError("protobuf", origin + start, TRUNCATED_VARINT, kind=TRUNCATED)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            if shift == 63 and b > 1:  # prost: the 10th byte may only hold the top bit of a u64
                raise DecodeError("protobuf", origin + start, "invalid varint (more than 64 bits)", kind=CORRUPT)
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("protobuf", origin + start, "invalid varint (more than 10 bytes)", kind=CORRUPT)


def iter_raw(buf: bytes, start: int, end: int, origin: int = 0) -> Iterator[tuple[int, int, int, int, int]]:
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
            if key > 0xFFFFFFFF:
                raise DecodeError("protobuf", origin + tag_pos, f"invalid key value: {key}", kind=CORRUPT)
        number = key >> 3
        wire = key & 7
        if number == 0:
            raise DecodeError("protobuf", origin + tag_pos, "invalid tag value: 0", kind=CORRUPT)
        if wire == LEN:
            if pos < end and buf[pos] < 0x80:  # a one-byte length, the usual case, without a call
                length = buf[pos]
                pos += 1
            else:
                length, pos = read_varint(buf, pos, end, origin)
            stop = pos + length
            if stop > end:
                raise DecodeError(
                    "protobuf",
                    origin + tag_pos,
                    f"field {number}: length {length} runs past the end of its message (buffer underflow)",
                    kind=UNDERFLOW,
                )
            yield number, wire, pos, stop, tag_pos
            pos = stop
        elif wire == VARINT:
            value, pos = read_varint(buf, pos, end, origin)
            yield number, wire, value, pos, tag_pos
        elif wire == I64:
            # a fixed-width value cut short is left unclassified (kind None): check has always reported it as
            # bytes prost refuses, not as an underflow (what prost says); changing that changes its output
            if pos + 8 > end:
                raise DecodeError("protobuf", origin + tag_pos, f"field {number}: truncated 64-bit value")
            yield number, wire, pos, pos + 8, tag_pos
            pos += 8
        elif wire == I32:
            if pos + 4 > end:
                raise DecodeError("protobuf", origin + tag_pos, f"field {number}: truncated 32-bit value")
            yield number, wire, pos, pos + 4, tag_pos
            pos += 4
        elif wire == SGROUP:  # a (deprecated) group: prost skips it as an unknown field; so do we
            content = pos
            pos, stop = skip_group(buf, pos, end, number, origin, tag_pos)
            yield number, wire, content, stop, tag_pos
        elif wire == EGROUP:
            raise DecodeError(
                "protobuf", origin + tag_pos, f"field {number}: unexpected end group tag", kind=CORRUPT
            )
        else:
            raise DecodeError(
                "protobuf", origin + tag_pos, f"field {number}: invalid wire type value: {wire}", kind=CORRUPT
            )


def skip_group(
    buf: bytes, pos: int, end: int, number: int, origin: int = 0, tag_pos: int = 0
) -> tuple[int, int]:
    """Skip a group body that starts at pos; return (position after the end tag, position of the end tag)."""
    open_groups = [number]
    while True:
        if pos >= end:
            raise DecodeError(
                "protobuf", origin + tag_pos, f"field {number}: unterminated group (buffer underflow)",
                kind=UNDERFLOW,
            )
        inner = pos
        key, pos = read_varint(buf, pos, end, origin)
        wire = key & 7
        if key > 0xFFFFFFFF or key >> 3 == 0 or wire > 5:
            raise DecodeError("protobuf", origin + inner, f"invalid field key {key} inside a group", kind=CORRUPT)
        if wire == EGROUP:
            if key >> 3 != open_groups.pop():
                raise DecodeError("protobuf", origin + inner, "unexpected end group tag", kind=CORRUPT)
            if not open_groups:
                return pos, inner
        elif wire == SGROUP:
            open_groups.append(key >> 3)
        elif wire == VARINT:
            _v, pos = read_varint(buf, pos, end, origin)
        elif wire == LEN:
            n, pos = read_varint(buf, pos, end, origin)
            pos += n
        else:
            pos += 8 if wire == I64 else 4
        if pos > end:
            raise DecodeError(
                "protobuf", origin + inner, "field inside a group runs past the end (buffer underflow)",
                kind=UNDERFLOW,
            )


def encode_varint(n: int) -> bytes:
    """Base-128 varint of a non-negative int (lengths, tags, uint64), as prost writes it."""
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_len_field(number: int, body: bytes) -> bytes:
    """A length-delimited field (a message, string or bytes) with its tag."""
    return encode_varint(number << 3 | LEN) + encode_varint(len(body)) + body
