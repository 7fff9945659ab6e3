"""The failing-row search: delta debugging over row ranges, cheapest probes first, never a wrong answer.

The search keeps a set of rows known to fail the same way (``FailureShape``) and shrinks it:

1. *Scan order.* The set is cut into chunks at its coarsest boundaries (files, row groups, then batches,
   then rows: ``Layout.split``), and the chunks are probed in scan order until one fails alone. A probe
   stops at its first failing batch, and every chunk before the failing one passes once, so narrowing 20M
   rows to a row group costs about one replay; small sets are bisected (few probes, each cheap).
2. *Combinations.* When no chunk fails alone, the failure needs rows from several chunks (or it depends on
   the batch rather than the rows): a control probe replaces every row by one row known to pass, keeping
   the batches' sizes; if that still fails, the failure does not depend on which rows are there and the
   search says so. Otherwise it removes chunks (Zeller's ddmin: complements, then finer chunks) until
   removing any single row makes the failure go away: a 1-minimal set.
3. *Confirmation.* The set is probed twice more, a control probe of the same shape must pass, and the rows
   written as Parquet must fail the same way when replayed exactly as eval replays (a worker that never ran
   the blob): that file is what a bundle carries. Anything else is reported as it is: flaky, or "does not
   reproduce on a subset", with the reason.

The budget bounds the search (a probe that would overrun it is stopped); on a stop the smallest failing
set so far is reported as narrowed, not minimal. Ctrl-C does the same.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from datafusion_exprtool.actions.eval.runner import EvalJob
from datafusion_exprtool.actions.rows.layout import Layout, Rows
from datafusion_exprtool.actions.rows.probe import ProbeOutcome, ProbeRequest
from datafusion_exprtool.actions.rows.signature import FailureShape
from datafusion_exprtool.sandbox.failure import EvalFailure

FOUND = "found"  # a minimal set, confirmed by a replay from Parquet
NARROWED = "narrowed"  # stopped (budget, Ctrl-C) with a failing set that is not known to be minimal
NO_SUBSET = "no-subset"  # the failure does not reproduce on a subset of the rows
FLAKY = "flaky"  # the same rows failed and passed
CONFIRMATIONS = 2  # extra probes of the final set


@dataclass
class Progress:
    """Where the search is, for a progress line."""

    phase: str  # "row groups", "batches", "rows", "combinations", "confirming"
    rows: int  # rows in the smallest set known to fail (the whole input before the first)
    probes: int
    elapsed: float
    budget: float


@dataclass
class SearchResult:
    outcome: str
    reason: str
    rows: Rows | None = None  # the failing set (FOUND, NARROWED); None otherwise
    minimal: bool = False  # removing any one row makes the failure go away
    confirmed: bool = False  # the rows written as Parquet fail the same way in a fresh replay
    failure: EvalFailure | None = None  # the failure on these rows (the confirming replay's when confirmed)
    probes: int = 0
    seconds: float = 0.0
    stopped: str | None = None  # "budget" | "interrupted"
    others: list[str] = field(default_factory=list)  # other failures probes met (not counted as this one)
    rows_file: str | None = None  # the failing rows as Parquet (FOUND, and NARROWED when small enough)


class Stop(Exception):
    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


class Worker(Protocol):
    """What the search needs of a worker (``worker.IsolatedWorker``, ``worker.InlineWorker``)."""

    def probe(self, request: ProbeRequest) -> ProbeOutcome: ...

    def replay(self, job: EvalJob, seconds: float | None = None) -> ProbeOutcome: ...


WriteRows = Callable[[Rows, str], None]

#: a set narrowed (not minimal) this small is still written as Parquet for a bundle
MAX_NARROWED_ROWS = 100_000


class Search:
    def __init__(
        self,
        layout: Layout,
        target: EvalFailure,
        worker: Worker,
        replayer: Worker,
        job: EvalJob,
        write_rows: WriteRows,
        workdir: str,
        budget: float,
        on_progress: Callable[[Progress], None] | None = None,
    ):
        self.layout = layout
        self.target = FailureShape.of(target)
        self.worker = worker
        self.replayer = replayer
        self.job = job
        self.write_rows = write_rows
        self.workdir = workdir
        self.budget = budget
        self.on_progress = on_progress or (lambda _p: None)
        self.t0 = time.monotonic()
        self.probes = 0
        self.memo: dict[Rows, bool] = {}
        self.last_failure: EvalFailure | None = None
        self.innocent: int | None = None  # a row of a set that passed
        self.others: dict[FailureShape, None] = {}
        self.best: Rows | None = None
        self.phase = "row groups"

    # --- probing -------------------------------------------------------------------------------------
    def remaining(self) -> float:
        return self.budget - (time.monotonic() - self.t0)

    def _report(self) -> None:
        size = len(self.best) if self.best is not None else self.layout.total
        self.on_progress(Progress(self.phase, size, self.probes, time.monotonic() - self.t0, self.budget))

    def _judge(self, outcome: ProbeOutcome, control: bool = False) -> bool:
        if outcome.timed_out:
            raise Stop("budget")
        if outcome.failure is None:
            return False
        shape = FailureShape.of(outcome.failure)
        if shape.matches(self.target):
            self.last_failure = outcome.failure
            return True
        self.others.setdefault(shape, None)
        # a control probe that fails otherwise, or a probe that failed before its rows ran (its plan, reading
        # the rows), tells nothing about the rows: say so, guess nothing
        if control or outcome.failure.stage != self.target.stage:
            raise Inconclusive(shape)
        return False

    def probe(self, rows: Rows, fill: int | None = None, prefetch: Rows | None = None, fresh: bool = False) -> bool:
        """Does the expression fail the same way on ``rows`` (every row replaced by row ``fill``)?"""
        if fill is None and not fresh and rows in self.memo:
            return self.memo[rows]
        left = self.remaining()
        if left <= 0:
            raise Stop("budget")
        self.probes += 1
        self._report()
        failed = self._judge(self.worker.probe(ProbeRequest(rows, fill, prefetch, left)), control=fill is not None)
        if fill is None:
            if fresh and rows in self.memo and self.memo[rows] != failed:
                raise Flaky(rows)
            self.memo[rows] = failed
            if failed and (self.best is None or len(rows) < len(self.best)):
                self.best = rows
            elif not failed and len(rows) and self.innocent is None:
                self.innocent = rows.first()
        return failed

    # --- the search ----------------------------------------------------------------------------------
    def run(self) -> SearchResult:
        try:
            return self._run()
        except Flaky as flaky:
            what = f"the same {len(flaky.rows):,} row(s)" if len(flaky.rows) else "the expression on no rows at all"
            return self._result(FLAKY, f"{what} failed in one probe and passed in another: the failure is flaky "
                                       "(or depends on state the UDF keeps)")  # fmt: skip
        except Inconclusive as odd:
            return self._result(NO_SUBSET, f"a probe failed in another way ({odd.shape.describe()}): the search "
                                           "cannot tell whether the failure depends on which rows")  # fmt: skip
        except Stop as stop:
            return self._stopped(stop.why)
        except KeyboardInterrupt:
            return self._stopped("interrupted")

    def _run(self) -> SearchResult:
        if self.probe(Rows()) and self.probe(Rows(), fresh=True):  # twice: a flaky UDF fails on no rows too
            return self._result(NO_SUBSET, "the expression fails the same way with no rows at all: the failure "
                                           "does not come from the data")  # fmt: skip
        rows, known = self.layout.all(), False
        n = self.layout.chunks_for(rows)
        controlled = False
        while len(rows) > 1 or not known:
            self.phase = self.layout.level(rows)
            chunks = self.layout.split(rows, n)
            if len(chunks) < 2:
                break
            hit = None
            for i, chunk in enumerate(chunks):  # in scan order: the chunks before the failing one pass once
                if self.probe(chunk, prefetch=chunks[i + 1] if i + 1 < len(chunks) else None):
                    hit = chunk
                    break
            if hit is not None:
                rows, known, controlled = hit, True, False
                n = self.layout.chunks_for(rows)
                continue
            self.phase = "combinations"
            if not known:
                if not self.probe(rows):
                    return self._whole_input()
                known = just_probed = True
            else:
                just_probed = False
            if not controlled:  # once: the set fails again (else flaky), and not for any rows (else no subset)
                controlled = True
                if not just_probed:  # a set known from an earlier probe fails again
                    self.probe(rows, fresh=True)
                if self.innocent is not None and self.probe(rows, fill=self.innocent):
                    return self._content_independent(rows)
            if len(chunks) > 2:  # with two chunks the complements are the chunks: already probed
                hit = next((rows.minus(c) for c in chunks if self.probe(rows.minus(c))), None)
                if hit is not None:
                    rows, n = hit, max(len(chunks) - 1, 2)
                    continue
            if len(chunks) >= len(rows):  # every single row was left out once: 1-minimal
                break
            n = min(2 * len(chunks), len(rows))
        if not known and not self.probe(rows):  # a one-row input
            return self._whole_input()
        return self._confirm(rows)

    def _whole_input(self) -> SearchResult:
        """Every input row in one probe passes, although eval's run failed: replay eval's run once more."""
        self.phase = "confirming"
        outcome = self.replayer.replay(self.job, max(self.remaining(), 1.0))
        if self._judge(outcome):
            return self._result(NO_SUBSET, "the failure happens when datafusion scans the Parquet files, but not "
                                           "when the same rows are fed batch by batch: it depends on how the scan "
                                           "batches or partitions the input, not on a subset of rows")  # fmt: skip
        return self._result(FLAKY, "the whole input passed in a probe and in a second replay of eval's run: the "
                                   "failure did not happen again (flaky, or it depends on something outside the "
                                   "data)")  # fmt: skip

    def _content_independent(self, rows: Rows) -> SearchResult:
        if not self.probe(rows, fill=self.innocent):
            return self._result(FLAKY, "a control probe (the same number of rows, all copies of a row that "
                                       "passes) failed once and passed once: the failure is flaky")  # fmt: skip
        return self._result(
            NO_SUBSET,
            f"any {len(rows):,} rows in the same batches fail, whichever rows they are (a control probe of "
            f"{len(rows):,} copies of one row that passes alone fails the same way): the failure depends on "
            "the batches' composition or size (or it is flaky), not on a subset of rows",
        )

    def _confirm(self, rows: Rows) -> SearchResult:
        self.phase = "confirming"
        for _ in range(CONFIRMATIONS):
            if not self.probe(rows, fresh=True):
                raise Flaky(rows)
        innocent = self.innocent if self.innocent is not None else self._find_innocent(rows)
        if innocent is None and len(rows) >= self.layout.total:
            return self._result(NO_SUBSET, f"the failing set is the whole input ({len(rows):,} row(s)): no row "
                                           "outside it is left to show that other rows pass, so whether the "
                                           "failure depends on these rows cannot be told")  # fmt: skip
        if innocent is None:
            return self._result(NO_SUBSET, "every row tried fails the same way (the first row, one in the middle "
                                           "and the last): the failure does not depend on which rows")  # fmt: skip
        self.innocent = innocent
        if self.probe(rows, fill=innocent):
            return self._content_independent(rows)
        path = os.path.join(self.workdir, "rows.parquet")
        self.write_rows(rows, path)
        outcome = self.replayer.replay(dataclasses.replace(self.job, paths=[path]), max(self.remaining(), 10.0))
        if outcome.failure is None or not FailureShape.of(outcome.failure).matches(self.target):
            said = f" (it failed differently: {FailureShape.of(outcome.failure).describe()})" if outcome.failure else ""
            return self._result(NO_SUBSET, f"the {len(rows):,} row(s) fail the same way in a probe but not when "
                                           f"written to a Parquet file and replayed like eval{said}: the failure "
                                           "depends on how the rows are batched")  # fmt: skip
        result = self._result(FOUND, "", rows)
        result.minimal = result.confirmed = True
        result.failure, result.rows_file = outcome.failure, path
        return result

    def _find_innocent(self, rows: Rows) -> int | None:
        """Every probe so far failed: a row outside the set that passes alone (first, middle, last)."""
        total = self.layout.total
        for row in dict.fromkeys((0, total // 2, total - 1)):
            if row not in rows and not self.probe(Rows.of([(row, row + 1)])):
                return row
        return None

    def _stopped(self, why: str) -> SearchResult:
        said = f"the budget of {self.budget:g} s ran out" if why == "budget" else "interrupted"
        if self.best is None:
            result = self._result(NARROWED, f"{said} before any subset failed")
        else:
            result = self._result(NARROWED, f"{said}; the smallest failing set found so far is not known to be "
                                            "minimal", self.best)  # fmt: skip
            if len(self.best) <= MAX_NARROWED_ROWS:
                path = os.path.join(self.workdir, "rows.parquet")
                try:
                    self.write_rows(self.best, path)
                    result.rows_file = path
                except OSError:
                    pass
        result.stopped = why
        return result

    def _result(self, outcome: str, reason: str, rows: Rows | None = None) -> SearchResult:
        return SearchResult(
            outcome=outcome,
            reason=reason,
            rows=rows,
            failure=self.last_failure if rows is not None else None,
            probes=self.probes,
            seconds=time.monotonic() - self.t0,
            others=[s.describe() for s in list(self.others)[:3]],
        )


class Flaky(Exception):
    def __init__(self, rows: Rows):
        super().__init__(f"{len(rows)} rows")
        self.rows = rows


class Inconclusive(Exception):
    def __init__(self, shape: FailureShape):
        super().__init__(shape.describe())
        self.shape = shape
