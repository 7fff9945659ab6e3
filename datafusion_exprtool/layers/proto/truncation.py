"""Where a truncated protobuf blob says its data should end, read from the bytes alone.

A blob prost refuses with "buffer underflow" was cut short; its first field that overruns the end tells how
long it should have been. ``check`` says it when it predicts the failure, ``explain --blob`` when it explains
datafusion's text.
"""

from __future__ import annotations

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.wire import I32, I64, LEN, VARINT, read_varint


def declared_end(data: bytes) -> dict[str, int] | None:
    """Where a truncated protobuf blob says its data should end, from the first field that overruns it."""
    pos, size = 0, len(data)

    def cut(tag_pos: int, end: int, field: int) -> dict[str, int]:
        return {"size": size, "tag_offset": tag_pos, "declared_end": end, "missing": end - size, "field": field}

    while pos < size:
        tag_pos = pos
        key, pos = _varint(data, pos)
        if key is None:
            return cut(tag_pos, size + 1, -1)
        wire = key & 7
        if wire == LEN:
            length, pos = _varint(data, pos)
            if length is None or pos + length > size:
                return cut(tag_pos, pos + (length or 0), key >> 3)
            pos += length
        elif wire == VARINT:
            value, pos = _varint(data, pos)
            if value is None:
                return cut(tag_pos, size + 1, key >> 3)
        elif wire in (I64, I32):
            pos += 8 if wire == I64 else 4
            if pos > size:
                return cut(tag_pos, pos, key >> 3)
        else:
            return None  # not truncation: a corrupt wire type
    return None


def _varint(data: bytes, pos: int) -> tuple[int | None, int]:
    """(value, next) or, for a varint that does not read, (None, where reading it stopped)."""
    try:
        return read_varint(data, pos, len(data))
    except DecodeError:
        return None, min(pos + 10, len(data))
