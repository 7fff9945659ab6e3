"""The safety report: does code travel, and is anything outside what datafusion and cloudpickle produce?

Verdicts, from least to most worrying:
  data        no code travels (built-ins, by-name functions, literals, plans)
  code        inline Python UDFs: cloudpickle runs them on decode, as datafusion designed
  suspicious  anything datafusion and cloudpickle do not produce (a dangerous global, an unexpected
              call target, a nested unpickler) in any layer
"""

from __future__ import annotations

from datafusion_exprtool.model import Finding, FunctionInfo, SafetyReport

VERDICTS = ("data", "code", "suspicious")


def verdict_rank(verdict: str) -> int:
    return VERDICTS.index(verdict)


def crosses(verdict: str, fail_on: str | None) -> bool:
    """True when ``verdict`` is at least as bad as the ``--fail-on`` level."""
    return fail_on is not None and verdict_rank(verdict) >= verdict_rank(fail_on)


def safety_report(findings: list[Finding], functions: list[FunctionInfo], *, complete: bool) -> SafetyReport:
    verdict = "data"
    for fn in functions:
        if fn.transport == "inline":
            verdict = "code"
    for f in findings:
        if f.verdict and verdict_rank(f.verdict) > verdict_rank(verdict):
            verdict = f.verdict
    ordered = sorted(findings, key=lambda f: (-verdict_rank(f.verdict or "data"), f.offset or 0))
    return SafetyReport(status="complete" if complete else "partial", verdict=verdict, findings=ordered)
