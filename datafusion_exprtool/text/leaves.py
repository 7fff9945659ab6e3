"""Byte-level fast path for the leaves that fill huge lists (IN lists, function arguments, operands).

A LogicalExprNode that is exactly one literal or one column is recognised straight from its bytes
(tag bytes and varints) and turned into its text with no Msg, generator or field table walk; a run of
same-sized integer literals is decoded column-wise from strided slices, so a million-entry IN list
costs a few C-level passes. Anything else returns None and takes the generic path, which stays the
reference: the text is made by the same functions (``scalar_display_text``/``debug_wrap``) and the
tests compare both paths. ``skip_entries`` and ``next_field`` let the renderers step over a repeated
field without reading every entry through ``iter_raw``; any malformed byte is left to ``iter_raw`` so
errors stay the ones the generic path raises.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import (
    I32,
    I64,
    KIND_WIRE,
    LEN,
    SGROUP,
    VARINT,
    iter_raw,
    read_varint,
    skip_group,
)
from datafusion_exprtool.text.engine import varint_value
from datafusion_exprtool.text.scalar import INTS, NULL_PLAIN, debug_wrap, scalar_display_text

# ScalarValue field key (number << 3 | wire) -> (arm name, kind), for every non-message arm
_SCALAR_KEYS: dict[int, tuple[str, str]] = {
    n << 3 | KIND_WIRE.get(kind, VARINT): (name, kind)
    for n, (name, kind, _t, _r, _o) in MESSAGES["ScalarValue"].items()
    if kind != "message"
}
_NULL_VALUE_KEY = next(n << 3 | LEN for n, s in MESSAGES["ScalarValue"].items() if s.name == "null_value")
# ArrowType arm tag byte (an empty message) -> typed NULL text
_NULL_BY_TAG = {
    n << 3 | LEN: NULL_PLAIN[spec.name]
    for n, spec in MESSAGES["ArrowType"].items()
    if spec.kind == "message" and spec.name in NULL_PLAIN and n < 16
}
# one-byte ScalarValue tag -> (Debug name, kind) of the integer arms that runs decode column-wise
_INT_TAGS = {
    key: (INTS[name], kind) for key, (name, kind) in _SCALAR_KEYS.items() if name in INTS and key < 0x80
}
_LITERAL, _COLUMN = 0x1A, 0x0A  # LogicalExprNode.literal (3), .column (1), both LEN
_SHORT: dict[tuple[int, ...], re.Pattern[bytes]] = {}
_CHUNK = 10_000  # entries per regex match: sre keeps ~140 B of backtracking state per repetition


def _varint(buf: Any, p: int, e: int) -> tuple[int, int]:
    """``read_varint``, or (0, -1) for a bad varint: the caller falls back to the generic path."""
    try:
        return read_varint(buf, p, e)
    except DecodeError:
        return 0, -1


def leaf_text(buf: Any, a: int, b: int) -> str | None:
    """Text of a LogicalExprNode body ``buf[a:b]`` that is one literal or one column, else None."""
    if b - a < 3 or buf[a + 1] >= 0x80 or a + 2 + buf[a + 1] != b:
        return None
    kind = buf[a]
    if kind == _LITERAL:
        return _literal(buf, a + 2, b)
    if kind == _COLUMN:
        return column_leaf(buf, a + 2, b)
    return None


def _literal(buf: Any, s: int, e: int) -> str | None:
    """ScalarValue body with exactly one non-message arm (or an untyped/simple typed NULL)."""
    key, p = _varint(buf, s, e)
    spec = _SCALAR_KEYS.get(key)
    if spec is None:
        if key == _NULL_VALUE_KEY and e - p == 3 and buf[p] == 2 and buf[p + 2] == 0:
            return _NULL_BY_TAG.get(buf[p + 1])
        return None
    name, kind = spec
    wire = key & 7
    value: Any
    if wire == VARINT:
        v, p = _varint(buf, p, e)
        if p != e:
            return None
        value = varint_value(kind, v)
    elif wire == I64:
        if e - p != 8:
            return None
        value = struct.unpack_from("<d", buf, p)[0]
    elif wire == I32:
        if e - p != 4:
            return None
        value = struct.unpack_from("<f", buf, p)[0]
    else:
        n, p = _varint(buf, p, e)
        if p < 0 or p + n != e:
            return None
        value = str(buf[p:e], "utf-8", "replace") if kind == "string" else bytes(buf[p:e])
    text = scalar_display_text(name, value)
    return None if text is None else debug_wrap(name, value, text)


def column_leaf(buf: Any, s: int, e: int) -> str | None:
    """Column body ``name`` or ``name, relation{relation}`` (the shapes datafusion writes)."""
    if e - s < 2 or buf[s] != 0x0A or buf[s + 1] >= 0x80 or s + 2 + buf[s + 1] > e:
        return None
    p = s + 2 + buf[s + 1]
    name = str(buf[s + 2 : p], "utf-8", "replace")
    if p == e:
        return name
    if e - p < 2 or buf[p] != 0x12 or buf[p + 1] >= 0x80 or p + 2 + buf[p + 1] != e:
        return None
    r = p + 2
    if r == e:
        return name
    if e - r < 2 or buf[r] != 0x0A or buf[r + 1] >= 0x80 or r + 2 + buf[r + 1] != e:
        return None
    rel = str(buf[r + 2 : e], "utf-8", "replace")
    return f"{rel}.{name}" if rel else name


def _pattern(*key: int) -> re.Pattern[bytes]:
    """Regex of a run of identical-shape entries: (tag, length) any body, or (tag, int tag, k) literals."""
    pat = _SHORT.get(key)
    if pat is None:
        if len(key) == 2:
            tag, n = key
            one = re.escape(bytes([tag, n])) + b"[\\x00-\\xff]{%d}" % n
        else:
            tag, int_tag, k = key
            last = b"[\\x00\\x01]" if k == 10 else b"[\\x00-\\x7f]"
            one = re.escape(bytes([tag, k + 3, _LITERAL, k + 1, int_tag])) + b"[\\x80-\\xff]" * (k - 1) + last
        pat = _SHORT[key] = re.compile(b"(?:" + one + b")+")
    return pat


def int_run(buf: Any, pos: int, end: int, sep: str, limit: int) -> tuple[str, int, int] | None:
    """Text of the run of integer literals of one type and varint size that starts at ``pos``.

    The entry at ``pos`` must be a one-byte-tagged LEN field. Returns (text joined by ``sep``,
    position after the run, entries) or None when the entry is not such a literal. The k varint
    bytes of every entry sit at fixed strides, so values are assembled from k strided slices.
    """
    int_tag = buf[pos + 4] if end - pos >= 6 else -1
    spec = _INT_TAGS.get(int_tag)
    k = buf[pos + 1] - 3
    step = k + 5
    if spec is None or not 1 <= k <= 10 or buf[pos + 2] != _LITERAL or buf[pos + 3] != k + 1:
        return None
    nxt = pos + step  # a lone entry is cheaper through leaf_text: a run needs a twin right behind
    if nxt + 5 > end or buf[nxt] != buf[pos] or buf[nxt + 1] != k + 3 or buf[nxt + 4] != int_tag:
        return None
    m = _pattern(buf[pos], int_tag, k).match(buf, pos, min(end, pos + limit * step))
    if m is None:
        return None
    stop = m.end()
    run, count = buf[pos:stop], (stop - pos) // step
    values: Any = run[k + 4 :: step]  # the last (most significant) varint byte of each entry
    if count >= 8 or k == 1:
        for j in range(k - 2, -1, -1):
            values = [(v << 7) + c - 128 for v, c in zip(values, run[5 + j :: step], strict=True)]
    else:  # a short run (sizes keep changing): k passes cost more than reading entry by entry
        values = [read_varint(run, o, o + k)[0] for o in range(5, stop - pos, step)]
    type_name, kind = spec
    if k >= 5 and kind != "uint64":  # only wide varints can need the signed/32-bit reading
        values = [varint_value(kind, v) for v in values]
    text = f"{type_name}(" + f"){sep}{type_name}(".join(map(str, values)) + ")"
    return text, stop, count


def skip_entries(buf: Any, pos: int, end: int, tag: int) -> tuple[int, int]:
    """Step over consecutive LEN fields with the one-byte ``tag`` and one-byte lengths from ``pos``.

    Returns (position after them, how many). Stretches of equal length are skipped by one regex
    match in C. Stops at anything else (including malformed bytes, left to ``iter_raw``).
    """
    count = 0
    while pos + 1 < end and buf[pos] == tag:
        n = buf[pos + 1]
        nxt = pos + 2 + n
        if n >= 0x80 or nxt > end:
            break
        if nxt + 1 < end and buf[nxt] == tag and buf[nxt + 1] == n:
            stop = _pattern(tag, n).match(buf, pos, min(end, pos + _CHUNK * (n + 2))).end()  # type: ignore[union-attr]
            count += (stop - pos) // (n + 2)
            pos = stop
        else:
            count += 1
            pos = nxt
    return pos, count


def next_field(buf: Any, pos: int, end: int, origin: int) -> tuple[int, int, int, int, int]:
    """(number, wire, a, b, next position) of the field at ``pos``, read by ``iter_raw`` (same errors)."""
    for number, wire, a, b, _tag in iter_raw(buf, pos, end, origin):
        if wire == SGROUP:
            return number, wire, a, b, skip_group(buf, a, end, number, origin, pos)[0]
        return number, wire, a, b, b
    raise DecodeError("protobuf", origin + pos, "no field at this position")  # pos >= end: callers never ask
