"""``eval --find-rows`` as a library call: after eval failed at the execute stage, find the rows.

    prepared (eval's static phase) + the failure -> layout from the Parquet footers -> two workers
    (one probes, one stays untouched to confirm from Parquet) -> Search -> FoundRows

Both workers start at once, so the confirming worker is ready by the time it is needed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datafusion_exprtool.actions.eval.evaluate import EvalOptions, Prepared
from datafusion_exprtool.actions.rows.layout import Layout
from datafusion_exprtool.actions.rows.probe import ProbeSetup
from datafusion_exprtool.actions.rows.rows_file import write_rows
from datafusion_exprtool.actions.rows.search import Progress, Search, SearchResult
from datafusion_exprtool.actions.rows.worker import WorkerFailed, make_worker
from datafusion_exprtool.sandbox.failure import EvalFailure

#: the default budget: at least this many seconds ...
MIN_BUDGET = 60.0
#: ... or this many times the failing replay, whichever is longer
BUDGET_REPLAYS = 5.0
#: the stages whose failures depend on the data (decode, plan and worker-ctx failures do not)
SEARCHABLE = ("execute",)


def default_budget(replay_seconds: float | None) -> float:
    return max(MIN_BUDGET, BUDGET_REPLAYS * (replay_seconds or 0.0))


def why_not(prepared: Prepared, failure: EvalFailure) -> str | None:
    """Why no search can find rows for this failure (None: it can)."""
    if failure.stage not in SEARCHABLE:
        return f"the failure is at stage '{failure.stage}', before any row is evaluated: no rows to find"
    if prepared.plan is not None:
        return (
            "the blob is a plan: the search narrows an expression's input, not a whole query's; "
            "replay the failing expression on the plan's data to find its rows"
        )
    if not probe_columns(prepared):
        return "the expression reads no column: its failure cannot come from the values of some rows"
    if not prepared.total_rows:
        return "the input has no rows"
    return None


def probe_columns(prepared: Prepared) -> list[str]:
    """The columns a probe reads (and the report shows): the expression's, then --group-by and --keep."""
    job = prepared.job
    return list(dict.fromkeys([*prepared.shape.columns, *job.group_by, *job.keep]))


@dataclass
class FoundRows:
    """A search's result with what a report needs to place the rows."""

    result: SearchResult
    layout: Layout
    columns: list[str]
    budget: float
    replay_seconds: float | None


def find_rows(
    prepared: Prepared,
    opts: EvalOptions,
    failure: EvalFailure,
    workdir: str,
    budget: float | None = None,
    replay_seconds: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> FoundRows:
    """Search the smallest set of input rows that fails like ``failure``. Raises EvalError when the probe
    worker cannot start (its worker context fails to build there)."""
    import time

    from datafusion_exprtool.sandbox.failure import EvalError

    t0 = time.monotonic()
    budget = default_budget(replay_seconds) if budget is None else budget
    job = dataclasses.replace(
        prepared.job, output=None, output_temp=None, output_format=None, expect=None, preview_rows=0,
        limit=None, direct_write=False,
    )  # fmt: skip
    spec = dataclasses.replace(opts.worker)
    layout = Layout.from_files(prepared.files)
    columns = probe_columns(prepared)
    setup = ProbeSetup(job=job, spec=spec, layout=layout, columns=columns)
    prober, replayer = make_worker(setup, opts.isolate), make_worker(setup, opts.isolate)
    try:
        prober.start()
        replayer.start()
        layout.batch_size = prober.ready()
        search = Search(
            layout=layout,
            target=failure,
            worker=prober,
            replayer=replayer,
            job=job,
            write_rows=lambda rows, path: write_rows(layout, rows, columns, path),
            workdir=workdir,
            budget=budget,
            on_progress=on_progress,
        )
        result = search.run()
        result.seconds = time.monotonic() - t0  # with the workers' start
    except WorkerFailed as exc:
        raise EvalError(exc.failure) from None
    finally:
        prober.close()
        replayer.close()
    return FoundRows(result, layout, columns, budget, replay_seconds)


__all__ = ["FoundRows", "Progress", "default_budget", "find_rows", "probe_columns", "why_not", "Any"]
