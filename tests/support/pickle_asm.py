"""A small pickle assembler for the hostile corpus, plus a protobuf splicer for datafusion blobs.

Everything here only BUILDS bytes: nothing is ever unpickled or decoded by datafusion in this process.

Pickle: byte-level emitters (``s``, ``g``, ``call``, …) write opcodes that use no memo; ``Asm`` tracks the memo
so that a hand-written prefix can be spliced in front of a real pickle/cloudpickle stream (the real stream's
BINGET/BINPUT indices are renumbered past the prefix's memo entries, and its FRAMEs are dropped: frames are
optional and the C unpickler reads unframed opcodes everywhere).

Protobuf: ``replace_payload`` rewrites one length-delimited payload nested anywhere in a message and re-encodes
every enclosing length; ``fun_definitions`` finds the DFPY payloads (inline UDF frames and DFPYCHN envelopes).
"""

from __future__ import annotations

import pickletools
import struct
from collections.abc import Iterator

# --- opcodes ------------------------------------------------------------------------------------------
MARK, STOP, POP, POP_MARK, DUP = b"(", b".", b"0", b"1", b"2"
TUPLE, TUPLE1, TUPLE2, TUPLE3, EMPTY_TUPLE = b"t", b"\x85", b"\x86", b"\x87", b")"
REDUCE, BUILD, OBJ, NEWOBJ, NEWOBJ_EX, STACK_GLOBAL = b"R", b"b", b"o", b"\x81", b"\x92", b"\x93"
SETITEM, SETITEMS, APPEND, APPENDS = b"s", b"u", b"a", b"e"
EMPTY_DICT, EMPTY_LIST, EMPTY_SET, ADDITEMS, FROZENSET = b"}", b"]", b"\x8f", b"\x90", b"\x91"
NONE, NEWTRUE, NEWFALSE, MEMOIZE, BINPERSID = b"N", b"\x88", b"\x89", b"\x94", b"Q"


def proto(n: int) -> bytes:
    return b"\x80" + bytes([n])


def s(text: str) -> bytes:
    """SHORT_BINUNICODE / BINUNICODE."""
    raw = text.encode("utf-8")
    return (b"\x8c" + bytes([len(raw)]) if len(raw) < 256 else b"X" + struct.pack("<I", len(raw))) + raw


def bb(data: bytes) -> bytes:
    """SHORT_BINBYTES / BINBYTES."""
    return (b"C" + bytes([len(data)]) if len(data) < 256 else b"B" + struct.pack("<I", len(data))) + data


def i(n: int) -> bytes:
    """BININT (4-byte signed)."""
    return b"J" + struct.pack("<i", n)


def g(module: str, name: str) -> bytes:
    """STACK_GLOBAL ``module`` ``name`` (a dotted ``name`` walks attributes, protocol 4+)."""
    return s(module) + s(name) + STACK_GLOBAL


def text_global(module: str, name: str) -> bytes:
    """Protocol-0 GLOBAL."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def tup(*items: bytes) -> bytes:
    return MARK + b"".join(items) + TUPLE


def lst(*items: bytes) -> bytes:
    return EMPTY_LIST + (MARK + b"".join(items) + APPENDS if items else b"")


def dct(*pairs: tuple[bytes, bytes]) -> bytes:
    return EMPTY_DICT + (MARK + b"".join(k + v for k, v in pairs) + SETITEMS if pairs else b"")


def call(func: bytes, *args: bytes) -> bytes:
    """``func(*args)`` through REDUCE."""
    return func + tup(*args) + REDUCE


def get(index: int) -> bytes:
    return b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index)


def put(index: int) -> bytes:
    return b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index)


def py(value: object) -> bytes:
    """A plain literal (None, bool, int, str, bytes, tuple) as opcodes."""
    if value is None:
        return NONE
    if value is True or value is False:
        return NEWTRUE if value else NEWFALSE
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return i(value)
        raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(raw)]) + raw
    if isinstance(value, str):
        return s(value)
    if isinstance(value, bytes):
        return bb(value)
    if isinstance(value, tuple):
        return tup(*(py(v) for v in value))
    raise TypeError(f"no literal form for {type(value).__name__}")


def _ops(stream: bytes) -> Iterator[tuple[str, object, bytes]]:
    ops = list(pickletools.genops(stream))
    for k, (op, arg, pos) in enumerate(ops):
        end = ops[k + 1][2] if k + 1 < len(ops) else pos + 1
        yield op.name, arg, stream[pos:end]


def stream_proto(stream: bytes) -> int:
    return stream[1] if stream[:1] == b"\x80" else 0


def body(stream: bytes, base: int) -> tuple[bytes, int]:
    """The opcodes of a complete pickle minus PROTO, FRAME and STOP, memo indices shifted by ``base``;
    with the number of memo entries the stream creates."""
    out = bytearray()
    count = 0
    for name, arg, raw in _ops(stream):
        if name in ("PROTO", "FRAME", "STOP"):
            continue
        if name in ("BINGET", "LONG_BINGET"):
            raw = get(int(arg) + base)  # type: ignore[arg-type]
        elif name == "GET":
            raw = b"g" + str(int(arg) + base).encode() + b"\n"  # type: ignore[arg-type]
        elif name in ("BINPUT", "LONG_BINPUT"):
            raw, count = put(int(arg) + base), count + 1  # type: ignore[arg-type]
        elif name == "PUT":
            raw, count = b"p" + str(int(arg) + base).encode() + b"\n", count + 1  # type: ignore[arg-type]
        elif name == "MEMOIZE":
            count += 1
        out += raw
    return bytes(out), count


class Asm:
    """Opcodes in order, with the memo size tracked (``memoize`` and ``embed`` are the only memo writers)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.memo = 0

    def __call__(self, *chunks: bytes) -> Asm:
        for chunk in chunks:
            self.buf += chunk
        return self

    def memoize(self) -> int:
        self.buf += MEMOIZE
        self.memo += 1
        return self.memo - 1

    def embed(self, stream: bytes) -> Asm:
        """The value a complete pickle builds, pushed here (its memo renumbered after ours)."""
        raw, count = body(stream, self.memo)
        self.buf += raw
        self.memo += count
        return self

    def pickle(self, protocol: int = 5) -> bytes:
        return proto(protocol) + bytes(self.buf) + STOP


# --- protobuf ----------------------------------------------------------------------------------------------
def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def ld(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def fields(buf: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int, int]]:
    """(number, wire type, payload start, payload end, tag position) of each field of a message body."""
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        tag_pos = pos
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _value, after = _read_varint(buf, pos)
            yield number, wire, pos, after, tag_pos
            pos = after
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            yield number, wire, pos, pos + length, tag_pos
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield number, wire, pos, pos + size, tag_pos
            pos += size
        else:
            raise ValueError(f"wire type {wire} at {tag_pos}")


def replace_payload(buf: bytes, start: int, end: int, new: bytes) -> bytes:
    """``buf`` with the payload [start, end) of a nested length-delimited field replaced by ``new``."""
    for number, wire, a, b, tag in fields(buf):
        if wire == 2 and a <= start and end <= b:
            inner = new if (a, b) == (start, end) else replace_payload(buf[a:b], start - a, end - a, new)
            return buf[:tag] + varint(number << 3 | 2) + varint(len(inner)) + inner + buf[b:]
    raise ValueError(f"no field holds [{start}, {end})")


MAGICS = (b"DFPYUDF", b"DFPYUDA", b"DFPYUDW", b"DFPYCHN")


def _payload_at(buf: bytes, offset: int, base: int = 0) -> tuple[int, int] | None:
    """The innermost length-delimited payload starting exactly at ``offset`` (absolute)."""
    for _number, wire, a, b, _tag in fields(buf):
        if wire != 2:
            continue
        if base + a == offset:
            return base + a, base + b
        if base + a < offset < base + b:
            try:
                found = _payload_at(buf[a:b], offset, base + a)
            except (ValueError, IndexError):
                found = None
            if found is not None:
                return found
    return None


def fun_definitions(blob: bytes) -> list[tuple[int, int]]:
    """(start, end) of every fun_definition payload (a DFPY frame or DFPYCHN envelope), in blob order."""
    out = []
    for magic in MAGICS:
        pos = blob.find(magic)
        while pos != -1:
            found = _payload_at(blob, pos)
            if found is not None:
                out.append(found)
            pos = blob.find(magic, pos + 1)
    sites = sorted(set(out))
    return [x for x in sites if not any(o != x and o[0] <= x[0] and x[1] <= o[1] for o in sites)]


def split_frame(payload: bytes) -> tuple[bytes, bytes]:
    """(everything up to the cloudpickle stream, the stream) of a fun_definition, through any envelopes."""
    pos = 0
    while payload[pos : pos + 7] == b"DFPYCHN":
        id_len = struct.unpack_from("<I", payload, pos + 8)[0]
        pos += 12 + id_len
    if payload[pos : pos + 7] not in MAGICS[:3]:
        raise ValueError("no DFPY frame")
    return payload[: pos + 10], payload[pos + 10 :]


def rewrite_streams(blob: bytes, transform) -> bytes:  # noqa: ANN001 - (stream) -> stream
    """Every inline UDF's cloudpickle stream replaced by ``transform(stream)`` (lengths re-encoded)."""
    sites = fun_definitions(blob)
    if not sites:
        raise ValueError("no fun_definition in blob")
    for start, end in reversed(sites):
        head, stream = split_frame(blob[start:end])
        blob = replace_payload(blob, start, end, head + transform(stream))
    return blob
