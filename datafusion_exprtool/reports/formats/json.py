"""JSON documents for scripts and CI: one object per input, keys documented in the README."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TextIO

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.model import SCHEMA_VERSION, Finding, Inspection, SafetyReport


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
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


#: strings longer than this (a rendered 1M-entry IN list) are escaped and written in pieces, so the
#: document never holds a second full-size copy of them
BIG_STRING = 1 << 20


def write_json(doc: Any, out: TextIO, *, pretty: bool = True) -> None:
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

    # a stream that cannot take UTF-8 (PYTHONIOENCODING=ascii, a C locale) gets \u escapes: still valid JSON
    encoding = (getattr(out, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
    plain = encoding not in ("utf8", "utf8sig")
    text = json.dumps(swap(doc), indent=2 if pretty else None, ensure_ascii=plain, default=str)
    for i, value in enumerate(big):
        token = json.dumps(f"\x00exprtool-big-{i}\x00")
        head, _, text = text.partition(token)
        out.write(head)
        out.write('"')
        for start in range(0, len(value), BIG_STRING):
            out.write(json.dumps(value[start : start + BIG_STRING], ensure_ascii=plain)[1:-1])
        out.write('"')
    out.write(text)
    out.write("\n")
