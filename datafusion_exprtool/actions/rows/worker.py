"""The parent's side of probing: one long-lived isolated worker that answers probes, and survives none of
its own deaths.

The worker is started like eval's (same start method, worker context installed first, an empty working
directory, the import path a fresh worker has, Rust's stderr captured); then it waits for requests on a
pipe: a *probe* (rows to evaluate, see ``probe.py``) or a *replay* (an ``EvalJob`` run exactly as eval runs
it, used once, on a worker that never decoded the blob, to confirm a result from a Parquet file). A probe
that kills the worker (a segfault in a UDF on one row) is a failure like any other: the parent describes
the death as eval does and starts a new worker for the next probe. A probe that outlives the search's
budget is stopped by killing the worker.

``--isolate none`` probes in this process instead (``InlineWorker``): fast, and a crash takes the CLI
with it, as it would in eval.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from typing import Any

from datafusion_exprtool.actions.eval.isolation import ctx_failure
from datafusion_exprtool.actions.eval.runner import EvalJob, run_job
from datafusion_exprtool.actions.rows.probe import (
    ProbeOutcome,
    Prober,
    ProbeRequest,
    ProbeSetup,
    batch_size_of,
)
from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.sandbox.context import install
from datafusion_exprtool.sandbox.crash import Panic, death, fold, rust_stderr_captured, split_stderr
from datafusion_exprtool.sandbox.failure import EvalError, EvalFailure, fail
from datafusion_exprtool.sandbox.process import (
    CTX_TIMEOUT,
    ctrl_c_held,
    without_main,
    worker_process,
    worker_sys_path,
)

GRACE = 5.0  # seconds a probe may overrun its time limit before its worker is killed


class WorkerFailed(Exception):
    """The worker could not be started (its context failed to build): the search cannot run."""

    def __init__(self, failure: EvalFailure):
        super().__init__(str(failure))
        self.failure = failure


def _replay(job: EvalJob, ctx: Any) -> ProbeOutcome:
    t0 = time.perf_counter()
    try:
        run_job(job, ctx)
    except EvalError as exc:
        return ProbeOutcome(exc.failure, time.perf_counter() - t0)
    return ProbeOutcome(None, time.perf_counter() - t0)


def _serve(conn: Any, setup: ProbeSetup, fault_path: str, sys_path: list[str], cwd: str, stderr_path: str) -> None:
    """Worker entry point (module level, so that spawn can import it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the search
    with worker_process(sys_path, cwd, fault_path, stderr_path):
        try:
            try:
                ctx = install(setup.spec)
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                conn.send(("failed", ctx_failure(exc)))
                return
            conn.send(("ready", batch_size_of(ctx)))
            prober: Prober | None = None  # built on the first probe: a replay worker never decodes early
            while True:
                try:
                    kind, value = conn.recv()
                except (EOFError, OSError):
                    return
                if kind == "probe":
                    if prober is None:
                        try:
                            prober = Prober(setup, ctx)
                        except EvalError as exc:
                            conn.send(("failed", exc.failure))
                            return
                    conn.send(("outcome", prober.run(value)))
                elif kind == "replay":
                    conn.send(("outcome", _replay(value, ctx)))
                else:
                    return
        finally:
            conn.close()


class IsolatedWorker:
    """A probe worker in its own process; restarted after it dies."""

    def __init__(self, setup: ProbeSetup, method: str):
        self.setup = setup
        self.method = method
        self.proc: Any = None
        self.conn: Any = None
        self.batch_size: int | None = None
        self._ready = False
        self._fault = self._stderr = None
        self._stderr_seen = 0
        self._workdir: str | None = None

    def start(self) -> None:
        """Start the process without waiting for it (two workers start side by side)."""
        import multiprocessing as mp

        mpctx = mp.get_context(self.method)
        recv, send = mpctx.Pipe(duplex=True)
        fd, self._fault = tempfile.mkstemp(prefix="exprtool-fault-", suffix=".txt")
        os.close(fd)
        fd, self._stderr = tempfile.mkstemp(prefix="exprtool-stderr-", suffix=".txt")
        os.close(fd)
        self._stderr_seen = 0
        self._workdir = tempfile.mkdtemp(prefix="exprtool-worker-")
        args = (send, self.setup, self._fault, worker_sys_path(), self._workdir, self._stderr)
        self.proc = mpctx.Process(target=_serve, args=args, name="exprtool-probe-worker", daemon=True)
        with without_main(), ctrl_c_held(self.method):
            self.proc.start()
        send.close()
        self.conn = recv
        self._ready = False

    def _wait_ready(self) -> None:
        if self.proc is None:
            self.start()
        if self._ready:
            return
        if not self.conn.poll(CTX_TIMEOUT):
            self.close()
            raise WorkerFailed(
                EvalFailure("worker-ctx", f"{self.setup.spec.factory}() did not return within {CTX_TIMEOUT:g} s",
                            exit_code=ExitCode.USAGE)  # fmt: skip
            )
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            failure = self._death("worker-ctx")
            self.close()
            raise WorkerFailed(failure) from None
        if kind != "ready":
            self.close()
            raise WorkerFailed(value)
        self.batch_size = value
        self._ready = True

    def ready(self) -> int:
        """Wait until the worker context is installed; the context's batch size."""
        self._wait_ready()
        assert self.batch_size is not None
        return self.batch_size

    def _panics(self) -> list[Panic]:
        """Rust panics the worker printed since the last look (what else it printed is left out)."""
        try:
            with open(self._stderr or "", errors="replace") as fh:
                fh.seek(self._stderr_seen)
                text = fh.read(4 << 20)
                self._stderr_seen = fh.tell()
        except OSError:
            return []
        return split_stderr(text)[0]

    def _death(self, stage: str) -> EvalFailure:
        self.proc.join(5)
        try:
            with open(self._fault or "", errors="replace") as fh:
                fault_text = fh.read()
        except OSError:
            fault_text = ""
        failure = death(self.proc.exitcode, stage, fault_text, self.setup.job.python_functions)
        fold(failure, self._panics())
        return failure

    def _ask(self, kind: str, value: Any, seconds: float | None) -> ProbeOutcome:
        self._wait_ready()
        t0 = time.perf_counter()
        self.conn.send((kind, value))
        limit = None if seconds is None else seconds + GRACE
        if not self.conn.poll(limit):
            self.close()  # the probe outlived the budget: the worker goes with it
            return ProbeOutcome(None, time.perf_counter() - t0, timed_out=True)
        try:
            reply, answer = self.conn.recv()
        except (EOFError, OSError):  # the worker died on these rows: that is the probe's answer
            failure = self._death("execute")
            self.close()
            return ProbeOutcome(failure, time.perf_counter() - t0)
        if reply == "failed":
            self.close()
            raise WorkerFailed(answer)
        fold(answer.failure, self._panics())
        return answer

    def probe(self, request: ProbeRequest) -> ProbeOutcome:
        return self._ask("probe", request, request.seconds)

    def replay(self, job: EvalJob, seconds: float | None = None) -> ProbeOutcome:
        return self._ask("replay", job, seconds)

    def close(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("stop", None))
        self.proc.join(0.5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        with contextlib.suppress(OSError):
            self.conn.close()
        for path in (self._fault, self._stderr):
            with contextlib.suppress(OSError, TypeError):
                os.unlink(path)  # type: ignore[arg-type]
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self.proc = self.conn = None
        self._ready = False


class InlineWorker:
    """``--isolate none``: probes run in this process, with the worker context installed for each."""

    def __init__(self, setup: ProbeSetup):
        self.setup = setup
        self.ctx: Any = None
        self.prober: Prober | None = None

    def start(self) -> None:
        pass

    def _with_ctx(self, call: Any) -> ProbeOutcome:
        from datafusion.ipc import clear_worker_ctx, get_worker_ctx, set_worker_ctx

        previous = get_worker_ctx()
        panics: list[Panic] = []
        try:
            if self.ctx is None:
                try:
                    self.ctx = install(self.setup.spec)
                except BaseException as exc:  # noqa: BLE001 - reported
                    raise WorkerFailed(ctx_failure(exc)) from None
            else:
                set_worker_ctx(self.ctx)
            with rust_stderr_captured(panics):
                outcome = call()
            fold(outcome.failure, panics)
            return outcome
        finally:
            if previous is not None:
                set_worker_ctx(previous)
            else:
                clear_worker_ctx()

    def ready(self) -> int:
        self._with_ctx(lambda: ProbeOutcome(None))
        return batch_size_of(self.ctx)

    def probe(self, request: ProbeRequest) -> ProbeOutcome:
        def call() -> ProbeOutcome:
            if self.prober is None:
                try:
                    self.prober = Prober(self.setup, self.ctx)
                except EvalError as exc:
                    raise WorkerFailed(exc.failure) from None
            return self.prober.run(request)

        return self._with_ctx(call)

    def replay(self, job: EvalJob, seconds: float | None = None) -> ProbeOutcome:
        return self._with_ctx(lambda: _replay(job, self.ctx))

    def close(self) -> None:
        if self.prober is not None:
            self.prober.close()
            self.prober = None


def make_worker(setup: ProbeSetup, method: str) -> IsolatedWorker | InlineWorker:
    if method == "none":
        return InlineWorker(setup)
    if method not in ("spawn", "forkserver", "fork"):
        raise fail("input", f"--isolate {method!r}", exit_code=ExitCode.USAGE)
    return IsolatedWorker(setup, method)
