"""Damage checks: bytes altered in transit, predicted without decoding them.

Split from ``check``: a damaged layer fails the receiver's decoder, so each helper turns what the static
readers saw (a protobuf cut short or garbled, a node datafusion's from_proto refuses, a FRAME that runs
past the end, a stream the reader gave up on, memory-table rows pyarrow cannot validate) into the
``CheckFinding`` a receiver would meet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .check_findings import CheckFinding
from .check_findings import catalog_text as _catalog
from .errors import DecodeError
from .inspection import SEMANTIC_PREFIX
from .model import Inspection
from .proto.scan import DATAFUSION_DECODE_DEPTH_LIMIT
from .proto.semantics import IDS as SEMANTIC_IDS

#: the oneof prost names in its error path for each top-level message
TOP_ONEOF = {
    "LogicalExprNode": "expr_type",
    "LogicalPlanNode": "logical_plan_type",
    "PhysicalPlanNode": "physical_plan_type",
}
SEMANTIC_FIX = (
    "The blob was altered in transit (a flipped bit, a text conversion) or written by another datafusion "
    "version: re-create it on the sender and ship raw bytes; `exprtool inspect BLOB` shows the node."
)
#: the start of a protocol 0/1 pickle (GLOBAL ``module\nname\n`` or MARK then GLOBAL)
_CUT_PICKLE = re.compile(rb"\(?c[A-Za-z_][\w.]*\n[A-Za-z_]\w*\n")
#: how an Expr pickle names datafusion (GLOBAL / STACK_GLOBAL strings): bytes before it are not telling
DATAFUSION_MARK = b"datafusion"


def semantic_findings(insp: Inspection) -> list[CheckFinding]:
    """What datafusion's from_proto refuses though prost reads it (inspection's semantics warnings)."""
    out: list[CheckFinding] = []
    for w in insp.warnings:
        if w.id in SEMANTIC_IDS:
            text = w.message.removeprefix(SEMANTIC_PREFIX)
            why = f"the protobuf decodes, but the node at byte {w.offset} is one datafusion refuses: {text}"
            out.append(CheckFinding(w.id, "error", "protobuf", w.offset, None, text, SEMANTIC_FIX, why))
        elif w.id == "message-guess-weak":
            fix = "Give the message type: `exprtool check --message expr|logical|physical BLOB`."
            out.append(CheckFinding(w.id, "warning", "protobuf", w.offset, None, "", fix, w.message))
    return out


def decode_error_finding(
    err: DecodeError, message: str | None, *, sure: bool, data: bytes | None = None
) -> CheckFinding | None:
    """The receiver's failure for a blob the static decoder could not read, or None (not a receiver error).

    Protobuf-layer errors are what datafusion's prost decode raises too: reported as findings (exit 1)
    with their byte offset. ``sure``: the top-level message type is known (pickle container or --message),
    so prost's path prefix can be predicted; a truncated plan may otherwise be detected as an expression.
    ``data``: the protobuf blob itself (offset 0), to say where a truncated blob should have ended.
    """
    if err.layer != "protobuf":
        return None
    text = err.message
    if "Missing required field" in text:
        df, fix = _catalog("empty-blob")
        return CheckFinding("empty-blob", "error", "protobuf", err.offset, None, df, fix, str(err))
    head, _, _ = text.partition(": ")
    top = head.split(".")[0]
    single = "." in head and head.count(".") == 1 and top in TOP_ONEOF
    if "truncated varint" in text or "truncated length" in text:
        cid, what = "protobuf-garbage", "invalid varint"
    elif "buffer underflow" in text:
        cid, what = "protobuf-truncated", "buffer underflow"
    else:
        cid, what = "protobuf-garbage", ""
    _, fix = _catalog(cid, detail=what or text)
    if what and single and sure and (message is None or message == top):
        predicted = f"failed to decode Protobuf message: {top}.{TOP_ONEOF[top]}: {what}"
    elif what == "invalid varint" and head in TOP_ONEOF and sure:  # the first key itself is cut
        predicted = f"failed to decode Protobuf message: {what}"
    else:
        predicted = what
    detail = f"the blob cannot be decoded at byte {err.offset}: {text}"
    if cid == "protobuf-truncated" and data is not None:
        from .explain import declared_end

        end = declared_end(data)
        if end is not None:
            detail += (
                f"; the data stops at byte {end['size']} but the field at byte {end['tag_offset']} runs to "
                f"byte {end['declared_end']} ({end['missing']} bytes missing)"
            )
    return CheckFinding(cid, "error", "protobuf", err.offset, None, predicted, fix, detail)


def frame_findings(data: bytes) -> list[CheckFinding]:
    """A FRAME (protocol 4+) that claims more bytes than follow: ``pickle.loads`` refuses the whole pickle.

    The static machine reads frames as no-ops, so a damaged frame length is looked for here (pickletools
    parses opcodes only: nothing is imported or called).
    """
    import pickletools

    try:
        for op, arg, pos in pickletools.genops(data):
            if op.name == "FRAME" and pos + 9 + arg > len(data):
                err = DecodeError(
                    "pickle", pos, f"FRAME of {arg} bytes runs past the end ({len(data)} bytes)"
                )
                finding = broken_pickle_finding(err, data)
                return [finding] if finding is not None else []
    except (ValueError, EOFError, TypeError):  # the static machine already read it: nothing more to say
        pass
    return []


def broken_pickle_finding(err: DecodeError, data: bytes) -> CheckFinding | None:
    """``pickle.loads`` of a datafusion pickle that is cut short or damaged fails: a finding, not exit 3.

    A pickle is a datafusion one when it names datafusion; one that does not (or is cut before it does)
    is not a datafusion blob: None.
    """
    if DATAFUSION_MARK not in data:
        return None
    text = err.message
    if "truncated" in text or "runs past the end" in text:
        cid, said = "pickle-truncated", ("" if "no STOP" in text else "pickle data was truncated")
        fix = (
            "Ship the exact bytes (binary-safe channel, no size limit: `len()` must match on both sides); "
            "re-create the blob with `pickle.dumps(expr)` on the sender."
        )
        why = f"the outer pickle stops at byte {err.offset} before its STOP opcode: {text}"
    else:
        cid, said = "pickle-corrupt", ("invalid load key" if "invalid load key" in text else "")
        fix = (
            "The pickle was altered between sender and receiver (text decoding, a patched byte): re-create it "
            "with `pickle.dumps(expr)` and ship raw bytes; `exprtool inspect BLOB` shows where it breaks."
        )
        where = f" at byte {err.offset}" if err.offset is not None else ""
        why = f"the outer pickle names datafusion but cannot be read{where}: {text}"
    return CheckFinding(cid, "error", "pickle", err.offset, None, said, fix, why)


def layer_error(w) -> CheckFinding:
    """A layer inspection could not read: the receiver's unpickler (or pyarrow) fails there too."""
    text = w.message
    if w.layer == "cloudpickle" and "truncated" in text:
        cid, said = "cloudpickle-truncated", "pickle data was truncated" if " at opcode " in text else ""
    elif w.layer == "cloudpickle":
        cid, said = "cloudpickle-corrupt", "invalid load key" if "invalid load key" in text else ""
    else:  # the UDF's Arrow schema, the tuple it unpacks: datafusion reports a PyErr while rebuilding it
        cid, said = "cloudpickle-corrupt", ""
    _, fix = _catalog(cid, exc_type="UnpicklingError", detail=text)
    why = f"the {w.layer} layer cannot be read at byte {w.offset}: {text} ({w.id})"
    return CheckFinding(cid, "error", w.layer, w.offset, w.function, said, fix, why)


def memory_partitions(insp: Inspection) -> list[CheckFinding]:
    """Rows a physical plan carries (MemoryScanExecNode partitions, Arrow IPC streams) that do not read back.

    Only for plans that carry rows (inspection saw table rows): pyarrow reads and fully validates each
    partition, as arrow-rs does when datafusion decodes the plan. Plain data: nothing is executed.
    """
    if not any(s.kind == "table-rows" for s in insp.sensitive):
        return []
    import pyarrow as pa

    out: list[CheckFinding] = []
    for payload in insp.payloads:
        if payload.message != "PhysicalPlanNode" or payload.root is None:
            continue
        for offset, data in _partitions(payload.root, 0):
            try:
                pa.ipc.open_stream(data).read_all().validate(full=True)
            except (pa.ArrowException, ValueError, OSError) as exc:
                fix = (
                    "The rows inside the plan were altered in transit: re-create the plan "
                    "(`df.execution_plan().to_bytes()`) and ship raw bytes."
                )
                why = f"the memory-table partition (Arrow IPC stream, field at byte {offset}) does not read: {exc}"
                out.append(
                    CheckFinding("table-rows-corrupt", "error", "arrow-ipc", offset, None, "", fix, why)
                )
    return out


def _partitions(msg: Any, depth: int) -> Iterator[tuple[int, bytes]]:
    """(field offset, bytes) of every MemoryScanExecNode partition under ``msg``."""
    if depth > DATAFUSION_DECODE_DEPTH_LIMIT:
        return
    for f in msg.fields():
        if f.name == "partitions" and msg.type == "MemoryScanExecNode" and isinstance(f.value, bytes):
            yield f.offset, f.value
        elif hasattr(f.value, "fields"):
            yield from _partitions(f.value, depth + 1)
