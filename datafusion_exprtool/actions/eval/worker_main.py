"""What the isolated eval worker runs once started (``serve`` for a spawn worker, ``worker_start.enter`` for
forkserver and fork): the worker ctx first, then the job that arrives through the pipe; it reports stages,
progress, batches and the result or failure back to the parent (``isolation.run_isolated``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from datafusion_exprtool.actions.eval.failure import classify
from datafusion_exprtool.actions.eval.output import Sink
from datafusion_exprtool.actions.eval.runner import EvalJob, run_job
from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.sandbox.context import WorkerSpec, install
from datafusion_exprtool.sandbox.failure import EvalError, EvalFailure
from datafusion_exprtool.sandbox.process import worker_process


class _PipeSink(Sink):
    """Sends result batches to the parent (which writes stdout)."""

    def __init__(self, conn: Any):
        self.conn = conn

    def write(self, batch: Any) -> None:
        self.conn.send(("batch", batch))


def child_main(
    conn: Any,
    spec: WorkerSpec,
    fault_path: str,
    sys_path: list[str],
    cwd: str,
    stderr_path: str | None = None,
) -> None:
    """What the worker runs: the worker ctx first, then the job.

    The job comes through the pipe once the parent has it: a worker started ahead (``worker_start``) builds
    its context and imports datafusion while the parent is still inspecting the blob.
    """
    with worker_process(sys_path, cwd, fault_path, stderr_path):
        job: EvalJob | None = None
        try:
            conn.send(("stage", "worker-ctx"))
            try:
                ctx = install(spec)
            except BaseException as exc:
                conn.send(("failure", ctx_failure(exc)))
                return
            conn.send(("ready", None))
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the parent stopped before it had a job for us
                return
            if message[0] != "job":
                return
            _kind, job, stream_back = message
            sinks = [_PipeSink(conn)] if stream_back else []
            result = run_job(
                job,
                ctx,
                on_stage=lambda s: conn.send(("stage", s)),
                on_progress=lambda n: conn.send(("progress", n)),
                extra_sinks=sinks,
            )
            conn.send(("result", result))
        except EvalError as exc:
            conn.send(("failure", exc.failure))
        except BaseException as exc:  # noqa: BLE001 - reported, never re-raised in a worker
            conn.send(("failure", classify(exc, "execute", job.python_functions if job else None)))
        finally:
            conn.close()
    # everything is sent and every file written: skip the interpreter's finalization (~0.05-0.09 s with
    # datafusion and pyarrow loaded), as a forked multiprocessing child does
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def serve(fd: int) -> None:
    """A booted spawn worker (``worker_start.boot``): import datafusion now, while the parent is still
    starting, then take the spec and run as ``child_main``. A parent that ends first closes the socket."""
    from multiprocessing.connection import Connection

    import datafusion  # noqa: F401 - the longest part of the worker's start, done before it is needed

    conn = Connection(fd)
    try:
        message = conn.recv()
    except (EOFError, OSError, KeyboardInterrupt):
        os._exit(0)
    if message[0] != "spec":
        os._exit(0)
    child_main(conn, *message[1:])


def ctx_failure(exc: BaseException) -> EvalFailure:
    """A worker context that cannot be built is the caller's ``--worker-ctx``: a usage error."""
    failure = classify(exc, "worker-ctx")
    failure.exit_code = ExitCode.USAGE
    return failure
