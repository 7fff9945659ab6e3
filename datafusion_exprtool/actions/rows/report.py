"""What a ``--find-rows`` search found, as facts: where each row is, its values, the exception and the
UDF frame that raised it; and the one JSON document (``--json``) the terminal report is drawn from.

The frame comes from the Python traceback datafusion embeds in its error. Its source line is shown when
the UDF travelled by reference (its module is installed here, as on the worker); a UDF that travelled by
value carries its code, not its source, so the report names its qualname and first line instead (the
sender's file may differ from any file of that name here).
"""

from __future__ import annotations

import linecache
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from datafusion_exprtool.actions.eval.failure import python_frames
from datafusion_exprtool.actions.rows.find import FoundRows
from datafusion_exprtool.actions.rows.rows_file import read_rows
from datafusion_exprtool.actions.rows.signature import exception_message, exception_type
from datafusion_exprtool.model import SCHEMA_VERSION, Inspection
from datafusion_exprtool.sandbox.failure import EvalFailure

MAX_ROWS = 1000  # rows whose values a report carries (a narrowed set may be larger: its spans say where)


@dataclass
class Frame:
    file: str
    line: int
    function: str
    source: str | None = None  # the line itself, when the UDF's module is installed here


@dataclass
class Udf:
    name: str  # as the expression calls it
    qualname: str | None
    by_value: bool
    module: str | None = None
    defined_at: str | None = None  # "file:first line" of a by-value function (the sender's file)


@dataclass
class ExceptionFacts:
    type: str  # ValueError, ..., "datafusion" for datafusion's own errors, "worker-death"
    message: str
    frame: Frame | None = None
    udf: Udf | None = None


@dataclass
class FailingRow:
    file: str
    row_group: int
    row: int  # in the file, from 0
    row_in_group: int
    values: dict[str, Any] = field(default_factory=dict)


def _udf(failure: EvalFailure, inspection: Inspection | None, function: str | None) -> Udf | None:
    if inspection is None:
        return None
    name = function or failure.function
    for fn in inspection.functions:
        if fn.transport == "builtin" or (name and fn.name != name):
            continue
        c = fn.callable
        if c is None:
            return Udf(fn.name, None, False)
        defined = f"{c.filename}:{c.firstlineno}" if c.by_value and c.filename and c.firstlineno else None
        return Udf(fn.name, c.qualname, c.by_value, c.module, defined)
    return None


def _frame(failure: EvalFailure, python_functions: dict[str, str], by_value: bool) -> Frame | None:
    frames: list[tuple[str, int, str]] = []
    for text in (*failure.debug, failure.original or ""):
        frames = python_frames(text)
        if frames:
            break
    if not frames:  # a worker that died: the frame faulthandler recorded (crash.death)
        m = re.fullmatch(r"(.+):(\d+)", failure.file or "")
        if m is None:
            return None
        python = {v: k for k, v in python_functions.items()}
        frames = [(m.group(1), int(m.group(2)), python.get(failure.function or "", failure.function or "?"))]
    udf_frames = [f for f in frames if f[2] in python_functions]
    user = [f for f in frames if f"{os.sep}site-packages{os.sep}" not in f[0] and "/pyarrow/" not in f[0]]
    file, line, function = (udf_frames or user or frames)[-1]
    source = None
    if not by_value and os.path.isfile(file):
        source = linecache.getline(file, line).strip() or None
    return Frame(file, line, function, source)


def exception_facts(failure: EvalFailure, inspection: Inspection | None, python_functions: dict[str, str]) -> ExceptionFacts:
    """The exception, the innermost frame of the UDF that raised it and how that UDF travelled."""
    kind = exception_type(failure)
    udf = _udf(failure, inspection, failure.function) if kind not in ("datafusion",) else None
    frame = _frame(failure, python_functions, bool(udf and udf.by_value))
    message = exception_message(failure)
    return ExceptionFacts(kind, message, frame, udf)


def failing_rows(found: FoundRows) -> tuple[list[FailingRow], Any]:
    """The rows of the set (at most MAX_ROWS) with their values, and them as a pyarrow Table."""
    rows = found.result.rows
    if rows is None or not len(rows):
        return [], None
    from datafusion_exprtool.actions.rows.layout import Rows

    shown = rows.take(0, MAX_ROWS) if len(rows) > MAX_ROWS else rows
    table = read_rows(found.layout, Rows(shown.ranges), found.columns)
    values = table.to_pylist() if table is not None else []
    out = []
    for number, row_values in zip(shown, values, strict=True):
        where = found.layout.origin(number)
        out.append(FailingRow(where.file, where.row_group, where.row, where.row_in_group, row_values))
    return out, table


def failure_facts(failure: EvalFailure) -> dict[str, Any]:
    return {
        "stage": failure.stage,
        "message": failure.message,
        "function": failure.function,
        "where": failure.file,
        "catalog_id": failure.catalog_id,
        "datafusion": failure.original,
        "exception": exception_type(failure),
    }


def document(
    failure: EvalFailure,
    found: FoundRows | None = None,
    rows: list[FailingRow] | None = None,
    exception: ExceptionFacts | None = None,
    bundle: str | None = None,
    skipped: str | None = None,
) -> dict[str, Any]:
    """The ``--json`` document of a failed eval: the failure, and what the search found (or why it did not
    run: ``skipped``)."""
    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "failure": failure_facts(failure)}
    if found is None:
        doc["find_rows"] = {"outcome": "skipped", "reason": skipped} if skipped else None
        return doc
    r = found.result
    doc["find_rows"] = {
        "outcome": r.outcome,
        "reason": r.reason or None,
        "minimal": r.minimal,
        "confirmed": r.confirmed,
        "stopped": r.stopped,
        "probes": r.probes,
        "seconds": round(r.seconds, 3),
        "budget_seconds": found.budget,
        "replay_seconds": None if found.replay_seconds is None else round(found.replay_seconds, 3),
        "total_rows": found.layout.total,
        "row_count": len(r.rows) if r.rows is not None else 0,
        "columns": found.columns,
        "spans": [asdict(s) for s in found.layout.spans(r.rows)] if r.rows is not None else [],
        "rows": [asdict(row) for row in rows or []],
        "exception": asdict(exception) if exception else None,
        "other_failures": r.others,
        "bundle": bundle,
    }
    return doc
