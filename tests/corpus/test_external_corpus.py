"""exprtool against the external corpus: blobs apache/datafusion-python's own tests built, with datafusion's
answers recorded when they were built (tools/harvest_corpus.py; nothing here is typed by hand).

Per kind (expr, logical, optimized, physical) the rates are ratchets: each must stay at or above the floor
measured when it was committed, and each false error count at or below its ceiling. Raise a floor (lower a
ceiling) when a change improves it; tools/corpus_report.py shows the misses by category.

- detection: the message type ``inspect`` detects is the kind's (LogicalExprNode / LogicalPlanNode /
  PhysicalPlanNode);
- text: ``inspect``'s rendering equals datafusion's ``canonical_name()`` / ``display_indent()``; for physical
  plans also the rate once the annotations docs/commands.md lists as left out are taken out of datafusion's text
  (tests/support/left_out.py): what the issue asks;
- check: no error predicted for a blob datafusion decoded in a fresh receiver process.
"""

from __future__ import annotations

import pytest
from support.external_corpus import KINDS, Score, Tally, entries, environment_differs, manifest, tally

#: measured on the committed corpus (expr 2269, logical 214, optimized 209, physical 1539 blobs)
DETECTION_FLOORS = {"expr": 1.0, "logical": 1.0, "optimized": 1.0, "physical": 1.0}
TEXT_FLOORS = {"expr": 0.9982, "logical": 1.0, "optimized": 1.0, "physical": 0.9954}
#: physical plans equal to datafusion's text but for the annotations docs/commands.md lists as left out
DOCUMENTED_TEXT_FLOOR = 1.0
#: check errors predicted for blobs datafusion decodes
FALSE_ERROR_CEILINGS = {"expr": 0, "logical": 0, "optimized": 0, "physical": 0}
#: blobs datafusion refuses for which check predicts no error (inspect then exits 0 on them)
MISSED_ERROR_CEILINGS = {"expr": 0, "logical": 0, "optimized": 0, "physical": 0}
SHOWN = 15  # misses named in a failure message


@pytest.fixture(scope="module")
def tallies() -> dict[str, Tally]:
    differs = environment_differs()
    if differs:
        pytest.skip(f"{differs}: regenerate with tools/harvest_corpus.py")
    return tally(entries())


def _ids(scores: list[Score]) -> str:
    more = f" … and {len(scores) - SHOWN} more" if len(scores) > SHOWN else ""
    return ", ".join(s.entry["id"] for s in scores[:SHOWN]) + more


def test_corpus_matches_its_manifest() -> None:
    """The archive holds what manifest.json counts, every blob with datafusion's text and round trip."""
    all_entries = entries()
    counts = manifest()["counts"]
    for kind in KINDS:
        mine = [e for e in all_entries if e["kind"] == kind]
        blobs = [e for e in mine if e["blob"] is not None]
        assert len(mine) == counts[kind]["entries"]
        assert len(blobs) == counts[kind]["blobs"]
        assert sum(e["roundtrip"]["ok"] for e in blobs) == counts[kind].get("roundtrip_ok", 0)
        assert all(e["text"] is not None and e["blob"] for e in blobs)
    assert len({e["id"] for e in all_entries}) == len(all_entries)


@pytest.mark.parametrize("kind", KINDS)
def test_detects_message_type(kind: str, tallies: dict[str, Tally]) -> None:
    t = tallies[kind]
    rate = t.rate("detected")
    assert rate >= DETECTION_FLOORS[kind], (
        f"{kind}: detection {rate:.4f} < floor {DETECTION_FLOORS[kind]}; misses: {_ids(t.misses('detected'))}"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_rendering_equals_datafusion_text(kind: str, tallies: dict[str, Tally]) -> None:
    t = tallies[kind]
    rate = t.rate("text_match")
    assert rate >= TEXT_FLOORS[kind], (
        f"{kind}: text match {rate:.4f} < floor {TEXT_FLOORS[kind]}; misses: {_ids(t.misses('text_match'))}"
    )


def test_physical_plans_equal_datafusion_text_but_the_documented_annotations(tallies: dict[str, Tally]) -> None:
    t = tallies["physical"]
    rate = t.rate("text_match_documented")
    assert rate >= DOCUMENTED_TEXT_FLOOR, (
        f"physical: text match but left-out annotations {rate:.4f} < floor {DOCUMENTED_TEXT_FLOOR}; "
        f"misses: {_ids(t.misses('text_match_documented'))}"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_check_reports_no_error_for_what_datafusion_decodes(kind: str, tallies: dict[str, Tally]) -> None:
    t = tallies[kind]
    false = t.flagged("false_error")
    assert len(false) <= FALSE_ERROR_CEILINGS[kind], (
        f"{kind}: {len(false)} false check errors > ceiling {FALSE_ERROR_CEILINGS[kind]}: {_ids(false)}"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_check_predicts_every_refusal(kind: str, tallies: dict[str, Tally]) -> None:
    """What datafusion refuses to decode, check calls an error (and inspect exits 3 on it)."""
    missed = tallies[kind].flagged("missed_error")
    assert len(missed) <= MISSED_ERROR_CEILINGS[kind], (
        f"{kind}: {len(missed)} refusals check does not predict > ceiling {MISSED_ERROR_CEILINGS[kind]}: {_ids(missed)}"
    )


def test_every_blob_is_inspected(tallies: dict[str, Tally]) -> None:
    """inspect and check run to the end on every blob (a raise is a bug whatever the rates say)."""
    raised = [s for t in tallies.values() for s in t.scores if s.inspect_error or s.check_error]
    assert not raised, "; ".join(f"{s.entry['id']}: {s.inspect_error or s.check_error}" for s in raised[:SHOWN])
