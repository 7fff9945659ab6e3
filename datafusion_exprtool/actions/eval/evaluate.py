"""``exprtool eval`` as a library: static checks first, then decode and run in a worker.

    load input -> static inspection -> safety gate -> Parquet files -> schema check + mode -> worker

Nothing in the blob runs before the safety gate has passed; the schema check needs no decoding either, so a
blob meant for other data is refused without executing any of its code.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datafusion_exprtool.actions.eval.isolation import (
    METHODS,
    Started,
    run_inline,
    run_isolated,
    start_worker,
)
from datafusion_exprtool.actions.eval.modes import ExprShape, analyze, check_schema, pick_mode
from datafusion_exprtool.actions.eval.output import (
    Sink,
    check_target,
    format_for,
    parquet_metadata,
    temp_path_for,
)
from datafusion_exprtool.actions.eval.params import check_params
from datafusion_exprtool.actions.eval.runner import EvalJob, EvalResult
from datafusion_exprtool.actions.scale.options import ScaleOptions
from datafusion_exprtool.actions.scale.parts import PARTS, check_parts_target, wants_parts
from datafusion_exprtool.actions.trust import Refused, trust_gate
from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.layers.proto.roots import PLAN_MESSAGES
from datafusion_exprtool.model import Inspection
from datafusion_exprtool.sandbox.context import WorkerSpec
from datafusion_exprtool.sandbox.failure import fail

if TYPE_CHECKING:
    from datafusion_exprtool.actions.eval.plan import PlanFacts


@dataclass
class EvalOptions:
    blob: str
    data: list[str]
    worker: WorkerSpec = field(default_factory=WorkerSpec)
    isolate: str = "spawn"
    mode: str | None = None
    keep: list[str] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    limit: int | None = None
    output: str | None = None
    output_format: str | None = None
    force: bool = False
    expect: str | None = None
    preview_rows: int = 0
    trust: bool = False
    index: int | None = None  # which expression of a pickle that holds several
    params: dict[str, str] = field(default_factory=dict)  # placeholder id ($1) -> SQL literal
    tables: list[tuple[str, str]] = field(default_factory=list)  # plans: --table NAME=PATH
    partition: int | None = None  # physical plans: --partition N
    scale: ScaleOptions | None = None  # --workers / --engine ray (actions/scale)


@dataclass
class Prepared:
    """What the static phase found; enough to show the user before any code runs."""

    job: EvalJob
    inspection: Inspection
    shape: ExprShape
    files: list[str]
    total_rows: int
    row_group_ends: list[int]  # cumulative row counts at each row group's end, over all files
    plan: PlanFacts | None = None  # the blob is a plan: its scans, rebindings, partition (actions/eval/plan)
    scale: Any = None  # actions.scale.plan.ScalePlan: how --workers / --engine ray split the replay
    worker: Started | None = None  # the isolated worker, started while the blob was inspected

    def row_groups_read(self, rows: int) -> int:
        """Row groups fully read once ``rows`` rows came out of the scan (an estimate with parallel scans)."""
        import bisect

        return bisect.bisect_right(self.row_group_ends, rows)


def listed_parquet(directory: str) -> list[str]:
    """The Parquet files datafusion's listing reads in ``directory``: its own, and those under hive-style
    ``key=value`` subdirectories; other subdirectories are skipped
    (``datafusion.execution.listing_table_ignore_subdirectory``, true by default)."""
    out = []
    for path in glob.glob(os.path.join(directory, "**", "*.parquet"), recursive=True):
        parts = os.path.relpath(path, directory).split(os.sep)
        if os.path.isfile(path) and len([p for p in parts if "=" not in p]) == 1:
            out.append(path)
    return sorted(out)


#: what DATA and --table PATH take, said in every fix about them
READS = "a Parquet file, a directory of them or a quoted glob ('data/*.parquet')"


def parquet_files(data: list[str], option: str = "DATA") -> tuple[list[str], list[str]]:
    """(paths to give datafusion, every Parquet file) for files, directories and globs. A directory holds
    what datafusion reads in it (``listed_parquet``), so one directory given to datafusion and its files
    given one by one read the same rows. ``option`` names where the paths came from (``DATA``, ``--table
    t=PATH``) in the usage errors, each with its fix."""
    files: list[str] = []
    for item in data:
        said = item if option == "DATA" else option
        if os.path.isdir(item):
            found = listed_parquet(item)
            if not found and glob.glob(os.path.join(item, "**", "*.parquet"), recursive=True):
                raise fail(
                    "input",
                    f"{said}: no Parquet files in {item} that datafusion reads: they are in subdirectories, which "
                    "datafusion skips when it lists a directory (unless they are named key=value)",
                    file=item,
                    exit_code=ExitCode.USAGE,
                    hint=f"pass a glob: '{os.path.join(item, '**', '*.parquet')}'",
                )
            if not found:
                raise fail(
                    "input", f"{said}: the directory {item} holds no *.parquet file", file=item,
                    exit_code=ExitCode.USAGE,
                    hint=f"pass the directory that holds the data, or its files: {READS}",
                )  # fmt: skip
        elif any(ch in item for ch in "*?["):
            found = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
            if not found:
                raise fail(
                    "input", f"{said}: the glob {item} matches no file (read from {os.getcwd()})", file=item,
                    exit_code=ExitCode.USAGE,
                    hint="check the glob against `ls`; quote it so that eval, not the shell, expands it; "
                    "'**' matches subdirectories",
                )  # fmt: skip
        elif os.path.isfile(item):
            found = [item]
        else:
            raise fail(
                "input", f"{said}: no such file or directory: {item} (read from {os.getcwd()})", file=item,
                exit_code=ExitCode.USAGE, hint=f"check the path; eval reads {READS}",
            )  # fmt: skip
        files += [os.path.abspath(p) for p in found]
    if len(data) == 1 and os.path.isdir(data[0]):
        return [os.path.abspath(data[0])], files
    return files, files


def _python_functions(inspection: Inspection) -> dict[str, str]:
    """Python function name (as tracebacks show it) -> the UDF name the expression uses."""
    out: dict[str, str] = {}
    for fn in inspection.functions:
        if fn.transport == "builtin":
            continue
        qual = fn.callable.qualname if fn.callable and fn.callable.qualname else fn.name
        out[qual.rsplit(".", 1)[-1]] = fn.name
    return out


def _pick_payload(inspection: Inspection, index: int | None) -> Any:
    """The expression to replay: the only one, or the ``--index``-th of several."""
    payloads = inspection.payloads
    count = len(payloads)
    if count > 1 and index is None:
        raise fail(
            "input",
            f"the pickle holds {count} expressions; eval replays one: pick it with --index N (0 to {count - 1})",
            exit_code=ExitCode.USAGE,
        )
    if index is not None and not 0 <= index < max(count, 1):
        raise fail(
            "input",
            f"--index {index}: the blob holds {count} expression{'s' if count != 1 else ''} "
            f"(--index 0 to {max(count - 1, 0)})",
            exit_code=ExitCode.USAGE,
        )
    payload = payloads[index or 0] if payloads else None
    if payload is None or payload.message not in ("LogicalExprNode", *PLAN_MESSAGES):
        found = f"a {payload.message}" if payload else "no datafusion expression (a pickle of something else)"
        raise fail("input", f"eval replays expressions and plans; this blob holds {found}", exit_code=ExitCode.USAGE)
    return payload


def _table_name(shape: ExprShape) -> tuple[str, str] | None:
    """(qualifier, a column it qualifies) when the columns name one table (``t.a``); several cannot be
    one Parquet input."""
    if len(shape.relations) > 1:
        names = ", ".join(shape.relations)
        raise fail(
            "input",
            f"the expression's columns are qualified with {len(shape.relations)} tables ({names}); "
            "eval reads the data as one table",
            exit_code=ExitCode.USAGE,
            hint="this expression belongs to a join: evaluate the query it came from, or re-encode it "
            "with unqualified columns",
        )
    return next(iter(shape.relations.items()), None)


def _targets(opts: EvalOptions, inputs: list[str]) -> tuple[str | None, str | None, str | None, str | None]:
    """(output, its format, its temporary name, the golden file), each checked before any work. ``inputs``:
    the files the run reads; -o never replaces one of them, nor the blob or the golden file, even with
    --force (inputs are never modified: the run would read what it is replacing, or compare with itself)."""
    output = output_format = temp = None
    if opts.output and opts.scale is not None and opts.scale.scaled and wants_parts(opts.output):
        output, output_format = os.path.abspath(opts.output), PARTS  # -o DIR/: Parquet parts (actions/scale)
        check_parts_target(output, opts.force, opts.limit)
    elif opts.output:
        output = os.path.abspath(opts.output)
        inputs = [f for p in inputs for f in (listed_parquet(p) if os.path.isdir(p) else [p])]
        read = [opts.blob, *([opts.expect] if opts.expect else []), *inputs]
        exists = os.path.exists(output)
        same = next((p for p in read if exists and p != "-" and os.path.exists(p) and os.path.samefile(p, output)), None)
        if same is not None:
            raise fail(
                "write", f"-o {opts.output} is an input of this run ({same}): it is never replaced, even with --force",
                file=opts.output, exit_code=ExitCode.USAGE, hint="write the result to another file",
            )  # fmt: skip
        output_format = format_for(output, opts.output_format)
        check_target(output, opts.force)
        temp = temp_path_for(output)
    expect = os.path.abspath(opts.expect) if opts.expect else None
    if expect and not os.path.isfile(expect):
        raise fail("input", f"no such golden file: {opts.expect}", file=opts.expect, exit_code=ExitCode.USAGE)
    if expect:
        try:
            parquet_metadata(expect)  # before any work: a golden file that is no Parquet is a usage error
        except Exception as exc:
            raise fail(
                "input", f"golden file is not a readable Parquet file: {exc}", file=opts.expect,
                exit_code=ExitCode.USAGE,
            ) from None
    return output, output_format, temp, expect


def _prepare_plan(opts: EvalOptions, loaded: Any, inspection: Inspection, payload: Any) -> Prepared:
    """A plan blob: its scans, rebound and checked (``actions/eval/plan``); DATA and every ``--table`` PATH
    read as eval reads DATA (a file, a directory or a glob)."""
    from datafusion_exprtool.actions.eval.plan import prepare_plan

    inputs = [parquet_files([path], f"--table {name}={path}") for name, path in opts.tables]
    given = parquet_files(opts.data) if opts.data else None
    data, plan_job, facts = prepare_plan(opts, loaded.data, payload, inputs, given, opts.worker.settings())
    output, output_format, temp, expect = _targets(opts, facts.local_files)
    job = EvalJob(
        data=data,
        container=loaded.info.container,
        paths=[],
        mode="plan",
        limit=opts.limit,
        output=output,
        output_format=output_format,
        output_temp=temp,
        force=opts.force,
        preview_rows=opts.preview_rows,
        expect=expect,
        python_functions=_python_functions(inspection),
        plan=plan_job,
    )
    return Prepared(job, inspection, ExprShape(), facts.local_files, 0, [], plan=facts)


def isolated_worker(opts: EvalOptions) -> bool:
    """Whether the replay runs in one isolated worker process (``--isolate`` other than none, not scaled)."""
    return opts.isolate in METHODS[1:] and not (opts.scale is not None and opts.scale.scaled)


def prepare(opts: EvalOptions, started: Started | None = None) -> Prepared:
    """Everything that needs no decoding. Raises DecodeError (exit 3) or EvalError.

    An isolated worker is started first (or ``started``, by the caller with ``worker_start.start_worker``
    and ``opts.worker``, before it imported this module): it builds the worker ctx and imports datafusion
    while this process inspects the blob (on two cores the start-up costs little more than the longer of
    the two); it gets the job only after the trust gate, and is stopped if anything here fails."""
    if started is not None and not isolated_worker(opts):
        started.stop()
        started = None
    if started is None and isolated_worker(opts):
        started = start_worker(opts.worker, opts.isolate)
    try:
        prepared = _prepare(opts)
    except BaseException:
        if started is not None:
            started.stop()
        raise
    prepared.worker = started
    return prepared


def _prepare(opts: EvalOptions) -> Prepared:
    from datafusion_exprtool.inspection.pipeline import inspect_bytes
    from datafusion_exprtool.layers.container import load_input

    if opts.isolate not in METHODS:
        raise fail(
            "input", f"--isolate {opts.isolate!r}", hint=f"one of {', '.join(METHODS)}", exit_code=ExitCode.USAGE
        )
    loaded = load_input(opts.blob)
    inspection = inspect_bytes(loaded.data, loaded.info)
    try:
        trust_gate(inspection, opts.trust)
    except Refused as refused:
        raise fail(
            "safety",
            "the static inspection found the blob suspicious: " + "; ".join(refused.reasons[:5] or [refused.verdict]),
            hint="review it with `exprtool inspect`, then pass --trust to run it anyway",
            exit_code=refused.code,
        ) from None
    payload = _pick_payload(inspection, opts.index)
    if payload.message in PLAN_MESSAGES:
        if opts.scale is not None and opts.scale.scaled:
            raise fail("input", "--workers and --engine ray replay expressions; a plan replays one partition at a "
                       "time with --partition N", exit_code=ExitCode.USAGE)  # fmt: skip
        return _prepare_plan(opts, loaded, inspection, payload)
    if opts.tables or opts.partition is not None:
        given = "--table" if opts.tables else "--partition"
        raise fail(
            "input", f"{given}: --table and --partition replay plans; this blob is an expression",
            exit_code=ExitCode.USAGE,
            hint=f"drop {given}; give the expression its data as DATA: exprtool eval BLOB PATH ({READS})",
        )  # fmt: skip
    if not opts.data:
        raise fail(
            "input", "an expression needs DATA to run on", exit_code=ExitCode.USAGE,
            hint=f"exprtool eval BLOB DATA, with DATA {READS} holding the columns the expression reads",
        )  # fmt: skip
    shape = analyze(payload.root)
    table = _table_name(shape)
    check_params(shape.placeholders, opts.params)
    mode = pick_mode(shape, opts.mode, opts.group_by)
    paths, files = parquet_files(opts.data)
    extra = [*opts.keep, *opts.group_by]
    ends: list[int] = []
    groups: list[int] = []  # row groups per file
    total = 0
    for path in files:
        try:
            meta = parquet_metadata(path)
        except Exception as exc:
            raise fail(
                "input", f"not a readable Parquet file: {exc}", file=path, exit_code=ExitCode.USAGE,
                hint=f"DATA is read as Parquet only: pass {READS} (pyarrow.parquet.write_table converts a table)",
            ) from None
        check_schema(meta.schema.to_arrow_schema(), shape, inspection.functions, extra, path)
        groups.append(meta.num_row_groups)
        for i in range(meta.num_row_groups):
            total += meta.row_group(i).num_rows
            ends.append(total)
    output, output_format, temp, expect = _targets(opts, files)
    job = EvalJob(
        data=loaded.data,
        container=loaded.info.container,
        paths=paths,
        mode=mode,
        keep=list(opts.keep),
        group_by=list(opts.group_by),
        limit=opts.limit,
        output=output,
        output_format=output_format,
        output_temp=temp,
        force=opts.force,
        preview_rows=opts.preview_rows,
        expect=expect,
        python_functions=_python_functions(inspection),
        index=opts.index,
        params=dict(opts.params),
        table=table,
    )
    scale = None
    if opts.scale is not None and opts.scale.scaled:
        from datafusion_exprtool.actions.scale.driver import plan_for

        scale = plan_for(job, shape, payload.root, files, groups, ends, opts.scale, opts.isolate)
    return Prepared(job, inspection, shape, files, total, ends, scale=scale)


def run(
    prepared: Prepared,
    opts: EvalOptions,
    on_progress: Callable[[int], None] | None = None,
    batch_sink: Sink | None = None,
) -> EvalResult:
    """Decode and execute, in this process (``none``) or a fresh worker. Raises EvalError.

    Without a progress callback or a batch sink, datafusion writes a Parquet ``-o`` file itself, in this
    process or in a worker (the parent removes a dead worker's temporary file and the ``<temp>#<n>``
    staging files datafusion's object store writes beside it).
    """
    if prepared.scale is not None and prepared.scale.distributed:
        from datafusion_exprtool.actions.scale.driver import run_scaled

        return run_scaled(prepared, opts, on_progress, batch_sink)
    progress = on_progress or (lambda _n: None)
    spec = opts.worker
    if spec.cwd is None:
        spec.cwd = os.getcwd()
    job = dataclasses.replace(prepared.job, direct_write=on_progress is None and batch_sink is None)
    if opts.isolate == "none":
        return run_inline(job, spec, progress, batch_sink)
    started, prepared.worker = prepared.worker, None  # a worker runs one job
    return run_isolated(job, spec, opts.isolate, progress, batch_sink, started)


def evaluate(
    opts: EvalOptions, on_progress: Callable[[int], None] | None = None, batch_sink: Sink | None = None
) -> tuple[Prepared, EvalResult]:
    prepared = prepare(opts)
    return prepared, run(prepared, opts, on_progress, batch_sink)


__all__ = ["EvalOptions", "Prepared", "isolated_worker", "prepare", "run", "evaluate", "parquet_files", "listed_parquet", "Any"]
