"""The ``--find-rows`` part of ``exprtool eval``: after a failure on data, find the rows; report them on the
terminal or as JSON; write a repro bundle; and run one (``exprtool eval BUNDLE_DIR``).

The search itself is the library's (``actions/rows``); this module decides when it runs, shows its
progress on a terminal and renders what it found.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import typer

from .common import Exit, shorten


@dataclass
class RowsSettings:
    find: bool | None  # --find-rows / --no-find-rows / neither (on when stdout and stderr are terminals)
    budget: float | None
    bundle: str | None
    json: bool
    force: bool = False
    quiet: bool = False
    allow: list[str] = field(default_factory=list)

    def wanted(self, tty: bool) -> bool:
        if self.bundle:
            return True
        return self.find if self.find is not None else tty


def terminal() -> bool:
    """The default for --find-rows: a person is watching (stdout and stderr on a terminal)."""
    return sys.stdout.isatty() and sys.stderr.isatty()


# --- exprtool eval BUNDLE_DIR -------------------------------------------------------------------------
def is_bundle(path: str) -> bool:
    if not os.path.isdir(path):  # a blob file: the bundle module (and what it imports) is not needed
        return False
    from datafusion_exprtool.capturing.bundle import is_bundle as found

    return found(path)


def bundle_params(params: dict[str, Any], defaults: dict[str, Any], enums: dict[str, Any]) -> dict[str, Any]:
    """``eval``'s parameters for a bundle: its recorded command, under the options the command line gives
    (an option left at its default takes the bundle's value; DATA replaces the bundle's rows)."""
    from datafusion_exprtool.capturing.bundle import BundleError, load_bundle

    try:
        replay = load_bundle(params["blob"]).replay
    except BundleError as exc:
        print(f"exprtool: {exc}", file=sys.stderr)
        raise typer.Exit(Exit.USAGE) from None
    recorded: dict[str, Any] = {
        "blob": replay.blob,
        "data": replay.data,
        "worker_ctx": replay.worker_ctx,
        "config": [f"{k}={v}" for k, v in replay.config.items()] or None,
        "target_partitions": replay.target_partitions,
        "batch_size": replay.batch_size,
        "strict": replay.strict,
        "isolate": enums["isolate"](replay.isolate),
        "mode": enums["mode"](replay.mode) if replay.mode and replay.mode != "filter" else None,
        "filter_": replay.mode == "filter",
        "keep": [",".join(replay.keep)] if replay.keep else None,
        "group_by": [",".join(replay.group_by)] if replay.group_by else None,
        "index": replay.index,
        "param": [f"{k}={v}" for k, v in replay.params.items()] or None,
        "trust": replay.trust,
        "allow": replay.allow or None,
    }
    out = dict(params)
    out["blob"] = replay.blob
    out["data"] = params["data"] or replay.data
    for name, value in recorded.items():
        if name not in ("blob", "data") and params.get(name) == defaults.get(name):
            out[name] = value
    return out


def check_bundle_target(settings: RowsSettings, opts: Any) -> None:
    """Refuse a --bundle directory that cannot be written before anything runs (also one that holds an input
    of the run ``opts`` describes, such as the bundle being replayed)."""
    if not settings.bundle:
        return
    from datafusion_exprtool.capturing.bundle import BundleError, check_target, run_inputs

    try:
        check_target(settings.bundle, settings.force, run_inputs(opts))
    except BundleError as exc:
        print(f"exprtool: {exc}", file=sys.stderr)
        raise typer.Exit(Exit.USAGE) from None


# --- after a failure ----------------------------------------------------------------------------------
def after_failure(
    prepared: Any, opts: Any, failure: Any, settings: RowsSettings, replay_seconds: float | None, err: Any
) -> None:
    """Search (when wanted and the failure is the data's), then report; with --json the document goes to
    stdout whether or not a search ran."""
    from datafusion_exprtool.actions.rows.find import why_not

    tty = terminal()
    skipped = None
    if settings.wanted(tty) and prepared is not None:
        skipped = why_not(prepared, failure)
        if skipped and (settings.find or settings.bundle):
            print(f"exprtool: --find-rows: {skipped}", file=sys.stderr)
    if prepared is None or skipped or not settings.wanted(tty):
        if settings.json:
            from datafusion_exprtool.actions.rows.report import document

            _print_json(document(failure, skipped=skipped))
        return
    _search(prepared, opts, failure, settings, replay_seconds, err, tty)


def print_result(result: Any) -> None:
    """``--json`` after a run that worked: what it produced, never the rows themselves (they go to -o)."""
    from datafusion_exprtool.model import SCHEMA_VERSION

    _print_json({
        "schema_version": SCHEMA_VERSION,
        "result": {
            "rows": result.rows,
            "columns": result.columns,
            "output": result.output,
            "timings": {k: round(v, 6) for k, v in result.timings.items()},
            "differences": result.diffs,
        },
        "failure": None,
    })


def _print_json(doc: dict[str, Any]) -> None:
    from datafusion_exprtool.actions.eval.output import json_default

    sys.stdout.write(json.dumps(doc, indent=2, default=json_default, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _search(prepared: Any, opts: Any, failure: Any, settings: RowsSettings, replay_seconds: float | None,
            err: Any, tty: bool) -> None:  # fmt: skip
    import tempfile

    from datafusion_exprtool.actions.rows.find import find_rows
    from datafusion_exprtool.actions.rows.report import document, exception_facts, failing_rows
    from datafusion_exprtool.sandbox.failure import EvalError

    show = tty and not settings.quiet and not settings.json
    if show:
        err.print("find-rows: searching the rows that fail (Ctrl-C stops and reports what was found; "
                  "--no-find-rows skips)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="exprtool-rows-") as workdir:
        try:
            if show:
                found = _with_progress(err, lambda cb: find_rows(prepared, opts, failure, workdir,
                                       settings.budget, replay_seconds, cb))  # fmt: skip
            else:
                found = find_rows(prepared, opts, failure, workdir, settings.budget, replay_seconds)
        except EvalError as exc:
            print(f"exprtool: --find-rows could not start its worker: {exc.failure}", file=sys.stderr)
            if settings.json:
                _print_json(document(failure, skipped=f"the probe worker could not start: {exc.failure}"))
            return
        result = found.result
        rows, _table = failing_rows(found)
        facts = exception_facts(result.failure or failure, prepared.inspection, prepared.job.python_functions)
        bundle = _write_bundle(prepared, opts, found, rows, facts, settings, result.failure or failure)
        if settings.json:
            _print_json(document(failure, found, rows, facts if result.rows is not None else None, bundle))
        else:
            _render(err, found, rows, facts, bundle)


def _with_progress(err: Any, call: Any) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("find-rows: {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("of {task.fields[budget]:.0f} s"),
        console=err.get(),
        transient=True,
    ) as progress:
        task = progress.add_task("starting the probe worker", total=1.0, budget=0.0)

        def update(p: Any) -> None:
            progress.update(
                task,
                completed=min(p.elapsed / p.budget, 1.0) if p.budget else 0.0,
                description=f"{p.phase}: {p.rows:,} rows · probe {p.probes}",
                budget=p.budget,
            )

        return call(update)


def _write_bundle(prepared: Any, opts: Any, found: Any, rows: list[Any], facts: Any, settings: RowsSettings,
                  failure: Any) -> str | None:  # fmt: skip
    result = found.result
    if not settings.bundle:
        return None
    if result.rows_file is None:
        print(f"exprtool: --bundle {settings.bundle}: not written: the search found no failing rows to put in it",
              file=sys.stderr)  # fmt: skip
        return None
    from dataclasses import asdict

    from datafusion_exprtool.capturing.bundle import BundleError, write_bundle

    try:
        return write_bundle(
            settings.bundle,
            blob=prepared.job.data,
            container=prepared.job.container,
            rows_file=result.rows_file,
            opts=opts,
            origins=[{k: v for k, v in asdict(r).items() if k != "values"} for r in rows],
            failure_lines=_failure_lines(failure, facts),
            minimal=result.minimal,
            row_count=len(result.rows),
            columns=found.columns,
            allow=settings.allow,
            force=settings.force,
        )
    except (BundleError, OSError) as exc:
        print(f"exprtool: --bundle {settings.bundle}: not written: {exc}", file=sys.stderr)
        return None


def _failure_lines(failure: Any, facts: Any) -> list[str]:
    head = f"stage {failure.stage}" + (f", function {failure.function}" if failure.function else "")
    lines = [f"{head}: {facts.type}: {shorten(' '.join(facts.message.split()), 300)}"]
    if facts.frame:
        lines.append(f"raised at {facts.frame.file}:{facts.frame.line} in {facts.frame.function}")
    if failure.original:
        lines.append(f"datafusion: {shorten(' '.join(failure.original.split()), 400)}")
    return lines


# --- the terminal report ------------------------------------------------------------------------------
MAX_TABLE_ROWS = 20


def _shown_path(path: str) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else path


def _render(err: Any, found: Any, rows: list[Any], facts: Any, bundle: str | None) -> None:
    from datafusion_exprtool.actions.rows.search import FLAKY, FOUND, NARROWED, NO_SUBSET

    r = found.result
    cost = f"{r.probes} probes, {r.seconds:.2f} s"
    if r.outcome == FOUND:
        count = len(r.rows)
        what = "1 row fails" if count == 1 else f"{count:,} rows fail together"
        err.print(f"find-rows: {what} the same way ({cost}; minimal, confirmed by a replay of just "
                  f"{'this row' if count == 1 else 'these rows'} from Parquet)")  # fmt: skip
    elif r.outcome == NARROWED:
        size = f"within {len(r.rows):,} rows" if r.rows is not None else "not narrowed"
        err.print(f"find-rows: stopped ({r.reason}): the failure is {size} ({cost})")
    elif r.outcome == NO_SUBSET:
        err.print(f"find-rows: does not reproduce on a subset: {r.reason} ({cost})")
    elif r.outcome == FLAKY:
        err.print(f"find-rows: flaky: {r.reason} ({cost})")
    if r.others:
        err.print("  other failures met on the way (not this one): " + "; ".join(r.others))
    if r.rows is None:
        return
    spans = found.layout.spans(r.rows)
    for span in spans[:10]:
        rows_text = f"row {span.first_row:,}" if span.rows == 1 else (
            f"{span.rows:,} rows in {span.first_row:,}–{span.last_row:,}")  # fmt: skip
        err.print(f"  {_shown_path(span.file)}  row group {span.row_group}  {rows_text}")
    if len(spans) > 10:
        err.print(f"  … {len(spans) - 10} more row groups (--json lists them all)")
    if rows and len(rows) <= MAX_TABLE_ROWS * 5:
        err.get().print(_rows_table(rows, found.columns))
    _render_exception(err, facts)
    if not bundle and r.rows_file:
        err.print("  to keep them: add --bundle DIR (the blob, these rows as Parquet and the command that replays them)")
    if bundle:
        shown = _shown_path(bundle)  # as the rows' files: relative to the working directory when inside it
        err.print(f"  bundle: {shown} (replay: exprtool eval {shown}; the rows may be sensitive: read "
                  f"{os.path.join(shown, 'MANIFEST.txt')} before you share it)")  # fmt: skip


def _rows_table(rows: list[Any], columns: list[str]) -> Any:
    from rich.table import Table

    table = Table(header_style="bold")
    for name in ("file", "row group", "row", *columns):
        table.add_column(name, overflow="fold")
    for row in rows[:MAX_TABLE_ROWS]:
        cells = [_shown_path(row.file), str(row.row_group), f"{row.row:,}"]
        cells += ["∅" if row.values.get(c) is None else shorten(str(row.values.get(c)), 120) for c in columns]
        table.add_row(*cells)
    if len(rows) > MAX_TABLE_ROWS:
        table.caption = f"first {MAX_TABLE_ROWS} of {len(rows):,} rows (--json lists them all)"
    return table


def _render_exception(err: Any, facts: Any) -> None:
    said = shorten(" ".join(facts.message.split()), 300)
    if facts.type == "datafusion":
        err.print(f"  raised by datafusion: {said}")
    elif facts.type == "worker-death":
        err.print(f"  the worker died: {said}")
    else:
        err.print(f"  raised: {facts.type}: {said}")
    frame, udf = facts.frame, facts.udf
    if udf is not None and udf.by_value:
        qualname = udf.qualname or udf.name
        named = frame.function if frame is not None else qualname  # each name is said once
        where = f"at line {frame.line} in {named}" if frame is not None else f"in {named}"
        sender = f" of the sender's {udf.defined_at.rpartition(':')[0]}" if udf.defined_at else ""
        who = f"{udf.name} " if udf.name != named else ""
        what = f": {qualname}" if qualname not in (named, udf.name) else ""
        first = f", defined at line {udf.defined_at.rpartition(':')[2]}" if udf.defined_at else ""
        err.print(f"    {where}{sender} ({who}travelled by value{what}{first}; the blob "
                  "carries its code, not its source)")  # fmt: skip
    elif frame is not None:
        err.print(f"    at {frame.file}:{frame.line} in {frame.function}")
        if frame.source:
            err.print(f"    {frame.line} | {frame.source}")
