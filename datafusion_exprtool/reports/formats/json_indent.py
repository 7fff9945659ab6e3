"""Indented JSON with the C string escaper: what ``json.dumps(doc, indent=2, ensure_ascii=…, default=str)``
writes, byte for byte, in a fraction of its time.

``json.dumps`` with an ``indent`` runs the pure-Python encoder (the C one only writes compact JSON), and that
encoder dominated `inspect --json` over many small blobs. This walk follows it step for step (the same type
tests in the same order, keys converted the same way, ``default=str`` for anything else) but escapes every
string with the C ``encode_basestring(_ascii)`` and appends to one list. A string longer than ``BIG_STRING``
is escaped and written in pieces, so the text never holds a second full-size copy of it.
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any, TextIO

#: strings longer than this (a rendered 1M-entry IN list) are escaped and written in pieces
BIG_STRING = 1 << 20
INDENT = "  "
#: escaped dict keys (with their ": "), per ensure_ascii: a document's keys are few and repeat in every object
_KEYS: dict[str, str] = {}
_KEYS_ASCII: dict[str, str] = {}
_MAX_KEYS = 4096  # keys from a blob (a map literal's?) never grow it without bound
_INFINITY = float("inf")


def float_text(o: float) -> str:
    """A float as json's encoder writes it (allow_nan: NaN and Infinity are written bare)."""
    if o != o:
        return "NaN"
    if o == _INFINITY:
        return "Infinity"
    if o == -_INFINITY:
        return "-Infinity"
    return float.__repr__(o)


def key_text(key: Any) -> str:
    """A dict key as json's encoder converts it before escaping; other keys raise TypeError as json does."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return float_text(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def write_big_string(value: str, out: TextIO, *, ensure_ascii: bool) -> None:
    """One JSON string, escaped and written BIG_STRING characters at a time (no second full-size copy)."""
    escape = encode_basestring_ascii if ensure_ascii else encode_basestring
    out.write('"')
    for start in range(0, len(value), BIG_STRING):
        out.write(escape(value[start : start + BIG_STRING])[1:-1])
    out.write('"')


def write_indented(doc: Any, out: TextIO, *, ensure_ascii: bool) -> None:
    """Write ``json.dumps(doc, indent=2, ensure_ascii=ensure_ascii, default=str)`` to ``out`` (no newline).

    The recursion follows the document's own nesting, as json.dumps does: exprtool's documents are a few
    levels deep whatever the blob (blob-controlled depth lives inside strings)."""
    escape: Callable[[str], str] = encode_basestring_ascii if ensure_ascii else encode_basestring
    keys = _KEYS_ASCII if ensure_ascii else _KEYS  # a key's escaped text and ": ", found once per process
    parts: list[str] = []
    append = parts.append

    def value(o: Any, level: int) -> None:
        if isinstance(o, str):
            if len(o) > BIG_STRING:
                out.write("".join(parts))
                parts.clear()
                write_big_string(o, out, ensure_ascii=ensure_ascii)
            else:
                append(escape(o))
        elif o is None:
            append("null")
        elif o is True:
            append("true")
        elif o is False:
            append("false")
        elif isinstance(o, int):
            append(int.__repr__(o))
        elif isinstance(o, float):
            append(float_text(o))
        elif isinstance(o, (list, tuple)):
            if not o:
                append("[]")
                return
            inner = "\n" + INDENT * (level + 1)
            separator = "[" + inner
            for item in o:
                if item.__class__ is str and len(item) <= BIG_STRING:  # the common leaf, without a call
                    append(separator + escape(item))
                else:
                    append(separator)
                    value(item, level + 1)
                separator = "," + inner
            append("\n" + INDENT * level + "]")
        elif isinstance(o, dict):
            if not o:
                append("{}")
                return
            inner = "\n" + INDENT * (level + 1)
            separator = "{" + inner
            for key, item in o.items():
                text = keys.get(key) if key.__class__ is str else None
                if text is None:
                    text = escape(key if key.__class__ is str else key_text(key)) + ": "
                    if key.__class__ is str and len(keys) < _MAX_KEYS:
                        keys[key] = text
                head = separator + text
                separator = "," + inner
                if item.__class__ is str and len(item) <= BIG_STRING:  # the common leaves, without a call
                    append(head + escape(item))
                elif item is None:
                    append(head + "null")
                elif item.__class__ is int:
                    append(head + int.__repr__(item))
                else:
                    append(head)
                    value(item, level + 1)
            append("\n" + INDENT * level + "}")
        else:  # default=str
            value(str(o), level)

    value(doc, 0)
    out.write("".join(parts))
