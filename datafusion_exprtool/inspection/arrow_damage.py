"""Arrow IPC damage inside a protobuf payload: nested literal values and memory-table rows that datafusion
cannot read back, found by reading them with pyarrow (plain data: nothing in the blob is executed).

A nested ScalarValue (List, LargeList, FixedSizeList, Struct, Map) carries a one-column record batch
(``ipc_message`` + ``arrow_data``); a physical plan's memory table carries IPC streams. pyarrow reads and fully
validates both, as arrow-rs does when datafusion decodes the blob; where pyarrow is stricter than arrow-rs
(its flatbuffer verifier, a struct's own length, the metadata version) it is no verdict, and where arrow-rs
is stricter (it slices every buffer declared) ``layers/arrow_batches.py`` predicts its panic.

Each damaged value is an inspection warning in ``model.DAMAGE_IDS`` (``literal-value-corrupt``,
``table-rows-corrupt``): ``inspect`` exits 3 on it and ``check`` reports it as an error, from this one reading.
pyarrow is imported only for a blob that carries such values (the scan records where they are).
"""

from __future__ import annotations

import struct
from typing import Any

from datafusion_exprtool.layers.arrow_batches import (
    field_nodes,
    message_reads,
    slice_panic,
    stream_reads,
    stream_slice_panic,
    with_body_length,
)
from datafusion_exprtool.layers.proto.scan_result import ScanResult
from datafusion_exprtool.model import Finding
from datafusion_exprtool.text.engine import children, evaluate

#: what pyarrow refuses in an IPC stream and arrow-rs reads (a metadata version arrow-rs does not check)
PYARROW_ONLY = "Old metadata version not supported"
#: pyarrow's refusal of a buffer that does not start on an 8-byte boundary: arrow-rs copies it aligned
UNALIGNED_BUFFER = "did not start on 8-byte aligned offset"
#: pyarrow's complaints when a struct's own length differs from its column's or its children's (a struct
#: column, or one nested in a list or a map's entries): arrow-rs ignores a struct node's length when it has no
#: nulls (its children give it), so these are no verdict when no struct node counts a null
LENGTH_MISMATCH = "Array length did not match record batch length"
STRUCT_LENGTH = "has length smaller than expected for struct array"
LITERAL_ID = "literal-value-corrupt"
ROWS_ID = "table-rows-corrupt"


def arrow_damage(scanned: ScanResult) -> list[Finding]:
    """Warnings for the nested literals and memory-table partitions of one scanned payload that do not read."""
    if not scanned.nested_literals and not any(b > a for _o, a, b in scanned.table_rows):
        return []
    import pyarrow as pa  # noqa: PLC0415  (only a blob that carries Arrow record batches pays for pyarrow)

    out: list[Finding] = []
    for value in scanned.nested_literals:
        why = _literal_unreadable(pa, value)
        if why is not None:
            text, reason = why
            out.append(Finding(
                id=LITERAL_ID, severity="warning", layer="arrow-ipc", offset=value.offset, datafusion_text=text,
                message=f"the nested literal at byte {value.offset} does not read back: {reason}",
            ))  # fmt: skip
    buf = scanned.root.buf
    for offset, a, b in scanned.table_rows:
        why = _rows_unreadable(pa, memoryview(buf)[a:b]) if b > a else None  # no bytes: an empty partition
        if why is not None:
            text, problem = why
            out.append(Finding(
                id=ROWS_ID, severity="warning", layer="arrow-ipc", offset=offset, datafusion_text=text,
                message=f"the memory-table partition (Arrow IPC stream, field at byte {offset}) does not read: "
                f"{problem}",
            ))  # fmt: skip
    return out


def _rows_unreadable(pa: Any, data: memoryview) -> tuple[str, str] | None:
    """(datafusion's text or "", pyarrow's or arrow-rs's problem) when a partition does not read; else None."""
    try:
        pa.ipc.open_stream(pa.py_buffer(data)).read_all().validate(full=True)
    except (pa.ArrowException, ValueError, OSError) as exc:
        problem = str(exc)
        if PYARROW_ONLY in problem or ("flatbuffer" in problem.lower() and stream_reads(bytes(data))):
            return None  # pyarrow's own strictness: arrow-rs reads these messages
        if "flatbuffer" not in problem.lower():  # a buffer past the body: arrow-rs panics slicing it
            return stream_slice_panic(bytes(data)) or "", problem
        return "", problem
    said = stream_slice_panic(bytes(data))  # pyarrow skips a buffer it does not need; arrow-rs slices it
    return (said, said) if said else None


def _literal_unreadable(pa: Any, value: Any) -> tuple[str, str] | None:
    """(datafusion's text or "", why) when the literal's record batch does not read; None when it does or
    when its schema is beyond what this reader converts (dictionaries, an unsupported type: not judged)."""
    from datafusion_exprtool.text.nested import pa_field  # noqa: PLC0415

    d = value.to_dict()
    schema = d.get("schema")
    fields = list(children(schema, 1, "Field")) if schema is not None else []
    if d.get("dictionaries") or len(fields) != 1:
        return None
    try:
        field = evaluate(pa_field(pa, fields[0]))
    except Exception:  # noqa: BLE001  (a type this reader does not convert: no verdict)
        return None
    if "dictionary" in str(field.type):
        return None
    ipc, body = d.get("ipc_message", b""), d.get("arrow_data", b"")
    ipc = with_body_length(ipc, len(body))
    if ipc is None:
        return None
    pad = (-len(ipc)) % 8
    framed = b"\xff\xff\xff\xff" + struct.pack("<i", len(ipc) + pad) + ipc + b"\0" * pad + body
    panic = slice_panic(ipc, len(body))
    try:
        batch = pa.ipc.read_record_batch(pa.ipc.read_message(pa.py_buffer(framed)), pa.schema([field]))
        batch.validate(full=True)
    except (pa.ArrowException, ValueError, OSError, TypeError, IndexError) as exc:
        text = str(exc)
        if (LENGTH_MISMATCH in text or STRUCT_LENGTH in text) and _structs_without_nulls(pa, field, ipc):
            return None  # arrow-rs: the children's length
        if PYARROW_ONLY in text or UNALIGNED_BUFFER in text:  # pyarrow's strictness alone: arrow-rs reads on
            return (panic, "arrow-rs slices a buffer pyarrow skips") if panic is not None else None
        if "flatbuffer" in text.lower():  # pyarrow's verifier: arrow-rs's differs (judged by reading it)
            return None if message_reads(ipc) else ("", f"pyarrow: {text}")
        return panic or "", f"pyarrow: {text}"
    return (panic, "arrow-rs slices a buffer pyarrow skips") if panic is not None else None



def _structs_without_nulls(pa: Any, field: Any, ipc: bytes) -> bool:
    """Whether the literal has a struct node (a Map's entries are one), none of them counts a null and the
    children of each agree on their length: then arrow-rs builds each struct from its children (its
    ``StructArray::new``), whatever length the struct's own node declares."""
    nodes = field_nodes(ipc)
    if nodes is None:
        return False
    structs: dict[int, list[int]] = {}  # a struct node's index -> its children's
    index = 0
    todo: list[tuple[Any, int | None]] = [(field.type, None)]
    while todo:  # the field nodes' order: depth first, a node before its children
        t, parent = todo.pop()
        if parent is not None:
            structs[parent].append(index)
        if pa.types.is_struct(t):
            structs[index] = []
            todo.extend((t.field(i).type, index) for i in reversed(range(t.num_fields)))
        elif pa.types.is_map(t):  # map<entries: struct<key, value>>: the entries node follows the map's
            index += 1
            structs[index] = []
            todo.extend([(t.item_field.type, index), (t.key_field.type, index)])
        elif hasattr(t, "value_field"):  # the list types
            todo.append((t.value_field.type, None))
        elif getattr(t, "num_fields", 0):  # a union, run-end encoded: not judged here
            return False
        index += 1
    if not structs or index != len(nodes):
        return False
    return all(nodes[s][1] == 0 and len({nodes[c][0] for c in kids}) <= 1 for s, kids in structs.items())
