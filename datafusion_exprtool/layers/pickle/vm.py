"""A static pickle machine: walks protocols 0-5 with a symbolic stack and memo, never imports or calls.

Why not ``pickle.loads``: an Expr pickle ends in ``cloudpickle.loads`` of user code, so loading is running.
The opcode facts (codes, argument formats, protocols) come from CPython's ``pickletools.opcodes`` table;
this module adds one loop that reads arguments and one handler per opcode that moves symbolic values.
Strings, bytes and numbers are pushed as themselves; everything that would import or call becomes a
``Global`` / ``Call`` / ``NewObj`` node for the consumers (pickle.expr_payload, pickle.safety, cloudpickle/).
"""

from __future__ import annotations

import codecs
import pickletools
import struct
from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.errors import CORRUPT, INVALID_LOAD_KEY, NO_STOP, TRUNCATED, DecodeError
from datafusion_exprtool.layers.pickle.values import (
    Build,
    ByteArray,
    Call,
    ComputedGlobal,
    Ext,
    Frozen,
    Global,
    Mutation,
    NewObj,
    PDict,
    PersistentId,
    PickleBuffer,
    PList,
    PSet,
)


@dataclass
class PickleResult:
    value: Any  # the object STOP returns
    protocol: int  # PROTO argument, else the highest protocol among the opcodes (0 or 1)
    start_offset: int  # absolute offset of the first opcode (= origin)
    end_offset: int  # absolute offset just after STOP
    layer: str
    globals: list[Global] = field(default_factory=list)  # every GLOBAL/STACK_GLOBAL/INST, in stream order
    calls: list[Call | NewObj] = field(default_factory=list)  # every REDUCE/NEWOBJ(_EX)/OBJ/INST site
    builds: list[Build] = field(default_factory=list)
    mutations: list[Mutation] = field(default_factory=list)
    computed_globals: list[ComputedGlobal] = field(default_factory=list)  # STACK_GLOBAL of computed strings
    #: (value, offset) of every dict key, set and frozenset item the unpickler hashes while building literals:
    #: hashing calls the value's ``__hash__`` (and ``__eq__`` on a collision)
    hashed: list[tuple[Any, int]] = field(default_factory=list)
    opcodes: int = 0
    #: (absolute offset, declared size) of the first FRAME that claims more bytes than follow it: the stream
    #: walks (framing never changes the opcodes), but ``pickle.loads`` refuses it ("pickle data was truncated")
    frame_overrun: tuple[int, int] | None = None
    _where: dict[int, tuple[Any, int]] = field(default_factory=dict, repr=False)

    def offset_of(self, value: str | bytes) -> int | None:
        """Absolute offset of the first data byte of a str/bytes pushed by the stream.

        Kept in a side table so large bytes stay plain ``bytes`` sliced once; CPython shares b'' and
        1-char objects, so for those the answer is the last site that pushed them.
        """
        hit = self._where.get(id(value))
        return hit[1] if hit is not None and hit[0] is value else None


# ----------------------------------------------------------------------------------------------------------
# Argument formats (pickletools ArgumentDescriptor names) as data.

_FIXED = {"uint1": "<B", "uint2": "<H", "int4": "<i", "uint4": "<I", "uint8": "<Q", "float8": ">d"}
# name -> (length prefix format, what the counted bytes are)
_COUNTED = {
    "long1": ("<B", "long"), "long4": ("<i", "long"),
    "string1": ("<B", "string"), "string4": ("<i", "string"),
    "bytes1": ("<B", "bytes"), "bytes4": ("<I", "bytes"), "bytes8": ("<Q", "bytes"),
    "bytearray8": ("<Q", "bytes"),
    "unicodestring1": ("<B", "unicode"), "unicodestring4": ("<I", "unicode"), "unicodestring8": ("<Q", "unicode"),
}  # fmt: skip
_LINES = {"decimalnl_short", "decimalnl_long", "stringnl", "stringnl_noescape", "floatnl", "unicodestringnl"}

#: opcode byte -> (name, argument format or None, protocol)
OPCODES: dict[int, tuple[str, str | None, int]] = {
    ord(op.code): (op.name, op.arg.name if op.arg is not None else None, op.proto)
    for op in pickletools.opcodes
}
HIGHEST_PROTOCOL = 5


class _Fail(Exception):
    """Internal: turned into DecodeError naming the opcode and its offset; ``kind`` is an errors kind."""

    def __init__(self, text: str, kind: str = CORRUPT):
        super().__init__(text)
        self.kind = kind


class _Truncated(_Fail):
    """The data ends inside an opcode's argument (CPython: "pickle data was truncated")."""

    def __init__(self, text: str):
        super().__init__(text, TRUNCATED)


def _line(data: bytes, pos: int, end: int) -> tuple[bytes, int]:
    nl = data.find(b"\n", pos, end)
    if nl < 0:
        raise _Truncated("pickle data was truncated")
    return data[pos:nl], nl + 1


def _read_arg(kind: str, data: bytes, pos: int, end: int, res: PickleResult, origin: int) -> tuple[Any, int]:
    """Read one opcode argument at ``pos``; returns (value, position after it)."""
    fmt = _FIXED.get(kind)
    if fmt is not None:
        size = struct.calcsize(fmt)
        if pos + size > end:
            raise _Truncated("pickle data was truncated")
        return struct.unpack_from(fmt, data, pos)[0], pos + size
    counted = _COUNTED.get(kind)
    if counted is not None:
        prefix, what = counted
        size = struct.calcsize(prefix)
        if pos + size > end:
            raise _Truncated("pickle data was truncated")
        n = struct.unpack_from(prefix, data, pos)[0]
        if n < 0:
            raise _Fail(f"negative length {n}")
        a = pos + size
        if a + n > end:
            raise _Truncated("pickle data was truncated")
        if what == "long":
            return int.from_bytes(data[a : a + n], "little", signed=True), a + n
        if what == "unicode":
            try:
                value: Any = codecs.decode(memoryview(data)[a : a + n], "utf-8", "surrogatepass")
            except UnicodeDecodeError as exc:
                raise _Fail(f"invalid UTF-8 in string ({exc.reason})") from None
        elif what == "string":
            value = data[a : a + n].decode("latin-1")
        else:
            value = data[a : a + n]  # the one copy of a (possibly huge) bytes payload
        res._where[id(value)] = (value, origin + a)
        return value, a + n
    if kind == "stringnl_noescape_pair":
        first, pos = _line(data, pos, end)
        second, pos = _line(data, pos, end)
        return (first.decode("utf-8", "replace"), second.decode("utf-8", "replace")), pos
    if kind in _LINES:
        raw, after = _line(data, pos, end)
        return _parse_line(kind, raw), after
    raise _Fail(f"unsupported argument format {kind}")


def _parse_line(kind: str, raw: bytes) -> Any:
    try:
        if kind == "decimalnl_short":
            return False if raw == b"00" else True if raw == b"01" else int(raw)
        if kind == "decimalnl_long":
            return int(raw[:-1] if raw.endswith(b"L") else raw)
        if kind == "floatnl":
            return float(raw)
        if kind == "unicodestringnl":
            return raw.decode("raw-unicode-escape")
        if kind == "stringnl":
            if len(raw) < 2 or raw[:1] not in (b"'", b'"') or raw[-1:] != raw[:1]:
                raise _Fail("the STRING opcode argument must be quoted")
            return codecs.escape_decode(raw[1:-1])[0].decode("latin-1")
        return raw.decode("utf-8", "replace")  # stringnl_noescape (PERSID)
    except (ValueError, UnicodeDecodeError) as exc:
        # CPython's codecs word an escape cut short at the end of the line "truncated \uXXXX escape": read
        # as a truncation, as check always has (though pickle.loads raises that codec error, not its own)
        kind = TRUNCATED if "truncated" in str(exc) else CORRUPT
        raise _Fail(f"invalid argument {raw[:40]!r} ({exc})", kind) from None


# ----------------------------------------------------------------------------------------------------------
# The machine.


class _Machine:
    """Stack, mark stack and memo; ``_GROUPS`` maps opcode groups to handlers, the rest go to ``single``."""

    def __init__(self, res: PickleResult):
        self.res = res
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.buffers = 0
        self.done = False
        self.value: Any = None

    def pop(self) -> Any:
        if not self.stack:
            raise _Fail("unpickling stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise _Fail("unpickling stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise _Fail("could not find MARK")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def call(self, node: Call | NewObj) -> None:
        self.res.calls.append(node)
        self.stack.append(node)

    def glob(self, module: Any, name: Any, off: int) -> Global | ComputedGlobal:
        if isinstance(module, _SYMBOLIC) or isinstance(name, _SYMBOLIC):  # a str only the load computes
            node = ComputedGlobal(module, name, off)
            self.res.computed_globals.append(node)
            return node
        if not isinstance(module, str) or not isinstance(name, str):
            raise _Fail("STACK_GLOBAL requires str")
        g = Global(module, name, off)
        self.res.globals.append(g)
        return g

    def extend(self, items: list[Any], off: int, opcode: str) -> None:
        target = self.top()
        if isinstance(target, (PList, PSet)):
            target.items.extend(items)
            if isinstance(target, PSet):
                self.res.hashed.extend((item, off) for item in items)
        else:  # list.append/extend or set.add on an object: its own methods would run
            self.res.mutations.append(Mutation(target, opcode, items, off))

    def set_items(self, items: list[Any], off: int, opcode: str) -> None:
        if len(items) % 2:
            raise _Fail("odd number of items for a dict")
        target = self.top()
        if isinstance(target, PDict):
            target.pairs.extend(zip(items[::2], items[1::2], strict=True))
            self.res.hashed.extend((key, off) for key in items[::2])
        else:
            self.res.mutations.append(Mutation(target, opcode, items, off))

    # opcode groups -----------------------------------------------------------------------------------------
    def push_arg(self, name: str, arg: Any, off: int) -> None:
        self.stack.append(arg)

    def push_const(self, name: str, arg: None, off: int) -> None:
        self.stack.append(_CONSTANTS[name])

    def push_empty(self, name: str, arg: None, off: int) -> None:
        self.stack.append(_EMPTY[name]([], off))

    def from_mark(self, name: str, arg: None, off: int) -> None:
        items = self.pop_mark()
        if name == "TUPLE":
            self.stack.append(tuple(items))
        elif name == "DICT":
            self.stack.append(PDict([], off))
            self.set_items(items, off, name)
        else:
            self.stack.append(_EMPTY[name](items, off))
            if name == "FROZENSET":
                self.res.hashed.extend((item, off) for item in items)

    def tuple_n(self, name: str, arg: None, off: int) -> None:
        n = int(name[-1])
        if len(self.stack) < n:
            raise _Fail("unpickling stack underflow")
        items = tuple(self.stack[-n:])
        del self.stack[-n:]
        self.stack.append(items)

    def get(self, name: str, arg: int, off: int) -> None:
        if arg not in self.memo:
            raise _Fail(f"memo key {arg!r} not found")
        self.stack.append(self.memo[arg])

    def put(self, name: str, arg: int, off: int) -> None:
        if arg < 0:
            raise _Fail(f"negative memo key {arg}")
        self.memo[arg] = self.top()

    def ext(self, name: str, arg: int, off: int) -> None:
        self.stack.append(Ext(arg, off))

    def noop(self, name: str, arg: Any, off: int) -> None:
        pass  # FRAME: framing does not change the opcode stream; a short frame fails at the opcode it cuts

    # single opcodes ----------------------------------------------------------------------------------------
    def single(self, name: str, arg: Any, off: int) -> None:
        """The opcodes with their own stack effect, most frequent first."""
        stack = self.stack
        if name == "MEMOIZE":
            self.memo[len(self.memo)] = self.top()
        elif name == "MARK":
            self.metastack.append(stack)
            self.stack = []
        elif name == "REDUCE":
            args = self.pop()
            self.call(Call(self.pop(), args, off))
        elif name == "STACK_GLOBAL":
            attr = self.pop()
            stack.append(self.glob(self.pop(), attr, off))
        elif name == "GLOBAL":
            stack.append(self.glob(arg[0], arg[1], off))
        elif name in ("APPEND", "SETITEM"):
            items = [self.pop()] if name == "APPEND" else [*reversed([self.pop(), self.pop()])]
            (self.extend if name == "APPEND" else self.set_items)(items, off, name)
        elif name in ("APPENDS", "ADDITEMS", "SETITEMS"):
            items = self.pop_mark()
            (self.set_items if name == "SETITEMS" else self.extend)(items, off, name)
        elif name == "POP":
            if stack:
                stack.pop()
            else:
                self.pop_mark()  # what CPython does for POP on an empty marked section
        elif name == "POP_MARK":
            self.pop_mark()
        elif name == "DUP":
            stack.append(self.top())
        elif name == "BUILD":
            state = self.pop()
            obj = self.top()
            self.res.builds.append(Build(obj, state, off))
            if isinstance(obj, (Call, NewObj)):
                obj.builds.append(state)
        elif name in ("NEWOBJ", "NEWOBJ_EX"):
            kwargs = self.pop() if name == "NEWOBJ_EX" else None
            args = self.pop()
            self.call(NewObj(self.pop(), args, kwargs, off, name))
        elif name == "OBJ":
            items = self.pop_mark()
            if not items:
                raise _Fail("unpickling stack underflow")
            self.call(NewObj(items[0], tuple(items[1:]), None, off, name))
        elif name == "INST":
            args = tuple(self.pop_mark())
            self.call(NewObj(self.glob(arg[0], arg[1], off), args, None, off, name))
        elif name == "PROTO":
            if arg > HIGHEST_PROTOCOL:
                raise _Fail(f"unsupported pickle protocol: {arg}")
            self.res.protocol = arg
        elif name == "STOP":
            self.value = self.pop()
            self.done = True
        elif name == "BYTEARRAY8":
            stack.append(ByteArray(arg, off))
        elif name == "NEXT_BUFFER":
            stack.append(PickleBuffer(self.buffers, off))
            self.buffers += 1
        elif name == "READONLY_BUFFER":
            if isinstance(self.top(), PickleBuffer):
                stack[-1].readonly = True
        elif name in ("PERSID", "BINPERSID"):
            stack.append(PersistentId(arg if name == "PERSID" else self.pop(), off))
        else:
            raise _Fail("opcode not supported")  # pickletools knows an opcode this machine does not


#: values whose type only the load knows: a global's module or name built from them may be any str
_SYMBOLIC = (Call, NewObj, Global, ComputedGlobal, PersistentId, Ext)

_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_TUPLE": ()}
_EMPTY: dict[str, Any] = {
    "EMPTY_LIST": PList, "LIST": PList, "EMPTY_DICT": PDict, "EMPTY_SET": PSet, "FROZENSET": Frozen,
}  # fmt: skip
#: opcode name -> shared handler (everything else is ``_Machine.op_<NAME>``)
_GROUPS = {
    **dict.fromkeys(
        "INT BININT BININT1 BININT2 LONG LONG1 LONG4 STRING BINSTRING SHORT_BINSTRING BINBYTES SHORT_BINBYTES "
        "BINBYTES8 UNICODE SHORT_BINUNICODE BINUNICODE BINUNICODE8 FLOAT BINFLOAT".split(),
        _Machine.push_arg,
    ),
    **dict.fromkeys(_CONSTANTS, _Machine.push_const),
    **dict.fromkeys(("EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"), _Machine.push_empty),
    **dict.fromkeys(("LIST", "TUPLE", "DICT", "FROZENSET"), _Machine.from_mark),
    **dict.fromkeys(("TUPLE1", "TUPLE2", "TUPLE3"), _Machine.tuple_n),
    **dict.fromkeys(("GET", "BINGET", "LONG_BINGET"), _Machine.get),
    **dict.fromkeys(("PUT", "BINPUT", "LONG_BINPUT"), _Machine.put),
    **dict.fromkeys(("EXT1", "EXT2", "EXT4"), _Machine.ext),
    "FRAME": _Machine.noop,
}
_HANDLERS = {code: _GROUPS.get(name, _Machine.single) for code, (name, _k, _p) in OPCODES.items()}


#: the FRAME opcode (protocol 4+): an 8-byte length of the opcodes that follow
FRAME_CODE = 0x95


def run(data: bytes, origin: int = 0, layer: str = "pickle") -> PickleResult:
    """Walk one pickle stream from ``data[0]`` to its STOP; offsets are ``origin + position``.

    Raises DecodeError(layer, absolute offset, message naming the opcode) on malformed input.
    Trailing bytes after STOP are left alone (``end_offset`` says where the pickle ended).
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    res = PickleResult(None, 0, origin, origin, layer)
    m = _Machine(res)
    pos, end = 0, len(data)
    opcodes, handlers = OPCODES, _HANDLERS
    highest = 0
    count = 0
    proto_seen = False
    while pos < end:
        off = pos
        code = data[pos]
        spec = opcodes.get(code)
        if spec is None:
            raise DecodeError(
                layer, origin + off, f"invalid load key, {bytes([code])!r} (unknown opcode 0x{code:02x})",
                kind=INVALID_LOAD_KEY,
            )
        name, kind, proto = spec
        try:
            if kind is None:
                arg, pos = None, pos + 1
            else:
                arg, pos = _read_arg(kind, data, pos + 1, end, res, origin)
            handlers[code](m, name, arg, origin + off)
            if code == FRAME_CODE and pos + arg > end and res.frame_overrun is None:
                res.frame_overrun = (origin + off, arg)
        except _Fail as exc:
            raise DecodeError(layer, origin + off, f"{exc} at opcode {name}", kind=exc.kind, opcode=name) from None
        count += 1
        if name == "PROTO":
            proto_seen = True
        if proto > highest:
            highest = proto
        if m.done:
            res.value = m.value
            res.end_offset = origin + pos
            res.opcodes = count
            if not proto_seen:
                res.protocol = highest
            return res
    raise DecodeError(layer, origin + end, "pickle data was truncated (no STOP opcode)", kind=NO_STOP)
