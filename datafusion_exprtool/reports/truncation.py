"""Where a truncated protobuf blob says its data should end, read from the bytes alone.

A blob prost refuses with "buffer underflow" was cut short; its first field that overruns the end tells how
long it should have been. ``check`` says it when it predicts the failure, ``explain --blob`` when it explains
datafusion's text.
"""

from __future__ import annotations


def declared_end(data: bytes) -> dict[str, int] | None:
    """Where a truncated protobuf blob says its data should end, from the first field that overruns it."""
    pos, size = 0, len(data)
    while pos < size:
        tag_pos = pos
        key, pos = _varint(data, pos)
        if key is None:
            return {"size": size, "tag_offset": tag_pos, "declared_end": size + 1, "missing": 1, "field": -1}
        wire = key & 7
        if wire == 2:
            length, pos = _varint(data, pos)
            if length is None or pos + length > size:
                end = pos + (length or 0)
                return {
                    "size": size,
                    "tag_offset": tag_pos,
                    "declared_end": end,
                    "missing": end - size,
                    "field": key >> 3,
                }
            pos += length
        elif wire == 0:
            value, pos = _varint(data, pos)
            if value is None:
                return {
                    "size": size,
                    "tag_offset": tag_pos,
                    "declared_end": size + 1,
                    "missing": 1,
                    "field": key >> 3,
                }
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > size:
                return {
                    "size": size,
                    "tag_offset": tag_pos,
                    "declared_end": pos,
                    "missing": pos - size,
                    "field": key >> 3,
                }
        else:
            return None  # not truncation: a corrupt wire type
    return None


def _varint(data: bytes, pos: int) -> tuple[int | None, int]:
    result = shift = 0
    while pos < len(data) and shift < 70:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
    return None, pos
