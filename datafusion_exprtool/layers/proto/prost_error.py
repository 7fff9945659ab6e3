"""prost's own error text for bytes prost refuses: what datafusion prints after "failed to decode Protobuf message".

``scan`` tells, fast, whether prost reads a blob; it bounds every read by the enclosing message. prost does
not: it reads from the whole buffer and only checks, when a nested message ends, that it ended where its
length said ("delimited length exceeded"), so a length that overruns its message but not the buffer reads
on into the next bytes, and a truncated varint is "invalid varint", not an underflow. This module replays
prost's decode rules (prost 0.13/0.14, as datafusion 55 links them) over the field tables, on a blob
already known to be refused, to say exactly what prost says and the path it prints
(``LogicalExprNode.expr_type: BinaryExprNode.l: delimited length exceeded``).

Iterative (an explicit frame stack): any depth, no recursion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from datafusion_exprtool.errors import CORRUPT, TRUNCATED, UNDERFLOW, DecodeError
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import KIND_WIRE, VARINT, read_varint

PREFIX = "failed to decode Protobuf message: "
RECURSION_LIMIT = 100  # prost's DecodeContext default
_WIRE_NAMES = {0: "Varint", 1: "SixtyFourBit", 2: "LengthDelimited", 3: "StartGroup", 4: "EndGroup", 5: "ThirtyTwoBit"}
_MAP = "<map>"  # a map<string,string> entry: key 1 and value 2, both strings


class _Refused(Exception):
    def __init__(self, text: str, path: list[tuple[str, str]], kind: str = CORRUPT):
        self.text, self.path, self.kind = text, path, kind


@dataclass(frozen=True)
class Refusal:
    """prost's refusal of a blob: its whole text, the reason at its end, and what broke."""

    text: str  # ``failed to decode Protobuf message: <path>: <reason>``, as datafusion prints it
    reason: str  # prost's words for what broke: "buffer underflow", "invalid varint", ...
    kind: str  # an errors kind: UNDERFLOW (prost's "buffer underflow"), TRUNCATED (a cut varint), CORRUPT


@dataclass
class _Frame:
    type: str  # message type (or _MAP)
    end: int  # where its length says it ends (len(buf) for the root)
    depth: int  # recursion budget left inside it
    path: list[tuple[str, str]] = field(default_factory=list)  # (message, field) pushes that lead here


def _snake(name: str) -> str:
    """A oneof's Rust field name (the tables keep some as the enum name: ExprType -> expr_type)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() if not name.islower() else name


def prost_error(buf: bytes, message: str) -> str | None:
    """``failed to decode Protobuf message: <path>: <what>`` as prost would say it for ``buf`` decoded as
    ``message``; None when prost reads it (datafusion may still refuse it later, in from_proto)."""
    refusal = prost_refusal(buf, message)
    return None if refusal is None else refusal.text


def prost_refusal(buf: bytes, message: str) -> Refusal | None:
    """``prost_error``'s text with what broke (``Refusal``); None when prost reads ``buf``."""
    try:
        _decode(bytes(buf), message)
    except _Refused as err:
        # prost pushes (message, field) as the error travels outwards and prints them in push order:
        # innermost first; message names as the Rust structs spell them
        where = "".join(f"{rust_name(m)}.{f}: " for m, f in reversed(err.path))
        return Refusal(f"{PREFIX}{where}{err.text}", err.text, err.kind)
    return None


def rust_name(proto_name: str) -> str:
    """prost's struct name for a message (heck's UpperCamelCase): AggregateUDFExprNode -> AggregateUdfExprNode."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+\d*|[A-Z]+\d*|\d+", proto_name)
    return "".join(w[:1].upper() + w[1:].lower() for w in words) or proto_name


def _varint(buf: bytes, pos: int, path: list) -> tuple[int, int]:
    """prost's decode_varint over the whole buffer: prost says "invalid varint" for a truncated one too."""
    try:
        return read_varint(buf, pos, len(buf))
    except DecodeError as err:
        raise _Refused("invalid varint", path, TRUNCATED if err.kind == TRUNCATED else CORRUPT) from None


def _key(buf: bytes, pos: int, path: list) -> tuple[int, int, int]:
    key, pos = _varint(buf, pos, path)
    if key > 0xFFFFFFFF:
        raise _Refused(f"invalid key value: {key}", path)
    wire = key & 7
    if wire > 5:
        raise _Refused(f"invalid wire type value: {wire}", path)
    if key >> 3 == 0:
        raise _Refused("invalid tag value: 0", path)
    return key >> 3, wire, pos


def _want(wire: int, expected: int, path: list) -> None:
    if wire != expected:
        raise _Refused(f"invalid wire type: {_WIRE_NAMES[wire]} (expected {_WIRE_NAMES[expected]})", path)


def _length(buf: bytes, pos: int, path: list) -> tuple[int, int]:
    """A length prefix, checked against what is left of the whole buffer."""
    n, pos = _varint(buf, pos, path)
    if n > len(buf) - pos:
        raise _Refused("buffer underflow", path, UNDERFLOW)
    return pos, pos + n


def _skip(buf: bytes, pos: int, number: int, wire: int, depth: int, path: list) -> int:
    """prost's skip_field (groups iteratively; each nested field one level deeper)."""
    groups: list[tuple[int, int]] = []  # (group number, depth inside it)
    while True:
        if depth == 0:
            raise _Refused("recursion limit reached", path)
        if wire == 0:
            pos = _varint(buf, pos, path)[1]
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            if n > len(buf) - pos:
                raise _Refused("buffer underflow", path, UNDERFLOW)
            pos += n
        elif wire == 2:
            pos = _length(buf, pos, path)[1]
        elif wire == 4:
            raise _Refused("unexpected end group tag", path)
        else:  # a group: read keys to its end tag
            groups.append((number, depth))
            depth -= 1
        while groups:
            inner, wire, pos = _key(buf, pos, path)
            if wire == 4:
                if inner != groups[-1][0]:
                    raise _Refused("unexpected end group tag", path)
                depth = groups.pop()[1]
                continue
            number = inner
            break
        else:
            return pos


def _scalar(buf: bytes, pos: int, kind: str, wire: int, repeated: bool, path: list) -> int:
    """One scalar field (packed or not when repeated)."""
    if kind in ("string", "bytes"):
        _want(wire, 2, path)
        a, pos = _length(buf, pos, path)
        if kind == "string":
            try:
                buf[a:pos].decode("utf-8")
            except UnicodeDecodeError:
                raise _Refused("invalid string value: data is not UTF-8 encoded", path) from None
        return pos
    single = KIND_WIRE.get(kind, VARINT)
    if repeated and wire == 2:  # packed: a merge_loop of values
        n, pos = _varint(buf, pos, path)
        if n > len(buf) - pos:
            raise _Refused("buffer underflow", path, UNDERFLOW)
        end = pos + n
        while pos < end:
            pos = _one(buf, pos, single, path)
        if pos != end:
            raise _Refused("delimited length exceeded", path)
        return pos
    _want(wire, single, path)
    return _one(buf, pos, single, path)


def _one(buf: bytes, pos: int, wire: int, path: list) -> int:
    if wire == 0:
        return _varint(buf, pos, path)[1]
    n = 8 if wire == 1 else 4
    if n > len(buf) - pos:
        raise _Refused("buffer underflow", path, UNDERFLOW)
    return pos + n


def _decode(buf: bytes, message: str) -> None:
    frames = [_Frame(message, len(buf), RECURSION_LIMIT)]
    pos = 0
    while frames:
        f = frames[-1]
        if pos >= f.end:
            if pos != f.end:
                raise _Refused("delimited length exceeded", f.path)
            frames.pop()
            continue
        number, wire, pos = _key(buf, pos, f.path)
        if f.type == _MAP:
            if number in (1, 2):
                pos = _scalar(buf, pos, "string", wire, False, f.path)
            else:
                pos = _skip(buf, pos, number, wire, f.depth, f.path)
            continue
        spec = MESSAGES.get(f.type, {}).get(number)
        if spec is None:
            pos = _skip(buf, pos, number, wire, f.depth, f.path)
            continue
        name, kind, type_name, repeated, oneof = spec
        here = [*f.path, (f.type, _snake(oneof) if oneof else name)]
        if kind in ("message", "map"):
            if kind == "message" and not type_name.endswith("Entry"):  # prost reads a map entry's length
                _want(wire, 2, here)  # whatever wire type its tag says
            if f.depth == 0:
                raise _Refused("recursion limit reached", here)
            a, stop = _length(buf, pos, here)
            child = _MAP if kind == "map" else (type_name if type_name in MESSAGES else "")
            frames.append(_Frame(child, stop, f.depth - 1, here))
            pos = a
            continue
        pos = _scalar(buf, pos, kind, wire, repeated, here)
