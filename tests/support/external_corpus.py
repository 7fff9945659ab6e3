"""The external corpus (tests/corpus/, built by tools/harvest_corpus.py) and exprtool scored against it.

Every entry holds a blob that apache/datafusion-python's own tests (or the wheel's doctests) built, with
datafusion's own text for it and datafusion's round trip through a fresh SessionContext. ``score`` runs
exprtool on one entry the way the CLI does (``inspect`` then ``check`` on the bytes alone, message type
auto-detected) and ``tally`` sums the scores per kind; tests/corpus/test_external_corpus.py ratchets the
rates and tools/corpus_report.py prints them with the mismatches.
"""

from __future__ import annotations

import base64
import functools
import importlib.machinery
import json
import lzma
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from datafusion_exprtool.inspection.pipeline import inspect_bytes
from datafusion_exprtool.reports.check.plan_data import DATA_IDS
from datafusion_exprtool.reports.check.report import check_bytes
from datafusion_exprtool.reports.check.target import Target
from support.left_out import without_left_out

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
KINDS = ("expr", "logical", "optimized", "physical")
MESSAGE_OF = {
    "expr": "LogicalExprNode",
    "logical": "LogicalPlanNode",
    "optimized": "LogicalPlanNode",
    "physical": "PhysicalPlanNode",
}


def manifest() -> dict:
    return json.loads((CORPUS / "manifest.json").read_text())


def entries() -> list[dict]:
    """Every entry, blob decoded to bytes (None where datafusion's encoder raised)."""
    text = lzma.decompress((CORPUS / manifest()["file"]["name"]).read_bytes()).decode()
    out = [json.loads(line) for line in text.splitlines()]
    for e in out:
        e["blob"] = base64.b64decode(e["blob"]) if e["blob"] is not None else None
    return out


def environment_differs() -> str | None:
    """Why datafusion's recorded answers may not hold here (another datafusion, or Python minor), or None."""
    env = manifest()["environment"]
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if env["datafusion"] != version("datafusion"):
        return f"corpus harvested with datafusion {env['datafusion']}, running {version('datafusion')}"
    if not env["python"].startswith(running + "."):
        return f"corpus harvested on Python {env['python']}, running {running} (pickled UDFs stamp it)"
    return None


@functools.cache
def receiver_target() -> Target:
    """The receiver the corpus's round trips ran in: this venv's interpreter started with ``-I`` from an empty
    directory (no cwd, no PYTHONPATH), so a module importable here only through pytest's sys.path (this
    repository's ``tests``, say) is not importable there."""
    path = subprocess.run([sys.executable, "-I", "-c", "import sys, json; print(json.dumps(sys.path))"],
                          capture_output=True, text=True, check=True, cwd="/").stdout
    search = [p for p in json.loads(path) if p]

    def importable(module: str) -> bool:
        top = module.split(".")[0]
        return top in sys.builtin_module_names or importlib.machinery.PathFinder.find_spec(top, search) is not None

    return Target(importable=importable, source="a fresh `python -I` receiver")


@dataclass
class Score:
    """exprtool on one entry, next to datafusion's answers."""

    entry: dict
    message: str | None = None  # ours (first payload)
    rendered: str | None = None  # ours
    inspect_error: str | None = None
    check_errors: list[str] = field(default_factory=list)  # finding ids of severity error
    check_error: str | None = None  # check raised

    @property
    def detected(self) -> bool:
        return self.message == MESSAGE_OF[self.entry["kind"]]

    @property
    def text_match(self) -> bool:
        """Equal texts; for physical plans modulo the one trailing newline ``display_indent()`` ends with (a
        rendering never ends with a newline: it is printed, embedded in JSON and compared line by line)."""
        theirs = self.entry["text"]
        if self.entry["kind"] == "physical" and theirs is not None and theirs.endswith("\n"):
            theirs = theirs[:-1]
        return self.rendered is not None and self.rendered == theirs

    @property
    def text_match_documented(self) -> bool:
        """Equal once the annotations docs/commands.md lists as left out (derived at planning time, not in the
        bytes) are taken out of datafusion's physical plan text: what the issue asks of physical plans."""
        theirs = self.entry["text"]
        if self.text_match or self.entry["kind"] != "physical" or theirs is None or self.rendered is None:
            return self.text_match
        return self.rendered == without_left_out(theirs.removesuffix("\n"))

    @property
    def decodes(self) -> bool:
        """datafusion decoded it (a fresh SessionContext; pickle.loads for pickles)."""
        return bool(self.entry["roundtrip"]["ok"])

    @property
    def false_error(self) -> bool:
        """check predicts a failure (or raises) for a blob datafusion decodes."""
        return self.decodes and (bool(self.check_errors) or self.check_error is not None)

    @property
    def missed_error(self) -> bool:
        """check predicts nothing for a blob datafusion refuses (reported, not ratcheted)."""
        return not self.decodes and not self.check_errors and self.check_error is None


def score(entry: dict) -> Score:
    s = Score(entry)
    blob = entry["blob"]
    try:
        insp = inspect_bytes(blob)
        s.message = insp.payloads[0].message if insp.payloads else None
        s.rendered = insp.rendered
    except Exception as err:  # noqa: BLE001 - a raise is a miss, reported with the rest
        s.inspect_error = f"{type(err).__name__}: {err}"
    try:
        # findings about a plan's data on this machine (its files are the harvester's) predict a run, not decoding
        errors = check_bytes(blob, receiver_target()).errors
        s.check_errors = [f.id for f in errors if f.id not in DATA_IDS]
    except Exception as err:  # noqa: BLE001
        s.check_error = f"{type(err).__name__}: {err}"
    return s


@dataclass
class Tally:
    """One kind's scores: rates are over entries with a blob."""

    kind: str
    scores: list[Score] = field(default_factory=list)
    encode_errors: int = 0  # entries datafusion could not encode: nothing to score

    @property
    def count(self) -> int:
        return len(self.scores)

    def rate(self, hit: str) -> float:
        return sum(getattr(s, hit) for s in self.scores) / self.count if self.count else 1.0

    def misses(self, hit: str) -> list[Score]:
        return [s for s in self.scores if not getattr(s, hit)]

    def flagged(self, flag: str) -> list[Score]:
        return [s for s in self.scores if getattr(s, flag)]


def tally(all_entries: Iterable[dict]) -> dict[str, Tally]:
    out = {kind: Tally(kind) for kind in KINDS}
    for e in all_entries:
        t = out[e["kind"]]
        if e["blob"] is None:
            t.encode_errors += 1
        else:
            t.scores.append(score(e))
    return out
