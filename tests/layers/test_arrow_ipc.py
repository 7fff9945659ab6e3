"""The pyarrow-free schema reader against pyarrow itself (the ground truth for every type string)."""

from __future__ import annotations

import io
import struct
import subprocess
import sys

import pyarrow as pa
import pytest
from datafusion import col, udaf, udf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.blobs import MySum, double_it

from datafusion_exprtool.errors import INVALID_UTF8, DecodeError
from datafusion_exprtool.layers import arrow_ipc
from datafusion_exprtool.layers.arrow_ipc import ArrowField, read_schema, read_schema_message

TYPES = [
    pa.null(), pa.bool_(), pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(),
    pa.uint32(), pa.uint64(), pa.float16(), pa.float32(), pa.float64(), pa.string(), pa.large_string(),
    pa.string_view(), pa.binary(), pa.large_binary(), pa.binary_view(), pa.binary(7), pa.date32(),
    pa.date64(), pa.time32("s"), pa.time32("ms"), pa.time64("us"), pa.time64("ns"), pa.timestamp("s"),
    pa.timestamp("us", tz="UTC"), pa.timestamp("ns", tz="+07:30"), pa.timestamp("ms", tz="America/New_York"),
    pa.duration("s"), pa.duration("ms"), pa.duration("us"), pa.duration("ns"), pa.decimal128(10, 3),
    pa.decimal128(38, -2), pa.decimal256(40, 5), pa.decimal32(5, 2), pa.decimal64(12, 3),
    pa.month_day_nano_interval(), pa.list_(pa.int64()), pa.large_list(pa.int64()), pa.list_(pa.int32(), 3),
    pa.list_(pa.field("item", pa.int64(), nullable=False)), pa.list_(pa.field("x", pa.string(), metadata={"a": "b"})),
    pa.large_list(pa.field("e", pa.int8(), nullable=False)), pa.list_(pa.field("v", pa.int16(), nullable=False), 2),
    pa.list_view(pa.int32()), pa.large_list_view(pa.int8()), pa.struct([]),
    pa.struct([("x", pa.int64()), ("y", pa.string())]), pa.struct([pa.field("x", pa.int64(), nullable=False)]),
    pa.map_(pa.string(), pa.int64()), pa.map_(pa.string(), pa.int64(), keys_sorted=True),
    pa.map_(pa.string(), pa.field("v", pa.int64(), nullable=False)),
    pa.map_(pa.field("k", pa.int32(), nullable=False), pa.list_(pa.string())),
    pa.dictionary(pa.int16(), pa.string()), pa.dictionary(pa.uint8(), pa.large_string(), ordered=True),
    pa.dictionary(pa.int64(), pa.list_(pa.int8())), pa.run_end_encoded(pa.int32(), pa.string()),
    pa.run_end_encoded(pa.int64(), pa.list_(pa.int8())),
    pa.dense_union([pa.field("a", pa.int32()), pa.field("b", pa.string(), nullable=False)]),
    pa.sparse_union([pa.field("a", pa.int32())], [5]), pa.sparse_union([pa.field("a", pa.int8()), pa.field("b", pa.null())], [127, 3]),
    pa.uuid(), pa.json_(), pa.json_(pa.large_string()), pa.bool8(), pa.opaque(pa.int32(), "n", "v"),
    pa.fixed_shape_tensor(pa.int32(), [2, 2]), pa.fixed_shape_tensor(pa.float64(), [2, 3], permutation=[1, 0], dim_names=["a", "b"]),
    pa.struct([("m", pa.map_(pa.string(), pa.struct([("d", pa.dictionary(pa.int8(), pa.string()))])))]),
]  # fmt: skip


def expected(schema: pa.Schema) -> list[tuple]:
    """What pyarrow reads back, in the reader's terms."""
    return [_field_tuple(f) for f in schema]


def _field_tuple(f: pa.Field) -> tuple:
    md = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
    return (f.name, str(f.type), f.nullable, md)


def got(fields: list[ArrowField]) -> list[tuple]:
    return [(f.name, f.type, f.nullable, f.metadata) for f in fields]


def as_stream(schema: pa.Schema) -> bytes:
    """Schema-only IPC stream with end-of-stream, the way datafusion writes UDF schemas (§2.4)."""
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, schema):
        pass
    return sink.getvalue()


def truth(blob: bytes) -> list[tuple]:
    return expected(pa.ipc.read_schema(pa.py_buffer(blob)))


@pytest.mark.parametrize("t", TYPES, ids=str)
@pytest.mark.parametrize("nullable", [True, False])
def test_type_strings_match_pyarrow(t: pa.DataType, nullable: bool) -> None:
    nullable = nullable or t == pa.null()  # pyarrow refuses a non-nullable null field
    schema = pa.schema(
        [pa.field("f", t, nullable=nullable, metadata={"k": "v", "ü": "ß"})], metadata={"s": "1"}
    )
    for blob in (as_stream(schema), schema.serialize().to_pybytes()):
        assert got(read_schema(blob)) == truth(blob)
    msg = read_schema_message(as_stream(schema), 0)
    assert msg.metadata == {"s": "1"}
    assert as_stream(schema)[msg.size :] == b"\xff\xff\xff\xff\x00\x00\x00\x00"


def test_children_are_read() -> None:
    t = pa.struct([pa.field("x", pa.list_(pa.field("e", pa.int8(), nullable=False)), metadata={"a": "b"})])
    (f,) = read_schema(as_stream(pa.schema([pa.field("s", t)])))
    (x,) = f.children
    assert (x.name, x.type, x.metadata) == ("x", "list<e: int8 not null>", {"a": "b"})
    assert [(c.name, c.nullable) for c in x.children] == [("e", False)]


def test_many_fields_and_names() -> None:
    schema = pa.schema(
        [pa.field(n, t) for n, t in zip(["", "a b", "ünï", "x" * 300, "arg_0"], TYPES[:5], strict=True)]
    )
    blob = as_stream(schema)
    assert got(read_schema(blob)) == truth(blob)


def test_legacy_framing_without_continuation() -> None:
    blob = pa.schema([pa.field("a", pa.int64())]).serialize().to_pybytes()
    (length,) = struct.unpack_from("<i", blob, 4)
    legacy = blob[4:]
    assert got(read_schema(legacy)) == truth(blob)
    assert read_schema_message(legacy).size == 4 + length


# ---- real datafusion UDF payloads -------------------------------------------------------------


def schema_blobs(blob: bytes) -> list[tuple[int, bytes]]:
    """(offset, bytes) of every pickled bytes object that starts with the IPC continuation marker."""
    out = []
    start = 0
    while (i := blob.find(b"\xff\xff\xff\xff", start)) >= 0:
        start = i + 1
        if i >= 5 and blob[i - 5] == 0x42:  # BINBYTES + u32 length
            n = struct.unpack_from("<I", blob, i - 4)[0]
        elif i >= 2 and blob[i - 2] == 0x43:  # SHORT_BINBYTES + u8 length
            n = blob[i - 1]
        else:
            continue
        out.append((i, blob[i : i + n]))
    return out


def test_real_udf_schema_blobs() -> None:
    ret = pa.field("out", pa.struct([("a", pa.list_(pa.int64()))]), nullable=False, metadata={"k": "v"})
    scalar = udf(double_it, [pa.int64(), pa.dictionary(pa.int8(), pa.string())], ret, "stable", name="dbl")
    agg = udaf(
        MySum, [pa.decimal128(10, 2)], pa.float64(), [pa.int64(), pa.list_(pa.int32())], "immutable", name="s"
    )
    blob = scalar(col("a"), col("b")).to_bytes() + agg(col("c")).to_bytes()
    found = schema_blobs(blob)
    assert len(found) == 5  # scalar: inputs, return; aggregate: inputs, return, state
    for offset, b in found:
        assert b.endswith(b"\xff\xff\xff\xff\x00\x00\x00\x00")
        assert got(read_schema(b, offset)) == truth(b)
    by_type = {tuple(f.type for f in read_schema(b)) for _o, b in found}
    assert ("int64", "dictionary<values=string, indices=int8, ordered=0>") in by_type
    returns = [read_schema(b)[0] for _o, b in found if read_schema(b)[0].name == "out"]
    assert [(f.type, f.nullable, f.metadata) for f in returns] == [
        ("struct<a: list<item: int64>>", False, {"k": "v"})
    ]


# ---- random nested types ----------------------------------------------------------------------

_names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
_meta = st.dictionaries(_names, _names, max_size=2)
_leaves = st.sampled_from([t for t in TYPES if not isinstance(t, pa.BaseExtensionType) and t.num_fields == 0]
                          + [pa.timestamp("ns", tz="Europe/Paris")])  # fmt: skip
_index = st.sampled_from([pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32()])


def _make_field(name: str, t: pa.DataType, nullable: bool, meta: dict[str, str]) -> pa.Field:
    return pa.field(name, t, nullable or t == pa.null(), meta)


def _field(types: st.SearchStrategy) -> st.SearchStrategy:
    return st.builds(_make_field, _names, types, st.booleans(), _meta)


def _nest(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        _field(children).map(pa.list_),
        _field(children).map(pa.large_list),
        st.builds(pa.list_, _field(children), st.integers(0, 5)),
        _field(children).map(pa.list_view),
        st.lists(_field(children), max_size=3).map(pa.struct),
        st.builds(pa.map_, _leaves.filter(lambda t: t != pa.null()), _field(children), st.booleans()),
        st.builds(pa.run_end_encoded, st.sampled_from([pa.int16(), pa.int32(), pa.int64()]), children),
        st.lists(_field(children), min_size=1, max_size=3).map(pa.dense_union),
        st.lists(_field(children), min_size=1, max_size=3).map(pa.sparse_union),
    )


_types = st.recursive(
    st.one_of(_leaves, st.builds(pa.dictionary, _index, _leaves, st.booleans())), _nest, max_leaves=8
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_field(_types), max_size=3), _meta)
def test_random_nested_schemas(fields: list[pa.Field], meta: dict[str, str]) -> None:
    schema = pa.schema(fields, metadata=meta or None)
    blob = as_stream(schema)
    assert got(read_schema(blob, 1000)) == truth(blob)


# ---- hostile input ----------------------------------------------------------------------------


def _nested_list(depth: int) -> pa.DataType:
    t: pa.DataType = pa.int8()
    for _ in range(depth):
        t = pa.list_(t)
    return t


def test_depth_cap() -> None:
    ok = as_stream(pa.schema([pa.field("d", _nested_list(arrow_ipc.MAX_DEPTH - 1))]))
    assert got(read_schema(ok)) == truth(ok)
    deep = as_stream(pa.schema([pa.field("d", _nested_list(arrow_ipc.MAX_DEPTH + 20))]))
    with pytest.raises(DecodeError) as info:
        read_schema(deep, 50)
    assert info.value.layer == "arrow-ipc" and "deeper" in info.value.message
    assert info.value.offset is not None and 50 <= info.value.offset < 50 + len(deep)


def test_shared_children_are_bounded() -> None:
    """Point the second child of every struct at the first: 2**40 fields unless a budget stops it."""
    t: pa.DataType = pa.int8()
    for _ in range(40):
        t = pa.struct([("a", t), ("b", pa.int8())])
    blob = bytearray(as_stream(pa.schema([pa.field("s", t)])))
    fb = arrow_ipc.FlatBuffer(bytes(blob), 8, len(blob), 0)
    msg = fb.table(fb.follow(8))
    schema = fb.sub_table(msg, arrow_ipc.MESSAGE_HEADER)
    assert schema is not None
    todo = fb.table_vector(schema, arrow_ipc.SCHEMA_FIELDS)
    patched = 0
    while todo:
        tbl = fb.table(todo.pop())
        slots = fb.vector(fb.ref(tbl, arrow_ipc.F_CHILDREN), 4)
        if len(slots) == 2:
            first = fb.follow(slots[0])
            struct.pack_into("<I", blob, slots[1], first - slots[1])
            patched += 1
            todo.append(first)
    assert patched == 40
    with pytest.raises(DecodeError) as info:
        read_schema(bytes(blob))
    assert "more fields than" in info.value.message


@pytest.mark.parametrize(
    "data, needle",
    [
        (b"", "fewer than 4"),
        (b"\xff\xff\xff\xff\x00\x00", "truncated"),
        (b"\xff\xff\xff\xff\x00\x00\x00\x00", "no schema"),
        (b"\xff\xff\xff\xff\x10\x00\x00\x00abc", "runs past"),
    ],
)
def test_framing_errors(data: bytes, needle: str) -> None:
    with pytest.raises(DecodeError) as info:
        read_schema(data, 7)
    assert needle in info.value.message and info.value.layer == "arrow-ipc"


def test_record_batch_message_is_rejected() -> None:
    batch = pa.record_batch([pa.array([1, 2])], names=["a"])
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    data = sink.getvalue()
    size = read_schema_message(data).size
    with pytest.raises(DecodeError) as info:
        read_schema(data[size:], size)
    assert "RecordBatch" in info.value.message


_SAMPLES = [as_stream(pa.schema([pa.field("f", t, metadata={"a": "b"})])) for t in TYPES]


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(_SAMPLES), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
       st.integers(1, 10**6))  # fmt: skip
def test_corrupted_bytes_agree_with_pyarrow(sample: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    """Mutated blobs: only DecodeError, at an offset inside the input; whatever pyarrow reads, we read the same."""
    data = bytearray(sample)
    for pos, value in flips:
        data[pos % len(data)] = value
    blob = bytes(data[: max(cut % (len(data) + 1), 1)])
    try:
        ours = got(read_schema(blob, 3))
    except DecodeError as exc:
        assert exc.layer == "arrow-ipc"
        assert exc.offset is not None and 3 <= exc.offset <= 3 + len(blob)
        if exc.kind == INVALID_UTF8:
            return  # arrow-rs (datafusion) refuses a non-UTF-8 string; pyarrow reads it with U+FFFD
        ours = None
    try:
        theirs = truth(blob)
    except (pa.ArrowException, OSError, ValueError):
        return
    assert ours == theirs


def test_import_does_not_load_pyarrow() -> None:
    code = (
        "import sys; import datafusion_exprtool.layers.arrow_ipc as m; "
        "m.read_schema(bytes.fromhex(sys.argv[1])); "
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('pyarrow', 'datafusion', 'numpy')))"
    )
    blob = as_stream(pa.schema([pa.field("a", pa.int64())]))
    out = subprocess.run([sys.executable, "-c", code, blob.hex()], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _name_damaged(how: str) -> tuple[bytes, int]:
    """A one-field schema stream with its field name damaged as ``how`` says, and the offset of the name's
    length prefix (where the reader must point)."""
    blob = bytearray(as_stream(pa.schema([pa.field("arg_0", pa.int64())])))
    at = blob.index(b"arg_0")
    if how == "short":  # the length says 1: the byte after "a" is "r", no NUL terminator
        blob[at - 4] = 1
    elif how == "terminator":  # the terminator overwritten
        blob[at + 5] = ord("X")
    else:  # "utf8": a byte no UTF-8 text has there
        blob[at + 1] ^= 0x80
    return bytes(blob), at - 4


@pytest.mark.parametrize("how", ["short", "terminator", "utf8"])
def test_unterminated_or_non_utf8_string_is_refused(how: str) -> None:
    """Every flatbuffers verifier wants a string NUL-terminated; arrow-rs's (datafusion's) also wants it
    UTF-8 (MissingNullTerminator / Utf8Error: datafusion refuses the UDF). pyarrow agrees on the terminator."""
    blob, length_at = _name_damaged(how)
    with pytest.raises(DecodeError) as info:
        read_schema(blob, 100)
    assert info.value.layer == "arrow-ipc" and info.value.offset == 100 + length_at
    if how != "utf8":
        with pytest.raises(OSError, match="Invalid flatbuffers"):
            truth(blob)


def test_an_offset_before_the_buffer_is_out_of_bounds_not_unaligned() -> None:
    """A vtable offset pointing before the flatbuffer's start (hypothesis found one: offset -9) was reported as
    "unaligned" at a byte before the input; it is out of bounds, at a byte inside it."""
    refused = 0
    for sample in _SAMPLES:
        data = bytearray(sample)
        data[228 % len(data)] = 45
        blob = bytes(data[:176])
        try:
            read_schema(blob, 3)
        except DecodeError as exc:
            refused += 1
            assert exc.offset is not None and 3 <= exc.offset <= 3 + len(blob), exc
    assert refused
