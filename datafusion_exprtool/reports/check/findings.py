"""The result types of ``check``: one ``CheckFinding`` per problem, gathered in a ``CheckReport``.

Split from ``check`` so the modules that build findings (``check_damage``, ``check_functions``) and the
renderers (``sarif``) import them without importing the check itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from datafusion_exprtool.catalog import CATALOG
from datafusion_exprtool.catalog.entry import render

SEVERITIES = ("info", "warning", "error")


@dataclass
class CheckFinding:
    """One failure (error) or risk (warning) a receiver would meet."""

    id: str  # error_catalog id when datafusion has a message for it (explain maps the text to the same id)
    severity: str  # "error" | "warning" | "info"
    layer: str
    offset: int | None  # absolute byte offset in the decoded input
    function: str | None
    message: (
        str  # what datafusion would raise: a substring of its error text (empty for warnings it never raises)
    )
    fix: str
    detail: str = ""  # check's own words: why, and what it compared


@dataclass
class CheckReport:
    path: str
    target: dict[str, Any]  # Target.describe()
    findings: list[CheckFinding] = field(default_factory=list)

    @property
    def errors(self) -> list[CheckFinding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[CheckFinding]:
        return [f for f in self.findings if f.severity == "warning"]

    def fails(self, fail_on: str = "error") -> bool:
        """True when a finding is at least ``fail_on`` ("error" or "warning")."""
        floor = SEVERITIES.index(fail_on)
        return any(SEVERITIES.index(f.severity) >= floor for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "target": self.target, "findings": [asdict(f) for f in self.findings]}


def catalog_text(cid: str, **fields: str | None) -> tuple[str, str]:
    """(datafusion text, fix) of catalog entry ``cid`` filled with ``fields``."""
    entry = CATALOG[cid]
    return render(entry.datafusion_text, fields), render(entry.fix, fields)
