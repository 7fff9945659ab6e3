"""The README's story shows what the commands print now: tools/readme_story.py runs them again on the
committed fixtures and the README's generated parts must be exactly what they print (regenerate with
`python tools/readme_story.py` after a change of output)."""

from __future__ import annotations

import difflib

import pytest
from support.repo import ROOT, committed_fixtures_match, load_tool


def test_the_readme_shows_what_the_story_commands_print_now() -> None:
    if not committed_fixtures_match():
        pytest.skip("the committed fixtures are stamped with another Python minor or datafusion version: "
                    "the documented outputs and statuses are theirs")
    story = load_tool("readme_story")
    current = (ROOT / "README.md").read_text(encoding="utf-8")
    fresh = story.regenerated(current)
    diff = "".join(difflib.unified_diff(current.splitlines(True), fresh.splitlines(True), "README.md", "now"))
    assert fresh == current, "README.md is not what the story's commands print now "\
        f"(run `python tools/readme_story.py`):\n{diff}"


def test_the_story_walks_from_the_dead_worker_to_the_fix() -> None:
    """The story is the path the issue asks for, in order, each step with the status its output shows."""
    story = load_tool("readme_story")
    commands = [c for step in story.STORY for c in step.commands]
    order = ["2> worker.log", "exprtool inspect", "exprtool check", "exprtool explain", "exprtool eval"]
    positions = [next(i for i, c in enumerate(commands) if key in c) for key in order]
    assert positions == sorted(positions)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for shown in ("exprtool check fixtures/blobs/udf_module_ref.expr.bin   # exit 1",
                  "exprtool eval fixtures/blobs/udf_module_ref.expr.bin fixtures/data/small.parquet   # exit 4",
                  "No module named 'exprtool_sender_only_helper'", "module-missing"):
        assert shown in readme, shown


def test_the_story_shows_a_moved_plan_and_a_bad_row() -> None:
    """After the fix: a plan whose data moved (check predicts it, --table replays it), a UDF failing on one
    row (--find-rows names it, --bundle keeps it) and the replay on two workers, with what changes between runs
    masked, nothing else."""
    story = load_tool("readme_story")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for shown in ("exprtool check plan.bin   # exit 1", "plan-file-missing", "…/prod/ does not exist",
                  "(rebound by --table sales)", "--find-rows --bundle repro   # exit 4",
                  "fixtures/orders/part-1.parquet  row group 2  row 1,234", "bundle: repro (replay: exprtool eval repro",
                  "1 rows in 1 file(s)", "--workers 2 --keep a"):
        assert shown in readme, shown
    assert "table-rows-corrupt" not in readme and "/tmp/" not in readme and "<!-- lead:" not in readme
    commands = [c for step in story.STORY for c in step.commands]
    assert commands.index("mv prod archive") < commands.index("exprtool check plan.bin")
    masked = story.run("echo $PWD; echo 22 probes, 0.43 s; echo decode 0.001s", ROOT / "fixtures")
    assert masked == ("…\n22 probes, … s\ndecode …s", 0)
