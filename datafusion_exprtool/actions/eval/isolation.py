"""Run an eval job in a fresh process started like a ``multiprocessing.Pool`` worker, and survive its death.

The child installs the worker context first (what a Pool ``initializer`` does), then decodes and executes.
It tells the parent which stage it enters, streams progress and (for stdout output) the result batches
through a pipe, and sends either the result or a failure. If the pipe closes without either, the child
died: the parent reports the exit status or signal, the stage, the innermost Python frame that faulthandler
recorded, and removes any temporary output file. ``--isolate none`` runs the job in this process instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from datafusion_exprtool.actions.eval.failure import classify
from datafusion_exprtool.actions.eval.output import Sink, remove_partial
from datafusion_exprtool.actions.eval.runner import EvalJob, EvalResult, run_job
from datafusion_exprtool.actions.eval.worker_main import ctx_failure
from datafusion_exprtool.actions.eval.worker_start import Started, start_worker
from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.sandbox.context import WorkerSpec, install
from datafusion_exprtool.sandbox.crash import Panic, death, fold, pass_on_stderr, rust_stderr_captured
from datafusion_exprtool.sandbox.failure import EvalError, fail
from datafusion_exprtool.sandbox.process import CTX_TIMEOUT

METHODS = ("none", "spawn", "forkserver", "fork")

__all__ = ["METHODS", "Started", "ctx_failure", "run_inline", "run_isolated", "start_worker"]


class _Forward(Sink):
    """Hands batches to the caller's sink; the caller closes it (as it does after an isolated run)."""

    def __init__(self, target: Sink):
        self.target = target

    def write(self, batch: Any) -> None:
        self.target.write(batch)


def remove_output_leftovers(job: EvalJob) -> None:
    """After the worker ended: its temporary output file and datafusion's ``<temp>#<n>`` staging files."""
    if job.output_temp and os.path.isdir(os.path.dirname(job.output_temp) or "."):
        remove_partial(job.output_temp)


def run_isolated(
    job: EvalJob,
    spec: WorkerSpec,
    method: str,
    on_progress: Callable[[int], None],
    batch_sink: Sink | None = None,
    started: Started | None = None,
) -> EvalResult:
    """Run in a fresh process started with ``method`` (or ``started`` ahead); raise EvalError for any
    failure, death included."""
    worker = started or start_worker(spec, method)
    proc, recv = worker.proc, worker.conn
    stage = "worker-ctx"
    outcome: tuple[str, Any] | None = None
    try:
        while True:
            if stage == "worker-ctx" and not recv.poll(CTX_TIMEOUT):  # the user's factory hangs
                raise fail("worker-ctx", f"{spec.factory}() did not return within {CTX_TIMEOUT:g} s",
                           hint="set EXPRTOOL_WORKER_CTX_TIMEOUT to wait longer", exit_code=ExitCode.USAGE)  # fmt: skip
            try:
                kind, value = recv.recv()
            except (EOFError, OSError):
                break
            if kind == "ready":
                recv.send(("job", job, batch_sink is not None))
            elif kind == "stage":
                stage = value
            elif kind == "progress":
                on_progress(value)
            elif kind == "batch" and batch_sink is not None:
                try:
                    batch_sink.write(value)
                except BrokenPipeError:
                    raise
                except Exception as exc:  # the output failed (stdout), not the worker
                    raise EvalError(classify(exc, "write")) from None
            elif kind in ("result", "failure"):
                outcome = (kind, value)
        proc.join()
        panics = pass_on_stderr(worker.stderr_path)
        if outcome is None:
            with open(worker.fault_path, errors="replace") as fh:
                fault_text = fh.read()
            failure = death(proc.exitcode, stage, fault_text, job.python_functions)
            fold(failure, panics)
            raise EvalError(failure)
        if outcome[0] == "failure":
            fold(outcome[1], panics)
            raise EvalError(outcome[1])
        return outcome[1]
    finally:
        worker.stop()
        remove_output_leftovers(job)


def run_inline(
    job: EvalJob, spec: WorkerSpec, on_progress: Callable[[int], None], batch_sink: Sink | None = None
) -> EvalResult:
    """``--isolate none``: this process is the worker (fast; a crash takes the CLI with it)."""
    from datafusion.ipc import clear_worker_ctx, get_worker_ctx, set_worker_ctx

    previous = get_worker_ctx()
    try:
        ctx = install(spec)
    except BaseException as exc:
        raise EvalError(ctx_failure(exc)) from None
    panics: list[Panic] = []
    try:
        sinks = [_Forward(batch_sink)] if batch_sink else None
        with rust_stderr_captured(panics):
            return run_job(job, ctx, on_progress=on_progress, extra_sinks=sinks)
    except EvalError as exc:
        fold(exc.failure, panics)
        raise
    finally:
        if previous is not None:
            set_worker_ctx(previous)
        else:
            clear_worker_ctx()
