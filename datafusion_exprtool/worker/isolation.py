"""Run a job in a fresh process started like a ``multiprocessing.Pool`` worker, and survive its death.

The child installs the worker context first (what a Pool ``initializer`` does), then decodes and executes.
It tells the parent which stage it enters, streams progress and (for stdout output) the result batches
through a pipe, and sends either the result or a failure. If the pipe closes without either, the child
died: the parent reports the exit status or signal, the stage, the innermost Python frame that faulthandler
recorded, and removes any temporary output file.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from .context import WorkerSpec, install
from .failure import EvalError, EvalFailure, classify
from .output import Sink
from .runner import EvalJob, EvalResult, run_job

METHODS = ("none", "spawn", "forkserver", "fork")


class _PipeSink(Sink):
    """Sends result batches to the parent (which writes stdout)."""

    def __init__(self, conn: Any):
        self.conn = conn

    def write(self, batch: Any) -> None:
        self.conn.send(("batch", batch))


class _Forward(Sink):
    """Hands batches to the caller's sink; the caller closes it (as it does after an isolated run)."""

    def __init__(self, target: Sink):
        self.target = target

    def write(self, batch: Any) -> None:
        self.target.write(batch)


def worker_sys_path() -> list[str]:
    """The import path a fresh worker interpreter has: PYTHONPATH, stdlib, site-packages, this package.

    Entries the driver added at run time (a script's directory, ``sys.path.insert``) are left out, so a UDF
    that needs a module only the driver can import fails in the worker as it would on another host.
    """
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix) if p}
    env = [os.path.realpath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    here = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
    out = []
    for entry in sys.path:
        real = os.path.realpath(entry or os.getcwd())
        if real in env or any(real == p or real.startswith(p + os.sep) for p in prefixes):
            out.append(os.path.abspath(entry) if entry else os.getcwd())
    if here not in {os.path.realpath(p) for p in out}:
        out.append(here)
    return out


def _child(
    conn: Any,
    spec: WorkerSpec,
    job: EvalJob,
    stream_back: bool,
    fault_path: str,
    sys_path: list[str],
    cwd: str,
) -> None:
    """Worker entry point (module level, so that spawn can import it)."""
    sys.path[:] = sys_path
    os.chdir(cwd)
    with open(fault_path, "w") as fault:
        faulthandler.enable(file=fault, all_threads=False)
        try:
            conn.send(("stage", "worker-ctx"))
            try:
                ctx = install(spec)
            except BaseException as exc:
                conn.send(("failure", classify(exc, "worker-ctx")))
                return
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
            conn.send(("failure", classify(exc, "execute", job.python_functions)))
        finally:
            faulthandler.disable()
            conn.close()


@contextlib.contextmanager
def _without_main() -> Iterator[None]:
    """Keep spawn/forkserver children from re-importing the CLI's ``__main__`` (it is not the user's driver)."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    try:
        if main is not None:
            for k in saved:
                if k == "__spec__":
                    main.__dict__[k] = None
                else:
                    del main.__dict__[k]
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


_FRAME = re.compile(r'File "([^"]+)", line (\d+) in (\S+)')


def _death(exitcode: int | None, stage: str, fault_text: str, job: EvalJob) -> EvalFailure:
    """Describe a worker that vanished without a word."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        how = f"the worker was killed by {name}"
    else:
        how = f"the worker exited with status {exitcode} without reporting"
    frames = _FRAME.findall(fault_text)
    function = location = None
    if frames:  # faulthandler lists the innermost frame first
        fname, line, func = frames[0]
        location = f"{fname}:{line}"
        function = job.python_functions.get(func, func)
    elif stage == "execute" and len(set(job.python_functions.values())) == 1:
        function = next(iter(job.python_functions.values()))
    first = fault_text.strip().splitlines()[0] if fault_text.strip() else ""
    message = how + (f" ({first})" if first and first.startswith("Fatal") else "")
    hint = "a segfault or abort in native code (a UDF, an FFI library) or os._exit in user code"
    if exitcode == -signal.SIGKILL:
        hint = "probably the kernel's out-of-memory killer: reduce --batch-size / --target-partitions"
    return EvalFailure(stage=stage, message=message, function=function, file=location, hint=hint)


def run_isolated(
    job: EvalJob,
    spec: WorkerSpec,
    method: str,
    on_progress: Callable[[int], None],
    batch_sink: Sink | None = None,
) -> EvalResult:
    """Run in a fresh process started with ``method``; raise EvalError for any failure, death included."""
    import multiprocessing as mp

    mpctx = mp.get_context(method)
    recv, send = mpctx.Pipe(duplex=False)
    fd, fault_path = tempfile.mkstemp(prefix="exprtool-fault-", suffix=".txt")
    os.close(fd)
    workdir = tempfile.mkdtemp(prefix="exprtool-worker-")
    args = (send, spec, job, batch_sink is not None, fault_path, worker_sys_path(), workdir)
    proc = mpctx.Process(target=_child, args=args, name="exprtool-eval-worker", daemon=True)
    stage = "worker-ctx"
    outcome: tuple[str, Any] | None = None
    try:
        with _without_main():
            proc.start()
        send.close()
        while True:
            try:
                kind, value = recv.recv()
            except (EOFError, OSError):
                break
            if kind == "stage":
                stage = value
            elif kind == "progress":
                on_progress(value)
            elif kind == "batch" and batch_sink is not None:
                batch_sink.write(value)
            elif kind in ("result", "failure"):
                outcome = (kind, value)
        proc.join()
        if outcome is None:
            with open(fault_path, errors="replace") as fh:
                fault_text = fh.read()
            raise EvalError(_death(proc.exitcode, stage, fault_text, job))
        if outcome[0] == "failure":
            raise EvalError(outcome[1])
        return outcome[1]
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
        recv.close()
        with contextlib.suppress(OSError):
            os.unlink(fault_path)
        shutil.rmtree(workdir, ignore_errors=True)
        if job.output_temp and os.path.exists(job.output_temp):
            os.unlink(job.output_temp)


def run_inline(
    job: EvalJob, spec: WorkerSpec, on_progress: Callable[[int], None], batch_sink: Sink | None = None
) -> EvalResult:
    """``--isolate none``: this process is the worker (fast; a crash takes the CLI with it)."""
    from datafusion.ipc import clear_worker_ctx, get_worker_ctx, set_worker_ctx

    previous = get_worker_ctx()
    try:
        ctx = install(spec)
    except EvalError:
        raise
    except BaseException as exc:
        raise EvalError(classify(exc, "worker-ctx")) from None
    try:
        sinks = [_Forward(batch_sink)] if batch_sink else None
        return run_job(job, ctx, on_progress=on_progress, extra_sinks=sinks)
    finally:
        if previous is not None:
            set_worker_ctx(previous)
        else:
            clear_worker_ctx()
