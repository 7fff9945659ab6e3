"""Decode, plan and execute one blob against Parquet, streaming the result into sinks, with stage timing.

``run_job`` runs in whatever process it is called in (the CLI itself with ``--isolate none``, a fresh worker
otherwise). It reports the stage it enters through a callback, so that a worker that dies can be blamed on
the right stage by its parent.

A Parquet ``-o`` result that nothing in Python needs to see (no ``--expect``, no preview, no progress, no
extra sink) is written by datafusion itself (``direct_write``): pulling batches into Python and encoding
them with pyarrow on the same thread serialises scan and write, 1.3-1.8x the time of datafusion's writer.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.actions.eval.failure import classify
from datafusion_exprtool.actions.eval.output import (
    ExpectSink,
    FileSink,
    PreviewSink,
    Sink,
    write_parquet_direct,
)
from datafusion_exprtool.actions.eval.plan_run import PhysicalFrame, PlanJob, decode_plan, plan_frame
from datafusion_exprtool.sandbox.failure import EvalError, fail

PRED = "__exprtool_predicate"  # name of the probe column that types a --filter expression


@dataclass
class EvalJob:
    """Everything a worker needs; plain data, so it can be sent to a spawned process."""

    data: bytes
    container: str  # "pickle" | "protobuf"
    paths: list[str]  # Parquet files or one directory
    mode: str  # project | filter | aggregate | window
    keep: list[str] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    limit: int | None = None
    output: str | None = None
    output_format: str | None = None
    output_temp: str | None = None  # chosen by the caller, so it can clean up after a dead worker
    force: bool = False  # --force: the output may replace an existing file
    preview_rows: int = 0
    expect: str | None = None
    python_functions: dict[str, str] = field(default_factory=dict)  # Python qualname -> UDF name
    # nobody watches progress: a Parquet -o may be written by datafusion itself (see uses_direct_write)
    direct_write: bool = False
    index: int | None = None  # which Expr of a pickle that holds several (--index)
    params: dict[str, str] = field(default_factory=dict)  # placeholder id -> SQL literal (--param)
    # (qualifier, a column it qualifies): the data is read under that table name, so ``t.a`` resolves
    table: tuple[str, str] | None = None
    plan: PlanJob | None = None  # the blob is a plan (``actions/eval/plan_run``): no expression, no paths


@dataclass
class EvalResult:
    rows: int
    timings: dict[str, float]  # decode, plan, execute (seconds)
    columns: list[str]
    preview: Any = None  # pyarrow.Table of the first rows, when asked for
    output: str | None = None
    diffs: list[str] = field(default_factory=list)  # --expect differences (empty: equal)
    schema: Any = None  # pyarrow.Schema of the result


Hook = Callable[..., None]


def _noop(*_args: Any) -> None:
    pass


def _exprs(value: Any) -> list[Any]:
    """The Exprs in a decoded pickle, in the order they were pickled (lists, tuples and dict values)."""
    from datafusion import Expr

    out, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Expr):
            out.append(item)
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
    return out


def decode(job: EvalJob, ctx: Any = None) -> Any:
    """The same path a worker uses: pickle.loads (worker ctx via ipc) or Expr.from_bytes."""
    from datafusion import Expr

    value = pickle.loads(job.data) if job.container == "pickle" else Expr.from_bytes(job.data)
    if job.index is not None or isinstance(value, (list, tuple, dict)):
        found = _exprs(value)
        index = job.index or 0
        if index < len(found) and (job.index is not None or len(found) == 1):
            value = found[index]
    if not isinstance(value, Expr):
        raise fail(
            "unpickle",
            f"the pickle holds a {type(value).__name__}, not one datafusion Expr",
            hint="eval replays one expression per blob",
        )
    if job.params:
        from datafusion_exprtool.actions.eval.params import bind

        value = bind(value, job.params, ctx)
    return value


def read_input(ctx: Any, paths: list[str]) -> Any:
    """The Parquet input as eval's worker reads it (one DataFrame over every path)."""
    frames = [ctx.read_parquet(p) for p in paths]
    df = frames[0]
    for other in frames[1:]:
        df = df.union(other)
    return df


def _named(expr: Any) -> Any:
    """Name the result like datafusion's canonical name (not 'f(?table?.a)')."""
    if expr.variant_name() == "Alias":
        return expr
    return expr.alias(expr.schema_name())


def plan(ctx: Any, job: EvalJob, expr: Any) -> Any:
    """The DataFrame for the mode."""
    return frame(ctx, job, expr, read_input(ctx, job.paths))


def frame(ctx: Any, job: EvalJob, expr: Any, df: Any) -> Any:
    """The mode's DataFrame over ``df``: the Parquet input, or the rows a ``--find-rows`` probe picked."""
    from datafusion import col

    if job.table:
        from datafusion_exprtool.actions.eval.params import qualify

        df = qualify(df, *job.table)
    keep = [col(c) for c in job.keep]
    if job.mode == "aggregate":
        return df.aggregate([col(c) for c in job.group_by], [_named(expr)])
    if job.mode == "filter":
        kind = df.select(expr.alias(PRED)).schema().field(PRED).type
        if str(kind) != "bool":
            raise fail(
                "plan",
                f"--filter needs a boolean expression; this one is {kind}",
                hint="use --mode project to see its values",
            )
        df = df.filter(expr)
        return df.select(*keep) if keep else df
    return df.select(*keep, _named(expr))


def _sorted(df: Any) -> Any:
    from datafusion import col

    if isinstance(df, PhysicalFrame):
        return df.sorted(_sorted)
    try:
        return df.sort(*[col(f'"{n}"').sort(ascending=True, nulls_first=True) for n in df.schema().names])
    except Exception:
        return df


def uses_direct_write(job: EvalJob, extra_sinks: list[Sink] | None = None) -> bool:
    """True when datafusion can write the result file itself: Parquet, and no batch is needed in Python.

    CSV and JSON stay on the streaming writers: datafusion's quote, null and number formats differ from
    the ones ``-o x.csv`` / ``x.json`` have always written (e.g. it leaves null JSON fields out). So does a
    path datafusion cannot take as one file name (see ``_plain_path``).
    """
    return bool(
        job.direct_write
        and job.output
        and (job.output_format or "parquet") == "parquet"
        and not job.expect
        and not job.preview_rows
        and not extra_sinks
        and not (job.plan is not None and job.plan.physical)  # datafusion writes DataFrames only
        and _plain_path(job.output_temp or job.output)
    )


def _plain_path(path: str) -> bool:
    """datafusion reads ``*?[`` in a write path as a glob (it then writes elsewhere, or fails), and its
    object store refuses control characters; undecodable bytes (surrogate escapes) cannot cross to Rust."""
    return not any(ch in "*?[" for ch in path) and path.isprintable()


def run_job(
    job: EvalJob,
    ctx: Any,
    on_stage: Hook = _noop,
    on_progress: Hook = _noop,
    extra_sinks: list[Sink] | None = None,
) -> EvalResult:
    """Decode + plan + execute with stage timing. Every exception becomes an EvalError."""
    timings = {"decode": 0.0, "plan": 0.0, "execute": 0.0}
    stage = "unpickle" if job.container == "pickle" else "decode"
    sinks: list[Sink] = list(extra_sinks or [])
    try:
        on_stage(stage)
        t0 = time.perf_counter()
        expr = decode(job, ctx) if job.plan is None else decode_plan(job, ctx)
        timings["decode"] = time.perf_counter() - t0

        stage = "plan"
        on_stage(stage)
        t0 = time.perf_counter()
        df = plan(ctx, job, expr) if job.plan is None else plan_frame(ctx, job, expr)
        if job.expect:
            df = _sorted(df)
            golden = _sorted(ctx.read_parquet(job.expect))
            expect_sink = ExpectSink((b.to_pyarrow() for b in golden.execute_stream()), golden.schema())
            sinks.append(expect_sink)
        schema = df.schema()
        preview = PreviewSink(job.preview_rows) if job.preview_rows else None
        if preview:
            sinks.append(preview)
        direct = job.output if uses_direct_write(job, extra_sinks) else None
        if direct:
            if job.limit is not None:
                df = df.limit(job.limit)
            timings["plan"] = time.perf_counter() - t0
            stage = "execute"
            on_stage(stage)
            t0 = time.perf_counter()
            rows = write_parquet_direct(df, direct, job.output_temp, job.force)
            timings["execute"] = time.perf_counter() - t0
            return EvalResult(rows, timings, list(schema.names), output=job.output, schema=schema)
        if job.output:
            stage = "write"
            sinks.append(FileSink(job.output, job.output_format or "parquet", job.output_temp, job.force))
            stage = "plan"
        stream = df.execute_stream()
        timings["plan"] = time.perf_counter() - t0

        stage = "execute"
        on_stage(stage)
        t0 = time.perf_counter()
        rows = _pump(stream, sinks, job.limit, on_progress)
        if schema is None:  # a physical plan's: known from its batches only
            schema = df.final_schema()
        stage = "write"
        for sink in sinks:
            sink.close(schema)
        timings["execute"] = time.perf_counter() - t0
    except BaseException as exc:
        for sink in sinks:
            try:
                sink.abort()
            except Exception:
                pass
        if isinstance(exc, _WriteFailed):
            exc, stage = exc.cause, "write"
        if isinstance(exc, (KeyboardInterrupt, BrokenPipeError)):
            raise exc from None  # the reader of stdout left: not an evaluation failure
        raise EvalError(classify(exc, stage, job.python_functions)) from None
    diffs = expect_sink.diffs if job.expect else []
    return EvalResult(
        rows=rows,
        timings=timings,
        columns=list(schema.names),
        preview=preview.table() if preview else None,
        output=job.output,
        diffs=diffs,
        schema=schema,
    )


class _WriteFailed(Exception):
    """A sink could not take a batch: the failure is the output's (stage 'write'), not the evaluation's."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


def _pump(stream: Any, sinks: list[Sink], limit: int | None, on_progress: Hook) -> int:
    """Move batches from the datafusion stream into the sinks; never holds more than one batch."""
    rows_out = rows_in = 0
    last = time.monotonic()
    for item in stream:
        batch = item.to_pyarrow()
        rows_in += batch.num_rows
        if limit is not None and rows_out + batch.num_rows > limit:
            batch = batch.slice(0, limit - rows_out)
        if batch.num_rows:
            for sink in sinks:
                try:
                    sink.write(batch)
                except Exception as exc:
                    raise _WriteFailed(exc) from exc
            rows_out += batch.num_rows
        now = time.monotonic()
        if now - last > 0.1:
            on_progress(rows_in)
            last = now
        if limit is not None and rows_out >= limit:
            break
    on_progress(rows_in)
    return rows_out
