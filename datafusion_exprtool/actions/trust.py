"""The trust rule of every action that decodes with datafusion (eval, reencode).

Decoding with datafusion runs the inline UDFs' cloudpickle payloads, so the static inspection runs first and
a blob it calls suspicious is refused unless the caller trusts it (``--trust``). Each command words the
refusal its own way; the rule is this one function.
"""

from __future__ import annotations

from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.model import Finding, Inspection


class Refused(Exception):
    """The static inspection found something datafusion and cloudpickle do not produce (exit 1)."""

    code = ExitCode.FINDINGS

    def __init__(self, verdict: str, findings: list[Finding]):
        self.verdict = verdict
        self.findings = findings
        #: what the inspection found suspicious, in its order
        self.reasons = [f.message for f in findings if f.verdict == "suspicious"]
        what = "; ".join(self.reasons) or "suspicious content"
        super().__init__(
            f"refusing to decode a suspicious blob with datafusion: {what} "
            "(inspect it with `exprtool inspect`; pass --trust only if you produced it yourself)"
        )


def trust_gate(insp: Inspection, trust: bool) -> list[Finding]:
    """Raise Refused for a suspicious verdict without ``trust``; with it, the suspicious findings trusted
    (none when the verdict is not suspicious)."""
    if insp.safety.verdict != "suspicious":
        return []
    if not trust:
        raise Refused(insp.safety.verdict, insp.safety.findings)
    return [f for f in insp.safety.findings if f.verdict == "suspicious"]
