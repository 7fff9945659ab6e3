"""A lazy, read-only view of one protobuf message, typed by the field tables.

A ``Msg`` is four numbers and a reference to the blob: it decodes its own fields each time they are
asked for and keeps nothing, so walking a 10 MB tree never holds the whole tree in memory.
Offsets are absolute (``origin`` is where ``buf[0]`` sits in the decoded input).
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import KIND_WIRE, LEN, VARINT, iter_raw, read_varint

_SIGNED = {"int32", "int64", "enum", "sfixed32", "sfixed64"}
_PACKABLE = {
    "int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool", "enum",
    "double", "float", "fixed32", "fixed64", "sfixed32", "sfixed64",
}


class Field(NamedTuple):
    """One occurrence of a field. ``name`` is None for a number the tables do not know."""

    name: str | None
    number: int
    value: Any
    offset: int  # absolute offset of the field's tag
    wire: int


class Msg:
    __slots__ = ("type", "buf", "start", "end", "origin")

    def __init__(self, type: str, buf: bytes, start: int, end: int, origin: int = 0):
        self.type = type
        self.buf = buf
        self.start = start
        self.end = end
        self.origin = origin

    def __repr__(self) -> str:
        return f"Msg({self.type}, @{self.offset}, {self.end - self.start} B)"

    @property
    def offset(self) -> int:
        """Absolute offset of the first byte of this message's body."""
        return self.origin + self.start

    @property
    def known(self) -> bool:
        return self.type in MESSAGES

    def raw(self) -> bytes:
        return bytes(self.buf[self.start : self.end])

    def fields(self) -> list[Field]:
        """Every field occurrence, in wire order, decoded according to the tables."""
        table = MESSAGES.get(self.type, {})
        out: list[Field] = []
        buf, origin = self.buf, self.origin
        for number, wire, a, b, tag in iter_raw(buf, self.start, self.end, origin):
            spec = table.get(number)
            if spec is None:
                out.append(Field(None, number, a if wire == VARINT else bytes(buf[a:b]), origin + tag, wire))
                continue
            name, kind, type_name, _repeated, _oneof = spec
            if wire == LEN and kind in _PACKABLE:
                for v in _unpack(buf, a, b, kind, origin):
                    out.append(Field(name, number, v, origin + tag, wire))
                continue
            expected = KIND_WIRE.get(kind, VARINT)
            if wire != expected:
                out.append(Field(None, number, a if wire == VARINT else bytes(buf[a:b]), origin + tag, wire))
                continue
            out.append(Field(name, number, _convert(buf, kind, type_name, a, b, origin), origin + tag, wire))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Field name -> value (a list for repeated fields; the last occurrence wins otherwise).

        Unknown fields are under the key ``"?"`` as a list of Field.
        """
        table = MESSAGES.get(self.type, {})
        repeated = {spec.name for spec in table.values() if spec.repeated}
        d: dict[str, Any] = {}
        for f in self.fields():
            if f.name is None:
                d.setdefault("?", []).append(f)
            elif f.name in repeated:
                d.setdefault(f.name, []).append(f.value)
            else:
                d[f.name] = f.value
        return d

    def which(self, oneof: str) -> tuple[str, Any] | None:
        """The arm of a oneof group that is set (the last one on the wire), with its value."""
        table = MESSAGES.get(self.type, {})
        found = None
        for f in self.fields():
            if f.name is not None and table[f.number].oneof == oneof:
                found = (f.name, f.value)
        return found


def _convert(buf: bytes, kind: str, type_name: str | None, a: int, b: int, origin: int) -> Any:
    if kind == "message":
        return Msg(type_name or "?", buf, a, b, origin)
    if kind == "string":
        return bytes(buf[a:b]).decode("utf-8", "replace")
    if kind == "bytes":
        return bytes(buf[a:b])
    if kind == "map":
        key = value = ""
        for number, wire, x, y, _tag in iter_raw(buf, a, b, origin):
            if wire == LEN and number == 1:
                key = bytes(buf[x:y]).decode("utf-8", "replace")
            elif wire == LEN and number == 2:
                value = bytes(buf[x:y]).decode("utf-8", "replace")
        return (key, value)
    return _scalar(buf, kind, a, b)


def _scalar(buf: bytes, kind: str, a: int, b: int) -> Any:
    if kind == "double":
        return struct.unpack_from("<d", buf, a)[0]
    if kind == "float":
        return struct.unpack_from("<f", buf, a)[0]
    if kind in ("fixed64", "sfixed64"):
        v = struct.unpack_from("<Q", buf, a)[0]
        return v - (1 << 64) if kind == "sfixed64" and v >= 1 << 63 else v
    if kind in ("fixed32", "sfixed32"):
        v = struct.unpack_from("<I", buf, a)[0]
        return v - (1 << 32) if kind == "sfixed32" and v >= 1 << 31 else v
    # varint kinds: a is the value itself
    v = a
    if kind == "bool":
        return v != 0
    if kind in ("sint32", "sint64"):
        return (v >> 1) ^ -(v & 1)
    if kind in _SIGNED:
        v &= (1 << 64) - 1
        if v >= 1 << 63:
            v -= 1 << 64
        if kind in ("int32", "enum"):
            v = ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
        return v
    if kind == "uint32":
        return v & 0xFFFFFFFF
    return v


def _unpack(buf: bytes, a: int, b: int, kind: str, origin: int) -> list[Any]:
    values: list[Any] = []
    if kind in ("double", "fixed64", "sfixed64"):
        for p in range(a, b - 7, 8):
            values.append(_scalar(buf, kind, p, p + 8))
    elif kind in ("float", "fixed32", "sfixed32"):
        for p in range(a, b - 3, 4):
            values.append(_scalar(buf, kind, p, p + 4))
    else:
        p = a
        while p < b:
            v, p = read_varint(buf, p, b, origin)
            values.append(_scalar(buf, kind, v, p))
    return values
