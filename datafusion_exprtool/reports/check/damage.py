"""Damage checks: bytes altered in transit, predicted without decoding them.

A damaged layer fails the receiver's decoder, so each helper here turns what the static readers saw (a
protobuf cut short or garbled, a node datafusion's from_proto refuses, a FRAME that runs past the end, a
stream the reader gave up on or that does not rebuild, memory-table rows and nested literal values whose
Arrow IPC bytes do not read back) into the ``Finding`` a receiver would meet.

What a layer could not read is an inspection warning in ``model.DAMAGE_IDS`` (``inspect`` exits 3 on it);
each becomes here the error the receiver meets (``damage_finding``), so inspect and check never disagree.
The nested literals and memory-table rows whose Arrow IPC bytes do not read back are found by the inspection
(``inspection/arrow_damage.py``), from-proto refusals by ``layers/proto/semantics.py``.
"""

from __future__ import annotations

import re
import sys

from datafusion_exprtool.errors import (
    CORRUPT,
    INVALID_LOAD_KEY,
    MISSING_FIELD,
    NO_STOP,
    TRUNCATED,
    UNDERFLOW,
    DecodeError,
)
from datafusion_exprtool.layers.proto.prost_error import prost_refusal
from datafusion_exprtool.layers.proto.truncation import declared_end
from datafusion_exprtool.model import ARROW_DAMAGE_IDS, FROM_PROTO_IDS, UNRESOLVED_ID, Finding, Inspection
from datafusion_exprtool.reports.check.findings import catalog_text as _catalog

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
CUT_PICKLE = re.compile(rb"\(?c[A-Za-z_][\w.]*\n[A-Za-z_]\w*\n")
#: how an Expr pickle names datafusion (GLOBAL / STACK_GLOBAL strings): bytes before it are not telling
DATAFUSION_MARK = b"datafusion"
#: receiver findings read from this interpreter's modules (a target elsewhere may have other versions)
LOCAL_RECEIVER_IDS = ("udf-attribute-missing", "udf-module-missing", "udf-call-invalid")


def semantic_findings(insp: Inspection) -> list[Finding]:
    """What datafusion's from_proto refuses though prost reads it (inspection's semantics warnings)."""
    out: list[Finding] = []
    for w in insp.warnings:
        if w.id in FROM_PROTO_IDS:
            out.append(_semantic_finding(w))
        elif w.id == "message-guess-weak":
            fix = "Give the message type: `exprtool check --message expr|logical|physical BLOB`."
            out.append(Finding(
                id=w.id, severity="warning", layer="protobuf", offset=w.offset, fix=fix, message=w.message
            ))  # fmt: skip
    return out


#: from-proto refusals that are not damage in transit: datafusion 55 writes these plans itself
UNRESOLVED_FIX = (
    "datafusion 55 serializes a scan's virtual column (`file_row_index()`) without it in the scan's schema, and "
    "its own decoder refuses the plan: ship the logical plan (`LogicalPlan.to_bytes()`) and plan it on the worker, "
    "or leave file_row_index() out of a physical plan that travels."
)


def _semantic_finding(w: Finding) -> Finding:
    text = w.datafusion_text
    if w.id == UNRESOLVED_ID:
        why = (f"the scan's projection at byte {w.offset} names a column past the schema the plan carries: "
               f"datafusion refuses it: {text}")  # fmt: skip
        fix = UNRESOLVED_FIX
    else:
        why = f"the protobuf decodes, but the node at byte {w.offset} is one datafusion refuses: {text}"
        fix = SEMANTIC_FIX
    return Finding(
        id=w.id, severity="error", layer="protobuf", offset=w.offset, datafusion_text=text, fix=fix, message=why
    )  # fmt: skip


#: the fix of each Arrow IPC damage (inspection/arrow_damage.py says what does not read)
ARROW_FIXES = {
    "literal-value-corrupt": "The Arrow bytes of a nested literal (a list / struct / map value) were altered in "
    "transit: re-create the expression on the sender and ship raw bytes; `exprtool inspect BLOB` shows the "
    "literal as undecodable.",
    "table-rows-corrupt": "The rows inside the plan were altered in transit: re-create the plan "
    "(`df.execution_plan().to_bytes()`) and ship raw bytes.",
}


def _arrow_finding(w: Finding) -> Finding:
    return Finding(
        id=w.id, severity="error", layer=w.layer, offset=w.offset, datafusion_text=w.datafusion_text or "",
        fix=ARROW_FIXES[w.id], message=w.message
    )  # fmt: skip


def nested_literals(insp: Inspection) -> list[Finding]:
    """Nested literal values whose Arrow bytes datafusion cannot read (the inspection's damage)."""
    return [_arrow_finding(w) for w in insp.warnings if w.id == "literal-value-corrupt"]


def memory_partitions(insp: Inspection) -> list[Finding]:
    """Memory-table rows of a physical plan (Arrow IPC streams) that do not read back (the inspection's damage)."""
    return [_arrow_finding(w) for w in insp.warnings if w.id == "table-rows-corrupt"]


def damage_finding(w: Finding) -> Finding:
    """The receiver's error for one of the inspection's damage warnings (``Inspection.damage``)."""
    if w.id in FROM_PROTO_IDS:
        return _semantic_finding(w)
    if w.id in ARROW_DAMAGE_IDS:
        return _arrow_finding(w)
    return layer_error(w)


def decode_error_finding(
    err: DecodeError,
    message: str | None,
    *,
    sure: bool,
    data: bytes | None = None,
    payload: bytes | None = None,
) -> Finding | None:
    """The receiver's failure for a blob the static decoder could not read, or None (not a receiver error).

    Protobuf-layer errors are what datafusion's prost decode raises too: reported as findings (exit 1)
    with their byte offset. ``sure``: the top-level message type is known (pickle container or --message),
    so prost's path prefix can be predicted; a truncated plan may otherwise be detected as an expression.
    ``data``: the protobuf blob itself (offset 0), to say where a truncated blob should have ended.
    ``payload``: the protobuf bytes prost reads (the blob, or the one a pickle carries): with ``sure``, the
    predicted text is prost's own.
    """
    if err.layer != "protobuf":
        return None
    text = err.message
    if err.kind == MISSING_FIELD:
        df, fix = _catalog("empty-blob")
        return Finding(
            id="empty-blob", severity="error", layer="protobuf", offset=err.offset, datafusion_text=df,
            fix=fix, message=str(err)
        )  # fmt: skip
    root_type = err.path[0][0] if err.path else None  # the path starts at the top-level message
    top = root_type if root_type in TOP_ONEOF else None
    named = sum(f is not None for _t, f in err.path)  # the fields prost names in its path
    if err.kind == TRUNCATED:  # prost reads a cut varint or length as an invalid one
        cid, what = "protobuf-garbage", "invalid varint"
    elif err.kind == UNDERFLOW:
        cid, what = "protobuf-truncated", "buffer underflow"
    else:
        cid, what = "protobuf-garbage", ""
    _, fix = _catalog(cid, detail=what or text)
    root = message or top
    refusal = prost_refusal(payload, root) if sure and payload is not None and root else None
    if refusal is not None:  # prost's own text, path and all (proto/prost_error.py replays its rules)
        predicted = refusal.text
        cid = "protobuf-truncated" if refusal.kind == UNDERFLOW else "protobuf-garbage"
        _, fix = _catalog(cid, detail=refusal.reason)
    elif what and top and named == 1 and sure and (message is None or message == top):
        predicted = f"failed to decode Protobuf message: {top}.{TOP_ONEOF[top]}: {what}"
    elif what == "invalid varint" and top and len(err.path) == 1 and not named and sure:  # the first key is cut
        predicted = f"failed to decode Protobuf message: {what}"
    else:
        predicted = what
    detail = f"the blob cannot be decoded at byte {err.offset}: {text}"
    if cid == "protobuf-truncated" and data is not None:
        end = declared_end(data)
        if end is not None:
            detail += (
                f"; the data stops at byte {end['size']} but the field at byte {end['tag_offset']} runs to "
                f"byte {end['declared_end']} ({end['missing']} bytes missing)"
            )
    return Finding(
        id=cid, severity="error", layer="protobuf", offset=err.offset, datafusion_text=predicted, fix=fix,
        message=detail
    )  # fmt: skip


def frame_findings(insp: Inspection) -> list[Finding]:
    """An outer-pickle FRAME (protocol 4+) that claims more bytes than follow (inspection's damage facts):
    ``pickle.loads`` refuses the whole pickle before anything else."""
    return [
        pickle_damage_finding(DecodeError("pickle", w.offset, w.message, kind=w.decode_kind, opcode="FRAME"))
        for w in insp.damage
        if w.id == "frame-overrun" and w.layer == "pickle"
    ]


def broken_pickle_finding(err: DecodeError, data: bytes) -> Finding | None:
    """``pickle.loads`` of a datafusion pickle that is cut short or damaged fails: a finding, not exit 3.

    A pickle is a datafusion one when it names datafusion; one that does not (or is cut before it does)
    is not a datafusion blob: None.
    """
    if DATAFUSION_MARK not in data:
        return None
    return pickle_damage_finding(err)


def pickle_damage_finding(err: DecodeError) -> Finding:
    """What ``pickle.loads`` raises for a datafusion pickle cut short or damaged at ``err``."""
    text = err.message
    if err.kind in (TRUNCATED, NO_STOP):
        cid, said = "pickle-truncated", ("" if err.kind == NO_STOP else "pickle data was truncated")
        fix = (
            "Ship the exact bytes (binary-safe channel, no size limit: `len()` must match on both sides); "
            "re-create the blob with `pickle.dumps(expr)` on the sender."
        )
        why = f"the outer pickle stops at byte {err.offset} before its STOP opcode: {text}"
    else:
        cid, said = "pickle-corrupt", ("invalid load key" if err.kind == INVALID_LOAD_KEY else "")
        if err.opcode == "FRAME" and err.kind == CORRUPT:  # a length past sys.maxsize: CPython's OverflowError
            said = f"FRAME length exceeds system's maximum of {sys.maxsize} bytes"
        fix = (
            "The pickle was altered between sender and receiver (text decoding, a patched byte): re-create it "
            "with `pickle.dumps(expr)` and ship raw bytes; `exprtool inspect BLOB` shows where it breaks."
        )
        where = f" at byte {err.offset}" if err.offset is not None else ""
        why = f"the outer pickle names datafusion but cannot be read{where}: {text}"
    return Finding(
        id=cid, severity="error", layer="pickle", offset=err.offset, datafusion_text=said, fix=fix,
        message=why
    )  # fmt: skip


def layer_error(w: Finding) -> Finding:
    """A layer inspection could not read: the receiver's unpickler (or pyarrow) fails there too."""
    text = w.message
    # the stream reads, but does not rebuild (layers.cloudpickle.receiver set the catalog id): CPython's text
    if w.catalog_id is not None:
        return _receiver_error(w)
    if w.layer == "cloudpickle" and w.decode_kind in (TRUNCATED, NO_STOP):  # cut inside an opcode, or before STOP
        cid, said = "cloudpickle-truncated", "pickle data was truncated" if w.decode_kind == TRUNCATED else ""
    elif w.layer == "cloudpickle":
        cid, said = "cloudpickle-corrupt", "invalid load key" if w.decode_kind == INVALID_LOAD_KEY else ""
    else:  # the UDF's Arrow schema, the tuple it unpacks: datafusion reports a PyErr while rebuilding it
        cid, said = "cloudpickle-corrupt", ""
    _, fix = _catalog(cid, exc_type="UnpicklingError", detail=text)
    why = f"the {w.layer} layer cannot be read at byte {w.offset}: {text} ({w.id})"
    return Finding(
        id=cid, severity="error", layer=w.layer, offset=w.offset, function=w.function, datafusion_text=said,
        fix=fix, message=why
    )  # fmt: skip


def _receiver_error(w: Finding) -> Finding:
    cid, said = w.catalog_id, w.datafusion_text
    if cid == "module-attribute-missing":
        fix = (
            "The UDF's stream names a global the receiver's module does not have. A misspelt cloudpickle or "
            "datafusion name means the bytes were altered in transit: re-create the blob on the sender and ship "
            "raw bytes. Otherwise deploy the sender's version of that module on the receiver."
        )
    elif w.id == "udf-module-missing":  # a module of the receiver's own cloudpickle / datafusion / pyarrow
        fix = (
            "The UDF's stream names a module the receiver's package does not have. A misspelt module name means "
            "the bytes were altered in transit: re-create the blob on the sender and ship raw bytes. Otherwise "
            "the sender ran another version of that package (a module renamed or moved): deploy the same "
            "version on the sender and the workers."
        )
    else:
        _, fix = _catalog(cid, exc_type="", detail=said)
    why = f"the cloudpickle stream reads to its end, but {w.message} ({w.id})"
    return Finding(
        id=cid, severity="error", layer=w.layer, offset=w.offset, function=w.function, datafusion_text=said,
        fix=fix, message=why
    )  # fmt: skip


