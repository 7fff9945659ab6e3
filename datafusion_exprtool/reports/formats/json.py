"""JSON documents for scripts and CI: one object per input, keys documented in the README."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TextIO

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.model import SCHEMA_VERSION, Finding, Inspection, SafetyReport
from datafusion_exprtool.reports.formats.json_indent import BIG_STRING, write_big_string, write_indented

#: a dataclass type's field names (None: not a dataclass), found once per type rather than once per value
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    names = _FIELD_NAMES.get(cls, ())
    if names == ():
        names = tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None
        _FIELD_NAMES[cls] = names
    return names


def _plain(obj: Any) -> Any:
    if obj is None or obj.__class__ in (str, int, bool, float):
        return obj
    names = _field_names(obj.__class__)
    if names is not None:  # a dataclass instance (a class object's own class is never a dataclass)
        out = {}
        for name in names:  # the common leaves (None, str) without a call
            value = getattr(obj, name)
            out[name] = value if value is None or value.__class__ is str else _plain(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, bytes):
        return obj.hex()
    return obj


def finding_document(f: Finding) -> dict[str, Any]:
    """One safety finding or warning of `inspect --json`: ``message`` is the sentence the terminal shows."""
    return {
        "id": f.id,
        "severity": f.severity,
        "layer": f.layer,
        "offset": f.offset,
        "message": f.sentence,
        "verdict": f.verdict,
        "function": f.function,
    }


def safety_document(safety: SafetyReport) -> dict[str, Any]:
    return {
        "status": safety.status,
        "verdict": safety.verdict,
        "findings": [finding_document(f) for f in safety.findings],
    }


def inspection_document(insp: Inspection) -> dict[str, Any]:
    """The `inspect --json` object (schema_version 1)."""
    functions = []
    for f in insp.functions:
        d = _plain(f)
        functions.append(d)
    return {
        "schema_version": SCHEMA_VERSION,
        "input": _plain(insp.input),
        "message": insp.message or None,  # null: a pickle with no Expr in it (reported for its safety)
        "rendered": insp.rendered,
        "depth": insp.depth,
        "payloads": [
            {"message": p.message, "offset": p.offset, "size": p.size, "depth": p.depth}
            for p in insp.payloads
        ],
        "functions": functions,
        "safety": safety_document(insp.safety),
        "sensitive": _plain(insp.sensitive),
        "unknown_fields": [finding_document(f) for f in insp.unknown_fields],
        "warnings": [finding_document(f) for f in insp.warnings],
    }


def error_document(path: str, err: DecodeError, partial: dict[str, Any] | None = None) -> dict[str, Any]:
    """The object printed for an input that cannot be decoded (exit status 3)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "input": {"path": path},
        "error": {"layer": err.layer, "offset": err.offset, "message": err.message, "hint": err.hint},
        "partial": partial or {},
    }




def write_json(doc: Any, out: TextIO, *, pretty: bool = True) -> None:
    """``json.dumps(doc, indent=2 if pretty else None, ensure_ascii=<stream>, default=str)`` and a newline,
    byte for byte; a string longer than BIG_STRING is escaped and written in pieces."""
    # a stream that cannot take UTF-8 (PYTHONIOENCODING=ascii, a C locale) gets \u escapes: still valid JSON
    encoding = (getattr(out, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
    plain = encoding not in ("utf8", "utf8sig")
    if pretty:
        write_indented(doc, out, ensure_ascii=plain)
        out.write("\n")
        return
    big: list[str] = []

    def swap(value: Any) -> Any:
        if isinstance(value, str) and len(value) > BIG_STRING:
            big.append(value)
            return f"\x00exprtool-big-{len(big) - 1}\x00"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(doc), ensure_ascii=plain, default=str)
    for i, value in enumerate(big):
        token = json.dumps(f"\x00exprtool-big-{i}\x00")
        head, _, text = text.partition(token)
        out.write(head)
        write_big_string(value, out, ensure_ascii=plain)
    out.write(text)
    out.write("\n")
