"""What ``check`` returns: a ``CheckReport`` of ``Finding``s for one blob, and its JSON document.

Each finding of a check is a ``model.Finding`` whose ``datafusion_text`` is what the receiver would raise
(empty when it raises nothing), ``message`` check's own words (why, and what it compared) and ``fix`` what
to do. The passes that build them (``report``, ``functions``, ``damage``) and the CI renderers
(``formats.sarif``) share these types without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.catalog import CATALOG
from datafusion_exprtool.catalog.entry import render
from datafusion_exprtool.model import Finding, Inspection

SEVERITIES = ("info", "warning", "error")


def finding_document(f: Finding) -> dict[str, Any]:
    """One finding of ``check --format json`` (schema_version 1): ``message`` is datafusion's text,
    ``detail`` check's own words."""
    return {
        "id": f.id,
        "severity": f.severity,
        "layer": f.layer,
        "offset": f.offset,
        "function": f.function,
        "message": f.datafusion_text,
        "fix": f.fix,
        "detail": f.message,
    }


@dataclass
class CheckReport:
    path: str
    target: dict[str, Any]  # Target.describe()
    findings: list[Finding] = field(default_factory=list)
    #: the static reading the findings came from (None when the blob could not be read): what a summary
    #: draws beside the findings (functions, imports, the tree); not part of the JSON document
    inspection: Inspection | None = field(default=None, repr=False, compare=False)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def fails(self, fail_on: str = "error") -> bool:
        """True when a finding is at least ``fail_on`` ("error" or "warning")."""
        floor = SEVERITIES.index(fail_on)
        return any(SEVERITIES.index(f.severity) >= floor for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "target": self.target,
            "findings": [finding_document(f) for f in self.findings],
        }


def catalog_text(cid: str, **fields: str | None) -> tuple[str, str]:
    """(datafusion text, fix) of catalog entry ``cid`` filled with ``fields``."""
    entry = CATALOG[cid]
    return render(entry.datafusion_text, fields), entry.fix_for(fields)
