"""Score exprtool's current safety verdict against the safety corpus (tests/support/safety_corpus.py).

Builds every case (nothing is loaded: the corpus only builds bytes, and inspection is static), inspects it as
``exprtool inspect`` does, and prints per carrier how many hostile cases were flagged ``suspicious`` and how many
legit cases were (false alarms), then every hostile case that was not flagged and every case whose inspection
raised.

    python tools/safety_scoreboard.py                   # message type auto-detected, as the CI gate runs
    python tools/safety_scoreboard.py --known-message   # raw plan bytes inspected with their message type given
    python tools/safety_scoreboard.py --all             # also every case's verdict and status
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.safety_corpus import CARRIERS, RULES, Case, cases  # noqa: E402

from datafusion_exprtool.inspection.pipeline import inspect_bytes  # noqa: E402

MESSAGE_OF = {"expr": "LogicalExprNode", "logical": "LogicalPlanNode", "physical": "PhysicalPlanNode"}


@dataclass
class Score:
    case: Case
    verdict: str | None = None
    status: str | None = None
    error: str | None = None
    ran_code: bool = False  # the canary appeared during build or inspection: must never happen
    said: bool = False  # a runs-at-decode finding: the gray zone said plainly

    @property
    def flagged(self) -> bool:
        """Suspicious; for a gray-zone case, code with the runs-at-decode finding (what the verdict promises)."""
        return self.verdict == "suspicious" or (self.case.gray and self.verdict == "code" and self.said)


def score(case: Case, directory: Path, known_message: bool) -> Score:
    canary = directory / case.name.replace("/", "_") / "canary"
    canary.parent.mkdir(parents=True)
    blob = case.build(canary)
    result = Score(case)
    message = MESSAGE_OF.get(case.kind) if known_message else None
    try:
        inspection = inspect_bytes(blob, message=message)
        result.verdict, result.status = inspection.safety.verdict, inspection.safety.status
        result.said = any(f.id == "runs-at-decode" for f in inspection.safety.findings)
    except Exception as exc:  # noqa: BLE001 - a crash is a result here
        result.error = f"{type(exc).__name__}: {exc}"
    result.ran_code = canary.exists()
    return result


def report(scores: list[Score], every: bool = False) -> str:
    lines = []
    if every:
        for sc in scores:
            kind = "hostile" if sc.case.hostile else "legit"
            outcome = sc.error or f"verdict={sc.verdict} status={sc.status}"
            lines.append(f"  {sc.case.name:<48} {kind:<8} {sc.case.rule:<17} {outcome[:120]}")
        lines.append("")
    by_carrier: dict[str, list[Score]] = defaultdict(list)
    by_rule: dict[str, list[Score]] = defaultdict(list)
    for sc in scores:
        by_carrier[sc.case.carrier].append(sc)
        if sc.case.hostile:
            by_rule[sc.case.rule].append(sc)

    def ratio(items: list[Score]) -> str:
        hits = sum(s.flagged if s.case.hostile else s.verdict == "suspicious" for s in items)
        return f"{hits:>3}/{len(items):<3}"

    lines.append(f"{'carrier':<15} {'hostile flagged':>16} {'legit false alarms':>19}")
    for carrier in CARRIERS:
        items = by_carrier.get(carrier, [])
        bad = [s for s in items if s.case.hostile]
        good = [s for s in items if not s.case.hostile]
        lines.append(f"{carrier:<15} {ratio(bad):>16} {ratio(good):>19}")
    bad = [s for s in scores if s.case.hostile]
    good = [s for s in scores if not s.case.hostile]
    lines.append(f"{'TOTAL':<15} {ratio(bad):>16} {ratio(good):>19}")
    lines.append("")
    lines.append(f"{'rule':<17} {'hostile flagged':>16}")
    for rule in RULES:
        lines.append(f"{rule:<17} {ratio(by_rule.get(rule, [])):>16}")

    missed = [s for s in bad if not s.flagged]
    gray = [s for s in bad if s.case.gray]
    lines.append("")
    lines.append(f"gray zone (code + runs-at-decode, counted as flagged): {sum(s.flagged for s in gray)}/{len(gray)}")
    lines.append(f"hostile cases NOT flagged ({len(missed)}):")
    for sc in missed:
        verdict = sc.verdict or "-"
        lines.append(
            f"  {sc.case.name:<48} {sc.case.rule:<17} verdict={verdict:<5} status={sc.status or '-'}"
        )
    alarms = [s for s in good if s.verdict == "suspicious"]
    lines.append("")
    lines.append(f"legit cases flagged suspicious ({len(alarms)}):")
    for sc in alarms:
        lines.append(f"  {sc.case.name:<48} status={sc.status}")
    raised = [s for s in scores if s.error]
    lines.append("")
    lines.append(f"inspection raised ({len(raised)}):")
    for sc in raised:
        lines.append(f"  {sc.case.name:<48} {'hostile' if sc.case.hostile else 'legit':<8} {sc.error[:150]}")
    ran = [s for s in scores if s.ran_code]
    if ran:
        lines.append("")
        lines.append("!!! a canary appeared while building/inspecting (nothing may run here): "
                     + ", ".join(s.case.name for s in ran))  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--known-message", action="store_true", help="give the message type of raw protobuf bytes"
    )
    parser.add_argument("--all", action="store_true", help="also list every case with its verdict and status")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="exprtool-scoreboard-") as tmp:
        scores = [score(case, Path(tmp), args.known_message) for case in cases()]
    print(report(scores, every=args.all))
    return 1 if any(s.ran_code for s in scores) else 0


if __name__ == "__main__":
    sys.exit(main())
