"""Damage checks: pickle, cloudpickle and table-row bytes altered in transit, predicted without decoding.

Split from ``check``: a damaged layer fails the receiver's decoder, so each helper turns what the static
readers saw (a FRAME that runs past the end, a stream the reader gave up on, memory-table rows pyarrow
cannot validate) into the ``CheckFinding`` a receiver would meet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .check import CheckFinding
from .error_catalog import CATALOG, render
from .errors import DecodeError
from .model import Inspection
from .proto.scan import DATAFUSION_DECODE_DEPTH_LIMIT


def _catalog(cid: str, **fields: str | None) -> tuple[str, str]:
    """(datafusion text, fix) of catalog entry ``cid`` filled with ``fields``."""
    entry = CATALOG[cid]
    return render(entry.datafusion_text, fields), render(entry.fix, fields)


#: the start of a protocol 0/1 pickle (GLOBAL ``module\nname\n`` or MARK then GLOBAL)
_CUT_PICKLE = re.compile(rb"\(?c[A-Za-z_][\w.]*\n[A-Za-z_]\w*\n")
#: how an Expr pickle names datafusion (GLOBAL / STACK_GLOBAL strings): bytes before it are not telling
DATAFUSION_MARK = b"datafusion"


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
