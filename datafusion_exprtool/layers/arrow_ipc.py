"""A pyarrow-free reader for Arrow IPC *Schema* messages (the UDF schema blobs, fact sheet §2.4).

Why not pyarrow: ``exprtool inspect`` must not pay pyarrow's import time. The type strings are exactly
what ``str(pyarrow_field.type)`` prints, so reports read the same with or without pyarrow.

Layout read here: ``ff ff ff ff`` + int32 length (or the pre-0.15 form without the continuation marker)
+ a FlatBuffers ``Message`` (Message.fbs) whose header is a ``Schema`` (Schema.fbs). Every read is bounds
checked; nested fields are walked with an explicit stack, a depth cap and a node budget (FlatBuffers
offsets can point back at shared tables, which would otherwise blow up exponentially).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from datafusion_exprtool.errors import CORRUPT, INVALID_UTF8, TRUNCATED, UNDERFLOW, DecodeError

LAYER = "arrow-ipc"
CONTINUATION = b"\xff\xff\xff\xff"
MAX_DEPTH = 64

# Message.fbs: table Message { version: short; header_type: ubyte; header: union; bodyLength: long; ... }
MESSAGE_VERSION, MESSAGE_HEADER_TYPE, MESSAGE_HEADER, MESSAGE_BODY_LENGTH = 0, 1, 2, 3
HEADER_SCHEMA, HEADER_RECORD_BATCH = 1, 3
MESSAGE_HEADERS = {
    0: "NONE",
    1: "Schema",
    2: "DictionaryBatch",
    3: "RecordBatch",
    4: "Tensor",
    5: "SparseTensor",
}
# Schema.fbs: table Schema { endianness: short; fields: [Field]; custom_metadata: [KeyValue]; features }
SCHEMA_ENDIANNESS, SCHEMA_FIELDS, SCHEMA_METADATA = 0, 1, 2
# table Field { name; nullable; type_type; type; dictionary; children; custom_metadata }
F_NAME, F_NULLABLE, F_TYPE_TYPE, F_TYPE, F_DICTIONARY, F_CHILDREN, F_METADATA = range(7)
# table DictionaryEncoding { id: long; indexType: Int; isOrdered: bool; dictionaryKind: short }
D_INDEX_TYPE, D_ORDERED = 1, 2

#: Schema.fbs ``union Type``: id -> name
TYPE_IDS: dict[int, str] = {
    1: "Null", 2: "Int", 3: "FloatingPoint", 4: "Binary", 5: "Utf8", 6: "Bool", 7: "Decimal", 8: "Date",
    9: "Time", 10: "Timestamp", 11: "Interval", 12: "List", 13: "Struct_", 14: "Union", 15: "FixedSizeBinary",
    16: "FixedSizeList", 17: "Map", 18: "Duration", 19: "LargeBinary", 20: "LargeUtf8", 21: "LargeList",
    22: "RunEndEncoded", 23: "BinaryView", 24: "Utf8View", 25: "ListView", 26: "LargeListView",
}  # fmt: skip
#: types with no parameters: pyarrow's name
PLAIN_TYPES: dict[str, str] = {
    "Null": "null", "Binary": "binary", "Utf8": "string", "Bool": "bool", "LargeBinary": "large_binary",
    "LargeUtf8": "large_string", "BinaryView": "binary_view", "Utf8View": "string_view",
}  # fmt: skip
#: one-child list-like types: pyarrow's prefix
LIST_TYPES: dict[str, str] = {
    "List": "list", "LargeList": "large_list", "ListView": "list_view", "LargeListView": "large_list_view",
}  # fmt: skip
# enum values arrow does not know fall back the way arrow's reader does (float -> double, date -> date64,
# time unit -> seconds, union mode -> dense); only an unknown interval unit is an error there too
FLOAT_PRECISIONS = {0: "halffloat", 1: "float", 2: "double"}
TIME_UNITS = {0: "s", 1: "ms", 2: "us", 3: "ns"}
TIME_UNITS_BY_WIDTH = {32: (0, 1), 64: (2, 3)}
DATE_UNITS = {0: "date32[day]", 1: "date64[ms]"}
INTERVAL_UNITS = {0: "month_interval", 1: "day_time_interval", 2: "month_day_nano_interval"}
UNION_MODES = {0: "sparse_union", 1: "dense_union"}
MAX_UNION_CODE = 127
INT_WIDTHS = (8, 16, 32, 64)
DECIMAL_WIDTHS = (32, 64, 128, 256)
#: canonical extension types pyarrow registers: name -> printed type (metadata keys are then dropped)
EXTENSION_KEYS = ("ARROW:extension:name", "ARROW:extension:metadata")
SIMPLE_EXTENSIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "arrow.uuid": ("extension<arrow.uuid>", ("fixed_size_binary[16]",)),
    "arrow.json": ("extension<arrow.json>", ("string", "large_string", "string_view")),
    "arrow.bool8": ("extension<arrow.bool8>", ("int8",)),
}


@dataclass
class ArrowField:
    name: str
    type: str  # exactly str(pyarrow_field.type)
    nullable: bool
    metadata: dict[str, str] = field(default_factory=dict)
    children: list[ArrowField] = field(default_factory=list)


@dataclass
class ArrowSchema:
    fields: list[ArrowField]
    metadata: dict[str, str]
    big_endian: bool = False
    size: int = 0  # bytes of the framed message (without the end-of-stream marker)


class FlatBuffer:
    """Bounds-checked FlatBuffers primitives over ``data[lo:hi]``; offsets in errors are absolute."""

    def __init__(self, data: bytes, lo: int, hi: int, origin: int):
        self.data, self.lo, self.hi, self.origin = data, lo, hi, origin

    def fail(self, pos: int, message: str) -> DecodeError:
        return DecodeError(LAYER, self.origin + pos, message, kind=CORRUPT)

    def _unpack(self, fmt: str, size: int, pos: int, blame: int | None = None) -> int:
        """Read at ``pos``; a bad read is reported at ``blame`` (the pointer that led here) when given."""
        if pos < self.lo or pos + size > self.hi:
            where = blame if blame is not None else min(max(pos, self.lo), self.hi)
            raise self.fail(
                where, f"read of {size} bytes at flatbuffer offset {pos - self.lo} is out of bounds"
            )
        return struct.unpack_from(fmt, self.data, pos)[0]

    def follow(self, p: int) -> int:
        """Target of the uoffset stored at ``p``."""
        target = p + self._unpack("<I", 4, p)
        if target >= self.hi:
            raise self.fail(p, "offset points past the end of the flatbuffer")
        return target

    def table(self, pos: int) -> tuple[int, int, int]:
        """(table position, vtable position, vtable size)."""
        vt = pos - self._unpack("<i", 4, pos)
        size = self._unpack("<H", 2, vt, blame=pos)
        if vt + size > self.hi:  # a vtable shorter than 4 bytes just means "every field absent"
            raise self.fail(pos, f"vtable of {size} bytes runs past the flatbuffer")
        return pos, vt, size

    def slot(self, tbl: tuple[int, int, int], fid: int) -> int | None:
        pos, vt, size = tbl
        at = 4 + 2 * fid
        if at + 2 > size:
            return None
        off = self._unpack("<H", 2, vt + at)
        if off and pos + off >= self.hi:
            raise self.fail(pos, f"field {fid} lies past the end of the flatbuffer")
        return pos + off if off else None

    def scalar(self, tbl: tuple[int, int, int], fid: int, fmt: str, default: int) -> int:
        p = self.slot(tbl, fid)
        return default if p is None else self._unpack(fmt, struct.calcsize(fmt), p)

    def ref(self, tbl: tuple[int, int, int], fid: int) -> int | None:
        p = self.slot(tbl, fid)
        return None if p is None else self.follow(p)

    def sub_table(self, tbl: tuple[int, int, int], fid: int) -> tuple[int, int, int] | None:
        p = self.ref(tbl, fid)
        return None if p is None else self.table(p)

    def string(self, pos: int) -> str:
        """A string as flatbuffers verifiers accept it: in bounds, UTF-8 (arrow-rs's verifier, so datafusion:
        ``Utf8Error``; pyarrow's does not check it) and NUL-terminated inside the buffer (both verifiers:
        ``MissingNullTerminator``, pyarrow's "Invalid flatbuffers message")."""
        n = self._unpack("<I", 4, pos)
        end = pos + 4 + n
        if end > self.hi:
            raise self.fail(pos, f"string of {n} bytes runs past the flatbuffer")
        try:
            text = bytes(self.data[pos + 4 : end]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                LAYER, self.origin + pos, f"string of {n} bytes at flatbuffer offset {pos - self.lo} is not UTF-8 "
                f"(byte {exc.start} of it; arrow-rs's flatbuffers verifier: Utf8Error)", kind=INVALID_UTF8,
            ) from None
        if end >= self.hi or self.data[end] != 0:
            raise self.fail(pos, f"string of {n} bytes at flatbuffer offset {pos - self.lo} has no NUL terminator "
                            "(flatbuffers verifier: MissingNullTerminator)")  # fmt: skip
        return text

    def opt_string(self, tbl: tuple[int, int, int], fid: int) -> str | None:
        p = self.ref(tbl, fid)
        return None if p is None else self.string(p)

    def vector(self, pos: int | None, elem: int) -> list[int]:
        """Positions of the elements of a vector (``elem`` bytes each)."""
        if pos is None:
            return []
        n = self._unpack("<I", 4, pos)
        if pos + 4 + n * elem > self.hi:
            raise self.fail(pos, f"vector of {n} elements runs past the flatbuffer")
        return [pos + 4 + i * elem for i in range(n)]

    def table_vector(self, tbl: tuple[int, int, int], fid: int) -> list[int]:
        return [self.follow(p) for p in self.vector(self.ref(tbl, fid), 4)]

    def key_values(self, tbl: tuple[int, int, int], fid: int) -> dict[str, str]:
        out: dict[str, str] = {}
        for p in self.table_vector(tbl, fid):
            kv = self.table(p)
            out[self.opt_string(kv, 0) or ""] = self.opt_string(kv, 1) or ""
        return out


class AlignedFlatBuffer(FlatBuffer):
    """FlatBuffer read as the flatbuffers verifiers read it (arrow-rs's: datafusion's ``Unaligned``; pyarrow's):
    a scalar, offset or vtable at a position not a multiple of its size is refused."""

    def _unpack(self, fmt: str, size: int, pos: int, blame: int | None = None) -> int:
        # out of bounds first: a position outside the buffer is reported as that, at a byte of the input
        if self.lo <= pos and pos + size <= self.hi and (pos - self.lo) % size:
            raise self.fail(pos, f"{size}-byte value at flatbuffer offset {pos - self.lo} is unaligned")
        return super()._unpack(fmt, size, pos, blame)

    def table(self, pos: int) -> tuple[int, int, int]:
        """A vtable must end aligned too: its size is a whole number of 2-byte slots."""
        tbl = super().table(pos)
        if tbl[2] % 2:
            raise self.fail(pos, f"vtable of {tbl[2]} bytes at flatbuffer offset {tbl[1] - self.lo} ends unaligned")
        return tbl

    def struct_vector(self, tbl: tuple[int, int, int], fid: int, elem: int) -> None:
        """A vector of 8-byte-aligned structs (FieldNode, Buffer) or int64s: its data must be aligned too."""
        pos = self.ref(tbl, fid)
        if pos is not None and (pos + 4 - self.lo) % 8:
            raise self.fail(pos, "vector of 8-byte values is unaligned")
        self.vector(pos, elem)


def read_schema(data: bytes, origin: int = 0) -> list[ArrowField]:
    """The fields of a schema-only IPC stream, with pyarrow's type strings."""
    return read_schema_message(data, origin).fields


def read_schema_message(data: bytes, origin: int = 0) -> ArrowSchema:
    """Read the framed Schema message at the start of ``data``."""
    if data[:4] == CONTINUATION:
        head = 8
        if len(data) < head:
            raise DecodeError(LAYER, origin + len(data), "truncated message length", kind=TRUNCATED)
        (length,) = struct.unpack_from("<i", data, 4)
    else:  # legacy framing (before Arrow 0.15): no continuation marker
        head = 4
        if len(data) < head:
            raise DecodeError(LAYER, origin, "truncated IPC message: fewer than 4 bytes", kind=TRUNCATED)
        (length,) = struct.unpack_from("<i", data, 0)
    if length <= 0:
        raise DecodeError(LAYER, origin + head - 4, f"no schema message (metadata length {length})", kind=CORRUPT)
    if head + length > len(data):
        raise DecodeError(
            LAYER, origin + head - 4, f"metadata length {length} runs past the end ({len(data) - head} bytes)",
            kind=UNDERFLOW,
        )
    fb = AlignedFlatBuffer(data, head, head + length, origin)
    root = fb.follow(head)
    msg = fb.table(root)
    fb.scalar(msg, MESSAGE_VERSION, "<h", 0)  # unused, but the verifier reads it (aligned, in bounds)
    header_type = fb.scalar(msg, MESSAGE_HEADER_TYPE, "<B", 0)
    if header_type != HEADER_SCHEMA:
        kind = MESSAGE_HEADERS.get(header_type, f"unknown header {header_type}")
        raise fb.fail(root, f"expected a Schema message, found {kind}")
    schema = fb.sub_table(msg, MESSAGE_HEADER)
    if schema is None:
        raise fb.fail(root, "Schema message without a header table")
    body = fb.scalar(msg, MESSAGE_BODY_LENGTH, "<q", 0)
    fields = _read_fields(fb, fb.table_vector(schema, SCHEMA_FIELDS))
    return ArrowSchema(
        fields=fields,
        metadata=fb.key_values(schema, SCHEMA_METADATA),
        big_endian=fb.scalar(schema, SCHEMA_ENDIANNESS, "<h", 0) == 1,
        size=head + length + max(body, 0),
    )


def stream_batch_count(data: bytes, origin: int = 0) -> int:
    """How many RecordBatch messages an IPC stream holds (a memory table partition's ``partition_sizes`` entry).

    Zero bytes are an empty partition (datafusion writes it so); the walk stops at the end-of-stream marker,
    at the end of the bytes, or at a frame that does not read (what was counted so far stands).
    """
    count, pos = 0, 0
    while pos + 8 <= len(data) and data[pos : pos + 4] == CONTINUATION:
        (length,) = struct.unpack_from("<i", data, pos + 4)
        if length <= 0 or pos + 8 + length > len(data):
            break
        fb = FlatBuffer(data, pos + 8, pos + 8 + length, origin)
        try:
            msg = fb.table(fb.follow(pos + 8))
            header_type = fb.scalar(msg, MESSAGE_HEADER_TYPE, "<B", 0)
            body = fb.scalar(msg, MESSAGE_BODY_LENGTH, "<q", 0)
        except DecodeError:
            break
        count += header_type == HEADER_RECORD_BATCH
        pos += 8 + length + max(body, 0)
    return count


@dataclass
class _Frame:
    pos: int
    depth: int
    children: list[int]
    done: list[ArrowField] = field(default_factory=list)


def _read_fields(fb: FlatBuffer, top: list[int]) -> list[ArrowField]:
    """Post-order walk with an explicit stack; the root frame stands for the schema itself."""
    budget = (fb.hi - fb.lo) // 4 + 1  # a field costs at least a 4-byte vector slot unless tables are shared
    root = _Frame(pos=-1, depth=0, children=top)
    stack = [root]
    while stack:
        frame = stack[-1]
        if len(frame.done) < len(frame.children):
            pos = frame.children[len(frame.done)]
            if frame.depth >= MAX_DEPTH:
                raise fb.fail(pos, f"fields nested deeper than {MAX_DEPTH} levels")
            budget -= 1
            if budget < 0:
                raise fb.fail(pos, "more fields than the buffer can hold (shared or cyclic field tables)")
            stack.append(_Frame(pos, frame.depth + 1, fb.table_vector(fb.table(pos), F_CHILDREN)))
            continue
        stack.pop()
        if stack:
            stack[-1].done.append(_make_field(fb, frame.pos, frame.done))
    return root.done


def _make_field(fb: FlatBuffer, pos: int, children: list[ArrowField]) -> ArrowField:
    tbl = fb.table(pos)
    metadata = fb.key_values(tbl, F_METADATA)
    type_str = _type_string(fb, tbl, pos, children)
    dictionary = fb.sub_table(tbl, F_DICTIONARY)
    if dictionary is not None:
        index = fb.sub_table(dictionary, D_INDEX_TYPE)
        indices = "int32" if index is None else _int_type(fb, index, pos)
        ordered = fb.scalar(dictionary, D_ORDERED, "<B", 0) != 0
        type_str = f"dictionary<values={type_str}, indices={indices}, ordered={int(ordered)}>"
    type_str = _extension(type_str, metadata, children)
    return ArrowField(
        name=fb.opt_string(tbl, F_NAME) or "",
        type=type_str,
        nullable=fb.scalar(tbl, F_NULLABLE, "<B", 0) != 0,
        metadata=metadata,
        children=children,
    )


def _field_text(f: ArrowField) -> str:
    """arrow C++ ``Field::ToString``: how nested types print their children."""
    return f"{f.name}: {f.type}" + ("" if f.nullable else " not null")


def _int_type(fb: FlatBuffer, tbl: tuple[int, int, int], pos: int) -> str:
    width = fb.scalar(tbl, 0, "<i", 0)
    if width not in INT_WIDTHS:
        raise fb.fail(pos, f"integer bit width {width}")
    return ("int" if fb.scalar(tbl, 1, "<B", 0) else "uint") + str(width)


def _unit(fb: FlatBuffer, table: dict[int, str], value: int, pos: int, what: str) -> str:
    if value not in table:
        raise fb.fail(pos, f"unknown {what} {value}")
    return table[value]


def _time_unit(value: int) -> int:
    """arrow's ``FromFlatbufferUnit``: an unknown unit reads as seconds."""
    return value if value in TIME_UNITS else 0


def _type_string(fb: FlatBuffer, tbl: tuple[int, int, int], pos: int, children: list[ArrowField]) -> str:
    type_id = fb.scalar(tbl, F_TYPE_TYPE, "<B", 0)
    name = TYPE_IDS.get(type_id)
    if name is None:
        raise fb.fail(pos, f"unknown type id {type_id}")
    t = fb.sub_table(tbl, F_TYPE)
    if t is None:
        raise fb.fail(pos, f"{name} field without its type table")
    if name in PLAIN_TYPES:
        return PLAIN_TYPES[name]
    if name == "Int":
        return _int_type(fb, t, pos)
    if name == "FloatingPoint":
        return FLOAT_PRECISIONS.get(fb.scalar(t, 0, "<h", 0), "double")
    if name == "Decimal":
        precision, scale, width = (
            fb.scalar(t, 0, "<i", 0),
            fb.scalar(t, 1, "<i", 0),
            fb.scalar(t, 2, "<i", 128),
        )
        if width not in DECIMAL_WIDTHS:
            raise fb.fail(pos, f"decimal bit width {width}")
        return f"decimal{width}({precision}, {scale})"
    if name == "Date":
        return DATE_UNITS.get(fb.scalar(t, 0, "<h", 1), "date64[ms]")
    if name == "Time":
        unit, width = _time_unit(fb.scalar(t, 0, "<h", 1)), fb.scalar(t, 1, "<i", 32)
        if unit not in TIME_UNITS_BY_WIDTH.get(width, ()):
            raise fb.fail(pos, f"time unit {unit} with bit width {width}")
        return f"time{width}[{TIME_UNITS[unit]}]"
    if name == "Timestamp":
        unit = TIME_UNITS[_time_unit(fb.scalar(t, 0, "<h", 0))]
        tz = fb.opt_string(t, 1)
        return f"timestamp[{unit}, tz={tz}]" if tz else f"timestamp[{unit}]"
    if name == "Duration":
        return f"duration[{TIME_UNITS[_time_unit(fb.scalar(t, 0, '<h', 1))]}]"
    if name == "Interval":
        return _unit(fb, INTERVAL_UNITS, fb.scalar(t, 0, "<h", 0), pos, "interval unit")
    if name == "FixedSizeBinary":
        return f"fixed_size_binary[{fb.scalar(t, 0, '<i', 0)}]"
    if name in LIST_TYPES or name == "FixedSizeList":
        if len(children) != 1:
            raise fb.fail(pos, f"{name} field with {len(children)} children (expected 1)")
        if name == "FixedSizeList":
            return f"fixed_size_list<{_field_text(children[0])}>[{fb.scalar(t, 0, '<i', 0)}]"
        return f"{LIST_TYPES[name]}<{_field_text(children[0])}>"
    if name == "Struct_":
        return "struct<" + ", ".join(_field_text(c) for c in children) + ">"
    if name == "Union":
        mode = UNION_MODES[0 if fb.scalar(t, 0, "<h", 0) == 0 else 1]
        ids_pos = fb.vector(fb.ref(t, 1), 4)
        codes = [fb._unpack("<i", 4, p) for p in ids_pos] if ids_pos else list(range(len(children)))
        if len(codes) != len(children) or not all(0 <= c <= MAX_UNION_CODE for c in codes):
            raise fb.fail(pos, f"union with {len(children)} children and type ids {codes[:8]}")
        parts = (f"{_field_text(c)}={code}" for c, code in zip(children, codes, strict=True))
        return f"{mode}<" + ", ".join(parts) + ">"
    if name == "Map":
        return _map_type(fb, children, fb.scalar(t, 0, "<B", 0) != 0, pos)
    if name == "RunEndEncoded":
        if len(children) != 2:
            raise fb.fail(pos, f"RunEndEncoded field with {len(children)} children (expected 2)")
        return f"run_end_encoded<run_ends: {children[0].type}, values: {children[1].type}>"
    raise fb.fail(pos, f"unsupported type {name}")  # pragma: no cover - every TYPE_IDS name is handled


def _map_type(fb: FlatBuffer, children: list[ArrowField], keys_sorted: bool, pos: int) -> str:
    """arrow's IPC reader rebuilds a map from its key and item *types* (standard child names)."""
    entries = children[0] if len(children) == 1 else None
    if (
        entries is None
        or entries.nullable
        or len(entries.children) != 2
        or not entries.type.startswith("struct<")
    ):
        raise fb.fail(pos, "Map field must have one non-nullable struct child with two children")
    key, value = entries.children
    if key.nullable:
        raise fb.fail(pos, "Map keys must be non-nullable")
    return f"map<{key.type}, {value.type}" + (", keys_sorted>" if keys_sorted else ">")


def _extension(type_str: str, metadata: dict[str, str], children: list[ArrowField]) -> str:
    """pyarrow turns registered canonical extension types into ``extension<…>`` and drops their keys.

    Anything it would not recognize (unknown name, wrong storage, bad JSON) stays the storage type.
    """
    ext = metadata.get(EXTENSION_KEYS[0])
    if ext is None:
        return type_str
    printed: str | None = None
    if ext in SIMPLE_EXTENSIONS:
        text, storages = SIMPLE_EXTENSIONS[ext]
        printed = text if type_str in storages else None
    elif ext in ("arrow.opaque", "arrow.fixed_shape_tensor"):
        import json  # only extension-typed fields need it

        try:
            params = json.loads(metadata.get(EXTENSION_KEYS[1], ""))
        except ValueError:
            params = None
        if isinstance(params, dict):
            printed = _parametric_extension(ext, params, type_str, children)
    if printed is None:
        return type_str
    for key in EXTENSION_KEYS:
        metadata.pop(key, None)
    return printed


def _parametric_extension(ext: str, params: dict, type_str: str, children: list[ArrowField]) -> str | None:
    if ext == "arrow.opaque":
        tn, vn = params.get("type_name"), params.get("vendor_name")
        if not isinstance(tn, str) or not isinstance(vn, str):
            return None
        return f"extension<arrow.opaque[storage_type={type_str}, type_name={tn}, vendor_name={vn}]>"
    shape = params.get("shape")
    if not type_str.startswith("fixed_size_list<") or len(children) != 1 or not _int_list(shape):
        return None
    text = f"extension<arrow.fixed_shape_tensor[value_type={children[0].type}, shape={_ints(shape)}"
    permutation, dim_names = params.get("permutation"), params.get("dim_names")
    if permutation:
        if not _int_list(permutation):
            return None
        text += f", permutation={_ints(permutation)}"
    if dim_names:
        if not isinstance(dim_names, list) or not all(isinstance(d, str) for d in dim_names):
            return None
        text += f", dim_names=[{','.join(dim_names)}]"
    return text + "]>"


def _int_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _ints(values: list[int]) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"
