"""CI renderings of check reports: SARIF 2.1.0 (code-scanning upload) and GitHub workflow annotations.

Blobs are binary, so a location is the file plus ``region.byteOffset``; GitHub code scanning insists on
``region.startLine``, so line 1 is given too, and ``partialFingerprints`` are computed here (GitHub
cannot hash lines of a binary file to keep alerts stable across runs).
"""

from __future__ import annotations

import hashlib
from typing import Any

from datafusion_exprtool.catalog import CATALOG
from datafusion_exprtool.model import Finding
from datafusion_exprtool.reports.check.findings import CheckReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/apache/datafusion-python"
#: check severity -> SARIF result level / GitHub annotation command
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
GITHUB_COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def _title(cid: str) -> str:
    entry = CATALOG.get(cid)
    return entry.title if entry else cid.replace("-", " ").capitalize()


def _text(f: Finding) -> str:
    """One line a reviewer can act on: what datafusion will say (or why it matters), then check's words."""
    lead = f"{f.function}: " if f.function else ""
    said = f"datafusion will raise: {f.datafusion_text}" if f.datafusion_text else f.message
    extra = f" ({f.message})" if f.datafusion_text and f.message else ""
    return f"{lead}{said}{extra}"


def _where(f: Finding) -> str:
    return f"byte {f.offset}" if f.offset is not None else "whole blob"


def _rule(cid: str, example: Finding) -> dict[str, Any]:
    return {
        "id": cid,
        "name": "".join(part.capitalize() for part in cid.split("-")),
        "shortDescription": {"text": _title(cid)},
        "help": {"text": example.fix},
        "defaultConfiguration": {"level": LEVELS.get(example.severity, "warning")},
    }


def _fingerprint(path: str, f: Finding) -> str:
    key = "\0".join([path, f.id, f.function or "", str(f.offset), f.datafusion_text])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def to_sarif(reports: list[CheckReport], tool_version: str = "0.1.0") -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run: a rule per finding id, a result per finding."""
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for report in reports:
        for f in report.findings:
            if f.id not in rules:
                rules[f.id] = _rule(f.id, f)
            region: dict[str, Any] = {"startLine": 1}
            if f.offset is not None:
                region["byteOffset"] = f.offset
            results.append(
                {
                    "ruleId": f.id,
                    "ruleIndex": list(rules).index(f.id),
                    "level": LEVELS.get(f.severity, "warning"),
                    "message": {"text": f"{_text(f)} [{_where(f)}]. Fix: {f.fix}"},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": report.path},
                                "region": region,
                            }
                        }
                    ],
                    "partialFingerprints": {"exprtoolFinding/v1": _fingerprint(report.path, f)},
                    "properties": {"layer": f.layer, "function": f.function, "datafusionMessage": f.datafusion_text},
                }
            )
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "exprtool",
                        "version": tool_version,
                        "informationUri": INFORMATION_URI,
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
                "properties": {"targets": [r.target for r in reports]},
            }
        ],
    }


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def annotation(command: str, path: str, title: str, body: str) -> str:
    """One GitHub workflow command (``::error file=…,line=1,title=…::body``), escaped as the runner expects."""
    props = f"file={_escape_property(path)},line=1,title={_escape_property(title)}"
    return f"::{command} {props}::{_escape_data(body)}"


def github_annotations(reports: list[CheckReport]) -> list[str]:
    """One workflow command per finding: errors, warnings and notices on the blob's file."""
    return [
        annotation(
            GITHUB_COMMANDS.get(f.severity, "warning"),
            report.path,
            f"exprtool {f.id} ({_where(f)})",
            f"{_text(f)}\nFix: {f.fix}",
        )
        for report in reports
        for f in report.findings
    ]
