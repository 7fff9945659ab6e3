"""The safety corpus is what it says: every hostile case runs code when loaded the normal way (it creates its
canary), every legit case loads without error and creates nothing.

These tests check the corpus, not exprtool (tools/safety_scoreboard.py scores exprtool against it). This
process only builds bytes; every load happens in a throwaway process (support/canary.py), all of them in one
worker that forks a fresh child per blob.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from support.canary import Job, LoadResult, load_many, runs_code
from support.repo import TOOLS
from support.safety_corpus import CARRIERS, RULES, Case, cases, hostile, legit

CASES = {case.name: case for case in cases()}


@pytest.fixture(scope="module")
def loads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, LoadResult]:
    root = tmp_path_factory.mktemp("canaries")
    jobs = []
    for k, case in enumerate(CASES.values()):
        canary = root / f"{k:03d}" / "canary"
        canary.parent.mkdir()
        jobs.append(Job(case.build(canary), case.kind, canary, case.receiver, expect_canary=case.hostile))
    return dict(zip(CASES, load_many(jobs), strict=True))


@pytest.mark.parametrize("name", [c.name for c in hostile()])
def test_hostile_case_runs_code(name: str, loads: dict[str, LoadResult]) -> None:
    result = loads[name]
    assert result.canary, f"{name} did not create its canary ({CASES[name].note}): {result}"
    assert not result.timed_out


@pytest.mark.parametrize("name", [c.name for c in legit()])
def test_legit_case_loads_cleanly(name: str, loads: dict[str, LoadResult]) -> None:
    result = loads[name]
    assert result.error is None, result.error
    assert not result.canary
    assert result.result_type in ("Expr", "list", "LogicalPlan", "ExecutionPlan")


def test_runs_code_single_blob(tmp_path: Path) -> None:
    evil, good = CASES["obj-os-system@pickle"], CASES["intenum@pickle"]
    assert runs_code(evil.build(tmp_path / "evil"), evil.kind, tmp_path / "evil")
    assert not runs_code(good.build(tmp_path / "good"), good.kind, tmp_path / "good")
    assert not (tmp_path / "good").exists()


def test_building_runs_nothing(tmp_path: Path) -> None:
    """Building every case (in this process) creates no canary: only the loads do."""
    for k, case in enumerate(CASES.values()):
        canary = tmp_path / f"{k:03d}"
        case.build(canary)
        assert not canary.exists(), case.name


def _count(items: list[Case], key: str) -> Counter:
    return Counter(getattr(c, key) for c in items)


def test_catalogue_covers_every_rule_and_carrier() -> None:
    bad = hostile()
    assert len(bad) >= 60 and len(legit()) >= 40
    assert set(_count(bad, "rule")) == set(RULES)
    by_carrier = _count(bad, "carrier")
    assert set(by_carrier) == set(CARRIERS)
    assert min(by_carrier.values()) >= 3, by_carrier
    rules_per_carrier = {carrier: {c.rule for c in bad if c.carrier == carrier} for carrier in CARRIERS}
    assert all(len(rules) >= 2 for rules in rules_per_carrier.values()), rules_per_carrier
    assert {c.carrier for c in legit()} == set(CARRIERS)


def test_case_records_are_complete() -> None:
    for case in cases():
        assert case.name and case.kind and case.carrier in CARRIERS
        assert case.rule in RULES if case.hostile else case.rule == "legit"
        assert case.kind.rpartition(":")[2] in ("pickle", "expr", "logical", "physical")
        assert case.hostile == (case.rule != "legit")


def test_scoreboard_runs_and_inspection_runs_nothing() -> None:
    """tools/safety_scoreboard.py scores exprtool on every case; building + static inspection create no canary
    (its exit status is 1 if one appeared). The numbers themselves are the classifier's business."""
    tool = TOOLS / "safety_scoreboard.py"
    proc = subprocess.run([sys.executable, str(tool)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "hostile flagged" in proc.stdout and "TOTAL" in proc.stdout
