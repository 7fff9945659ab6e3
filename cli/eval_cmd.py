"""`exprtool eval`: replay a blob against Parquet inside a configurable worker context."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

import typer

from .common import ALLOW_HELP, Exit, Teardown, apply_allow, input_exit, input_problem, shorten
from .summary import EVAL_SUMMARY_HELP, summarize_eval


class Isolate(str, Enum):
    none = "none"
    spawn = "spawn"
    forkserver = "forkserver"
    fork = "fork"


class Mode(str, Enum):
    project = "project"
    filter = "filter"
    aggregate = "aggregate"
    window = "window"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class OutFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    ndjson = "ndjson"


def _worker_spec(worker_ctx: str | None, config: list[str] | None, target_partitions: int | None,
                 batch_size: int | None, strict: bool) -> Any:  # fmt: skip
    from datafusion_exprtool.sandbox.context import WorkerSpec, parse_config

    return WorkerSpec(factory=worker_ctx, config=parse_config(config or []), target_partitions=target_partitions,
                      batch_size=batch_size, strict=strict)  # fmt: skip


@dataclass
class _Ahead:
    spec: Any  # sandbox.context.WorkerSpec
    started: Any  # actions.eval.worker_start.Started


def _start_worker_ahead(isolate: Isolate, workers: str | None, engine: Engine, *spec_args: Any) -> _Ahead | None:
    """The one isolated worker of a plain replay, started before eval's other modules are imported: its own
    start (a fresh interpreter, ``import datafusion``) is the longest part of a small replay. None when the
    replay has no such worker, or its worker options are refused (reported with the other usage errors)."""
    if isolate is Isolate.none or engine is not Engine.local or (workers is not None and workers.strip() != "1"):
        return None
    import atexit

    from datafusion_exprtool.actions.eval.worker_start import start_worker
    from datafusion_exprtool.sandbox.failure import EvalError

    try:
        spec = _worker_spec(*spec_args)
    except EvalError:
        return None
    started = start_worker(spec, isolate.value)
    atexit.register(started.stop)  # a usage error before prepare() took it: no worker or temporary file left
    return _Ahead(spec, started)


def _split(values: list[str] | None) -> list[str]:
    return [c.strip() for v in values or [] for c in v.split(",") if c.strip()]


def _print_failure(failure: Any, verbose: bool = False) -> None:
    """One line, then where / fix / details, and datafusion's own message verbatim (``explain`` reads it)."""
    head = f"exprtool: eval failed at stage '{failure.stage}'"
    if failure.function:
        head += f" in function '{failure.function}'"
    lines = [f"{head}: {shorten(' '.join(failure.message.split()), 400)}"]
    if failure.cause:
        lines.append(f"  cause: {failure.cause} (`exprtool explain` says more)")
    if failure.file:
        lines.append(f"  where: {failure.file}")
    if failure.hint:
        lines.append("  fix: " + failure.hint.replace("\n", "\n       "))  # a catalog fix's code lines indented
    lines += [f"  {d}" for d in failure.details]
    if failure.original:
        lines.append(f"  datafusion: {failure.original}")
    if verbose:
        lines += [f"  | {d}" for d in failure.debug]
    print("\n".join(lines), file=sys.stderr)


def _summary(prepared: Any) -> str:
    insp = prepared.inspection
    fns = [f"{f.name} ({f.kind}, {f.transport})" for f in insp.functions if f.transport != "builtin"]
    text = f"inspection: verdict {insp.safety.verdict}"
    if fns:
        text += "; UDFs: " + ", ".join(fns)
    if prepared.plan is not None:
        return "\n".join([f"{text}; {prepared.plan.summary()[0]}", *prepared.plan.summary()[1:]])
    text += f"; mode {prepared.job.mode}; {prepared.total_rows} rows in {len(prepared.files)} file(s)"
    return text


def _table(result: Any, maxrows: int) -> Any:
    from rich.table import Table

    table = Table(show_lines=False, header_style="bold")
    preview = result.preview
    names = result.columns
    for name in names:
        table.add_column(name, overflow="fold")
    if preview is not None:
        columns = [preview.column(i).to_pylist() for i in range(preview.num_columns)]
        for r in range(preview.num_rows):
            table.add_row(*["∅" if c[r] is None else str(c[r]) for c in columns])
    return table  # how many rows it shows is the footer's first words (a caption wraps on a narrow table)


def _footer(result: Any, shown: int | None = None) -> str:
    t = result.timings
    head = f"first {shown} of " if shown is not None and result.rows > shown else ""
    started = f" · start workers {t['startup']:.3f}s" if "startup" in t else ""  # --workers, --engine ray
    return (
        f"{head}{result.rows} rows{started} · decode {t['decode']:.3f}s · plan {t['plan']:.3f}s · execute {t['execute']:.3f}s"
        + (f" · wrote {result.output}" if result.output else "")
    )


def eval_(
    blob: Annotated[str, typer.Argument(help="Blob: pickle, raw protobuf, base64/hex text, or - for stdin.")],
    data: Annotated[
        list[str] | None,
        typer.Argument(help="Parquet files, a directory or a glob (a plan reads the files it names; a bundle has its own)."),
    ] = None,
    worker_ctx: Annotated[
        str | None,
        typer.Option("--worker-ctx", help="module:function or file.py:function returning a SessionContext."),
    ] = None,
    config: Annotated[
        list[str] | None, typer.Option("--config", help="SessionConfig option key=value (repeatable).")
    ] = None,
    target_partitions: Annotated[int | None, typer.Option("--target-partitions", min=1)] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Receiver refuses inline Python UDFs (inlining disabled).")
    ] = False,
    isolate: Annotated[
        Isolate, typer.Option("--isolate", help="Worker process start method.")
    ] = Isolate.spawn,
    mode: Annotated[
        Mode | None, typer.Option("--mode", help="Force the mode (default: from the tree).")
    ] = None,
    filter_: Annotated[
        bool, typer.Option("--filter", help="Keep the rows where the expression holds.")
    ] = False,
    keep: Annotated[
        list[str] | None, typer.Option("--keep", help="Input columns to show beside the result.")
    ] = None,
    group_by: Annotated[
        list[str] | None, typer.Option("--group-by", help="Group columns (aggregate).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=0, help="Stop after N result rows.")] = None,
    maxrows: Annotated[int, typer.Option("--maxrows", min=0, help="Rows shown in the table.")] = 40,
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="stdout format.")] = OutFormat.table,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Write .parquet/.csv/.json/.ndjson/.arrow (streamed, atomic)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing -o file.")] = False,
    expect: Annotated[
        str | None, typer.Option("--expect", help="Golden Parquet file; exit 1 when the result differs.")
    ] = None,
    trust: Annotated[
        bool, typer.Option("--trust", help="Run a blob the inspection calls suspicious.")
    ] = False,
    allow: Annotated[list[str] | None, typer.Option("--allow", help=ALLOW_HELP)] = None,
    index: Annotated[
        int | None,
        typer.Option("--index", min=0, help="Which expression of a pickle that holds several (0-based)."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Bind a placeholder: '$1=<SQL literal>' (repeatable)."),
    ] = None,
    table: Annotated[
        list[str] | None,
        typer.Option("--table", help="Plans: NAME=PATH reads PATH where the plan reads table NAME (repeatable)."),
    ] = None,
    partition: Annotated[
        int | None,
        typer.Option("--partition", min=0, help="Physical plans: run this output partition only, as a worker does."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, no summary.")] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="On failure, also what Rust printed (a panic's backtrace)."),
    ] = False,
    summary: Annotated[bool, typer.Option("--summary", help=EVAL_SUMMARY_HELP)] = False,
    find_rows: Annotated[
        bool | None,
        typer.Option("--find-rows/--no-find-rows", help="When the run fails on data, find the fewest rows that "
                     "fail the same way (default: on when stdout and stderr are a terminal)."),
    ] = None,
    find_rows_budget: Annotated[
        float | None,
        typer.Option("--find-rows-budget", min=0, metavar="SECONDS",
                     help="Time the row search may take (default: 60 s or 5x the failing run, the longer)."),
    ] = None,
    bundle: Annotated[
        str | None,
        typer.Option("--bundle", metavar="DIR", help="Write a repro bundle of the failing rows (implies --find-rows)."),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="The run's report on stdout as JSON (rows, timings; or the failure "
                           "and the rows --find-rows found); the result itself goes to -o.")
    ] = False,
    workers: Annotated[
        str | None,
        typer.Option("--workers", help="Worker processes (or Ray actors): N or auto (CPU count). Default 1."),
    ] = None,
    engine: Annotated[
        Engine, typer.Option("--engine", help="local processes, or Ray core actors (the [ray] extra).")
    ] = Engine.local,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster to join (host:port or auto); default: a local one.")
    ] = None,
    ray_working_dir: Annotated[
        str | None,
        typer.Option("--ray-working-dir", help="Directory shipped to every Ray actor (its cwd, on sys.path)."),
    ] = None,
    ray_py_module: Annotated[
        list[str] | None,
        typer.Option("--ray-py-module", help="Module file or package shipped to the Ray actors (repeatable)."),
    ] = None,
) -> None:
    """Decode a blob the way a worker does and run it on Parquet data.

    The blob is inspected statically first; a suspicious one is refused unless --trust. Decoding runs in
    a fresh process (--isolate spawn) whose initializer installs the worker context, so worker-only
    failures reproduce and a crash is reported, not suffered. With --expect both sides are sorted by all
    columns before comparing (and so is an -o file written in the same run).

    A logical or physical plan (LogicalPlan / ExecutionPlan.to_bytes()) replays the whole query on the
    files it names, or on others with --table NAME=PATH; --partition N runs one output partition of a
    physical plan with file-stream work stealing off (docs/plan-replay.md).
    When the run fails on the data, --find-rows narrows the input to the fewest rows that fail the same
    way (file, row group, row), and --bundle DIR writes them with the blob as a repro bundle that
    `exprtool eval DIR` replays.

    --workers N splits an expression's replay over N worker processes (--engine ray: Ray actors; -o DIR/
    writes Parquet parts), with the result of one process (docs/scale.md).

    Example:  exprtool eval expr.pkl data/ --worker-ctx workers.py:make_ctx -o out.parquet

    Example:  exprtool eval expr.pkl data/ --workers auto --group-by k -o out/

    Example:  exprtool eval plan.bin --table orders=sample/orders.parquet --expect golden.parquet
    """
    params = dict(locals())
    Teardown.skippable = True  # every path below closes its outputs and stops its worker in finally blocks
    from .eval_rows import RowsSettings, after_failure, bundle_params, check_bundle_target, is_bundle

    if is_bundle(blob):  # `exprtool eval BUNDLE_DIR`: the bundle's own command
        eval_(**bundle_params(params, _defaults(), {"isolate": Isolate, "mode": Mode}))
    rows = RowsSettings(find_rows, find_rows_budget, bundle, json_, force, quiet, list(allow or []))
    if json_ and fmt is not OutFormat.table:
        print("exprtool: --json prints the run's report on stdout: send the result to -o, not --format",
              file=sys.stderr)  # fmt: skip
        raise typer.Exit(Exit.USAGE)
    apply_allow(allow)
    ahead = _start_worker_ahead(isolate, workers, engine, worker_ctx, config, target_partitions, batch_size, strict)
    from datafusion_exprtool.actions.eval.evaluate import EvalOptions, prepare, run
    from datafusion_exprtool.actions.eval.failure import classify
    from datafusion_exprtool.actions.eval.output import stdout_sink
    from datafusion_exprtool.actions.eval.params import parse_params
    from datafusion_exprtool.actions.eval.rebind import parse_tables
    from datafusion_exprtool.actions.scale.options import ScaleOptions, parse_workers
    from datafusion_exprtool.errors import DecodeError
    from datafusion_exprtool.sandbox.failure import EvalError

    if filter_ and mode not in (None, Mode.filter):
        print("exprtool: --filter and --mode disagree", file=sys.stderr)
        raise typer.Exit(Exit.USAGE)
    tty = sys.stdout.isatty()
    stream_fmt = None if output or json_ or fmt is OutFormat.table else fmt.value
    try:
        spec = ahead.spec if ahead is not None else _worker_spec(worker_ctx, config, target_partitions, batch_size, strict)
        opts = EvalOptions(
            blob=blob,
            data=list(data or []),
            worker=spec,
            isolate=isolate.value,
            mode="filter" if filter_ else (mode.value if mode else None),
            keep=_split(keep),
            group_by=_split(group_by),
            limit=limit,
            output=output,
            force=force,
            expect=expect,
            preview_rows=maxrows if (fmt is OutFormat.table and not output and not json_) else 0,
            trust=trust,
            index=index,
            params=parse_params(param or []),
            tables=parse_tables(table or []),
            partition=partition,
            scale=ScaleOptions(
                workers=parse_workers(workers), engine=engine.value, address=address,
                ray_working_dir=ray_working_dir, ray_py_modules=list(ray_py_module or []),
            ),  # fmt: skip
        )
        check_bundle_target(rows, opts)  # before any work: a --bundle that cannot be written is a usage error
        prepared = prepare(opts, ahead.started if ahead is not None else None)
    except DecodeError as err:
        print(f"exprtool: {blob}: {input_problem(err)}", file=sys.stderr)
        raise typer.Exit(input_exit(err)) from None
    except EvalError as err:
        _print_failure(err.failure, verbose)
        summarize_eval(summary, blob, failure=err.failure)
        after_failure(None, None, err.failure, rows, None, None)
        raise typer.Exit(err.failure.exit_code) from None
    err = _ErrConsole()
    if not quiet:
        err.print(_summary(prepared))
        if prepared.scale is not None:
            err.print(prepared.scale.note)
        for f in prepared.inspection.safety.findings:
            if f.verdict == "suspicious":
                err.print(f"  suspicious (run under --trust): {f.message}")
    sink = stdout_sink(stream_fmt, sys.stdout.buffer) if stream_fmt else None
    started = time.perf_counter()
    try:
        if tty and not quiet:
            result = _run_with_progress(prepared, opts, sink, err.get())
        else:
            result = run(prepared, opts, None, sink)
        if sink is not None:
            try:
                sink.close(result.schema)
            except BrokenPipeError:
                raise
            except Exception as exc:  # stdout could not take the result: the output failed
                raise EvalError(classify(exc, "write")) from None
    except EvalError as exc:
        _print_failure(exc.failure, verbose)
        summarize_eval(summary, blob, failure=exc.failure, inspection=prepared.inspection)
        after_failure(prepared, opts, exc.failure, rows, time.perf_counter() - started, err)
        raise typer.Exit(exc.failure.exit_code) from None
    except BrokenPipeError:  # the reader left before the end: main() makes it 141, as for every command
        raise
    if json_:
        from .eval_rows import print_result

        print_result(result)
    elif fmt is OutFormat.table and not output:
        from .common import console

        out = console()
        out.print(_table(result, maxrows))
        out.print(_footer(result, maxrows), markup=False)
    elif not quiet:
        err.print(_footer(result))
    summarize_eval(summary, blob, result=result, expect=expect)
    if result.diffs:
        print(f"exprtool: the result differs from {expect}:", file=sys.stderr)
        for line in result.diffs:
            print(f"  {line}", file=sys.stderr)
        raise typer.Exit(Exit.FINDINGS)
    if expect and not quiet:
        err.print(f"matches {expect}")
    raise typer.Exit(Exit.OK)


class _ErrConsole:
    """The stderr rich console, created on first use: a quiet run that prints nothing never imports rich."""

    def __init__(self) -> None:
        self._console: Any = None

    def get(self) -> Any:
        if self._console is None:
            from .common import console

            self._console = console(stderr=True)
        return self._console

    def print(self, text: str) -> None:
        self.get().print(text, markup=False)


def _run_with_progress(prepared: Any, opts: Any, sink: Any, err_console: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from datafusion_exprtool.actions.eval.evaluate import run

    groups = len(prepared.row_group_ends)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        label = f"row groups 0/{groups}" if prepared.plan is None else "result"
        task = progress.add_task(label, total=prepared.total_rows or None)

        def update(rows: int) -> None:
            if prepared.plan is not None:  # a plan's input is not its output: rows so far, no total
                progress.update(task, completed=rows)
                return
            progress.update(
                task,
                completed=min(rows, prepared.total_rows),
                description=f"row groups {prepared.row_groups_read(rows)}/{groups}",
            )

        return run(prepared, opts, update, sink)


def _defaults() -> dict[str, Any]:
    import inspect

    return {name: p.default for name, p in inspect.signature(eval_).parameters.items()}


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_)
