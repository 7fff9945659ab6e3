"""The driver of a scaled replay: plan the split, start the workers, check their versions, run the tasks and
merge their results, in order, into eval's sinks (stdout, the atomic ``-o`` writer, the preview, --expect).

The driver decodes nothing: every decode happens in a worker, after the trust gate, as in a one-process
replay. It writes ``-o`` itself, so the file keeps its contract (one file, written under a temporary name
and renamed at the end, never over an existing file without --force) wherever the workers ran.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from datafusion_exprtool.actions.eval.failure import classify
from datafusion_exprtool.actions.eval.output import ExpectSink, FileSink, PreviewSink, Sink
from datafusion_exprtool.actions.eval.runner import EvalResult
from datafusion_exprtool.actions.scale.options import ScaleOptions, local_workers
from datafusion_exprtool.actions.scale.parts import PARTS
from datafusion_exprtool.actions.scale.plan import SHUFFLE, SINGLE, ScalePlan, plan_scale
from datafusion_exprtool.actions.scale.worker import versions
from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.sandbox.context import WorkerSpec
from datafusion_exprtool.sandbox.failure import EvalError, fail


def plan_for(
    job: Any, shape: Any, root: Any, files: list[str], groups: list[int], ends: list[int], opts: ScaleOptions,
    isolate: str,
) -> ScalePlan:  # fmt: skip
    """The split of a replay asked to scale (``opts.scaled``); refuses what cannot work before any work."""
    opts.check()
    if opts.engine == "local" and isolate == "none":
        raise fail("input", "--workers N runs worker processes; --isolate none runs in this one",
                   hint="drop --isolate none (or use --isolate spawn|forkserver|fork)", exit_code=ExitCode.USAGE)  # fmt: skip
    # on Ray, "auto" (or no --workers) is resolved against the cluster once connected: plan for 2 units a CPU
    workers = local_workers(opts.workers) if opts.engine == "local" else (opts.workers or os.cpu_count() or 1)
    plan = plan_scale(job, shape, root, files, groups, ends, workers)
    plan.engine = opts.engine
    plan.parts = job.output_format == PARTS  # one worker or many, the parts are the workers' to write
    if plan.strategy != SINGLE and opts.engine == "ray" and not opts.workers:
        plan.workers = 0  # the cluster's CPU count
    return plan


def check_versions(hellos: list[dict[str, str]], stamps: set[str]) -> None:
    """Every worker runs the driver's Python minor, datafusion and exprtool, and the blob's Python."""
    mine = versions()
    for said in hellos:
        where = f"worker {said['host']} (pid {said['pid']})"
        for key in ("python", "datafusion", "exprtool"):
            if said[key] != mine[key]:
                raise fail(
                    "versions", f"{where} runs {key} {said[key]}, the driver {mine[key]}",
                    hint=f"install the same {key} on every node as on the driver ({mine[key]})",
                )  # fmt: skip
        for stamp in sorted(stamps - {said["python"]}):
            raise fail(
                "versions", f"the blob's inline UDFs were pickled by Python {stamp}; {where} runs Python "
                f"{said['python']}", hint=f"replay it on workers running Python {stamp} (cloudpickle "
                "carries bytecode, which does not cross Python minor versions)",
            )  # fmt: skip


def _sorted(df: Any) -> Any:
    from datafusion import col

    return df.sort(*[col(f'"{n}"').sort(ascending=True, nulls_first=True) for n in df.schema().names])


class _Spool(Sink):
    """The result in an Arrow IPC file, for --expect (both sides are sorted before comparing)."""

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="exprtool-result-", suffix=".arrow")
        os.close(fd)
        self.writer: Any = None

    def write(self, batch: Any) -> None:
        import pyarrow as pa

        if self.writer is None:
            self.writer = pa.ipc.new_file(self.path, batch.schema)
        self.writer.write_batch(batch)

    def close(self, schema: Any) -> None:
        import pyarrow as pa

        if self.writer is None:
            self.writer = pa.ipc.new_file(self.path, schema)
        self.writer.close()

    def compare(self, golden: str, parts: str | None = None) -> list[str]:
        """Differences from the golden file: of what went through this spool, or of a parts directory."""
        from datafusion import SessionContext

        ctx = SessionContext()
        want = _sorted(ctx.read_parquet(golden))
        sink = ExpectSink((b.to_pyarrow() for b in want.execute_stream()), want.schema())
        got = _sorted(ctx.read_parquet(parts) if parts else ctx.read_arrow(self.path))
        for batch in got.execute_stream():
            sink.write(batch.to_pyarrow())
        sink.close(got.schema())
        return sink.diffs

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def worker_spec(spec: WorkerSpec, share: int) -> WorkerSpec:
    """The spec each worker gets: datafusion's ``target_partitions`` is the worker's share of the CPUs
    (``share``) unless the caller chose it (``--target-partitions``, ``--config``, a ``--worker-ctx`` factory).

    By default every datafusion context runs one partition per CPU of the machine: N workers would run N x CPUs
    threads, and in a worker whose UDF holds the GIL its threads only take turns (with the thread that sends
    the batches)."""
    chosen = spec.factory is not None or "datafusion.execution.target_partitions" in spec.config
    if chosen or spec.target_partitions is not None:
        return spec
    return dataclasses.replace(spec, target_partitions=max(1, share))


def _pool(plan: ScalePlan, opts: Any) -> Any:
    if plan.engine == "ray":
        from datafusion_exprtool.actions.scale.ray_engine import RayPool

        return RayPool(plan.workers or None, worker_spec(opts.worker, 1), opts.scale)  # an actor: one CPU
    from datafusion_exprtool.actions.scale.local import LocalPool

    share = (os.cpu_count() or 1) // max(plan.workers, 1)
    return LocalPool(plan.workers, worker_spec(opts.worker, share), opts.isolate)


def _tasks(plan: ScalePlan) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(map tasks, result tasks): the map tasks of a shuffle first, then what yields the result."""
    if plan.strategy == SINGLE:
        return [], [("run", None)]
    if plan.strategy == SHUFFLE:
        return [("map", u) for u in plan.units], [("reduce", b) for b in range(plan.workers)]
    return [], [("run", u) for u in plan.units]


def _deliver(events: Iterator[tuple[str, int, Any]], sinks: list[Sink], limit: int | None,
             done: Callable[[int], None], written: list[int] | None = None) -> int:  # fmt: skip
    """Batches into the sinks, in the order they come, up to ``limit`` rows; the rows delivered.

    ``written`` collects what each task's ``done`` says (its rows: a part's, with -o DIR/)."""
    rows = 0
    for kind, index, value in events:
        if kind == "done":
            done(index)
            if written is not None:
                written.append(value)
            continue
        if limit is not None and rows + value.num_rows > limit:
            value = value.slice(0, limit - rows)
        if value.num_rows:
            for sink in sinks:
                sink.write(value)
            rows += value.num_rows
        if limit is not None and rows >= limit:
            break
    return rows


def run_scaled(
    prepared: Any, opts: Any, on_progress: Callable[[int], None] | None = None, batch_sink: Sink | None = None
) -> EvalResult:
    """Run ``prepared`` (with ``prepared.scale``) on the workers; the result as one process gives it."""
    plan: ScalePlan = prepared.scale
    job = prepared.job
    if opts.worker.cwd is None:
        opts.worker.cwd = os.getcwd()
    progress = on_progress or (lambda _n: None)
    stamps = {f.python for f in prepared.inspection.functions if f.transport == "inline" and f.python}
    timings = {"startup": 0.0, "decode": 0.0, "plan": 0.0, "execute": 0.0}
    sinks: list[Sink] = [batch_sink] if batch_sink is not None else []
    preview = PreviewSink(job.preview_rows) if job.preview_rows else None
    spool = _Spool() if job.expect else None
    sinks += [s for s in (preview, spool) if s is not None]
    parts = None
    if job.output_format == PARTS:  # -o DIR/: the workers write the parts, the driver renames DIR at the end
        from datafusion_exprtool.atomic import AtomicDirectory

        try:
            parts = AtomicDirectory(job.output, job.force)
        except OSError as err:  # appeared, or its parent went away, since the static checks
            raise fail("write", str(err), file=job.output, exit_code=ExitCode.USAGE) from None
        job = dataclasses.replace(job, output_temp=parts.temp)
    t0 = time.perf_counter()
    pool = None
    stage = "worker-ctx"  # what a driver-side exception is blamed on: starting the workers, then the output
    try:
        pool = _pool(plan, opts)
        check_versions(pool.hello(), stamps)
        plan.workers = pool.size
        buckets = plan.workers if plan.strategy == SHUFFLE else 1
        timings["decode"], schema = pool.load(job, plan.columns, plan.keys, buckets)
        timings["startup"] = time.perf_counter() - t0 - timings["decode"]
        stage = "write"
        if job.output and parts is None:
            sinks.append(FileSink(job.output, job.output_format or "parquet", job.output_temp, job.force))
        t1 = time.perf_counter()
        maps, results = _tasks(plan)
        read = 0

        def count(tasks: list[tuple[Any, ...]]) -> Callable[[int], None]:
            def done(index: int) -> None:
                nonlocal read
                unit = tasks[index][1]
                if unit is not None and tasks[index][0] != "reduce":
                    read += unit.rows
                    progress(read)

            return done

        if maps:
            _deliver(pool.results(maps), [], None, count(maps))
        written: list[int] = []
        rows = _deliver(pool.results(results), sinks, job.limit, count(results), written)
        progress(prepared.total_rows)
        for sink in sinks:
            if sink is not batch_sink:
                sink.close(schema)
        if parts is not None:
            rows = sum(written)
            parts.commit()
        timings["execute"] = time.perf_counter() - t1
    except BaseException as exc:
        for sink in sinks:
            if sink is not batch_sink:
                with contextlib.suppress(Exception):
                    sink.abort()
        if parts is not None:
            if pool is not None:  # stop the workers first: one still writing its part would refill the directory
                with contextlib.suppress(Exception):
                    pool.close()
                pool = None
            parts.abort()
        if isinstance(exc, (EvalError, KeyboardInterrupt, BrokenPipeError)):
            raise
        raise EvalError(classify(exc, stage, job.python_functions)) from None
    finally:
        if pool is not None:
            pool.close()
    diffs: list[str] = []
    if spool is not None:
        try:
            diffs = spool.compare(job.expect, job.output if parts is not None else None)
        finally:
            spool.abort()
    return EvalResult(
        rows=rows, timings=timings, columns=list(schema.names), preview=preview.table() if preview else None,
        output=job.output, diffs=diffs, schema=schema,
    )  # fmt: skip
