"""Start eval's isolated worker process, importing as little as possible first.

The worker's own start (a fresh interpreter, multiprocessing's bootstrap, ``import datafusion``) is the
longest part of a small replay, so the CLI starts it as soon as it knows the worker context, before it
imports the static inspection and the rest of eval. This module imports only multiprocessing and the sandbox's
process helpers; the worker's code (``worker_main.child_main``) is imported in the worker, by ``enter``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datafusion_exprtool.sandbox.process import without_main, worker_sys_path

if TYPE_CHECKING:
    from datafusion_exprtool.sandbox.context import WorkerSpec


def enter(*args: Any) -> None:
    """The worker's entry point (module level, so that spawn can pickle it by reference)."""
    from datafusion_exprtool.actions.eval.worker_main import child_main

    child_main(*args)


@dataclass
class Started:
    """A worker process started ahead of its job (``start_worker``): its pipe and the files it leaves."""

    proc: Any
    conn: Any
    fault_path: str
    stderr_path: str
    workdir: str

    def stop(self) -> None:
        """End a worker that never got its job, and remove what it left."""
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()
        for path in (self.fault_path, self.stderr_path):
            with contextlib.suppress(OSError):
                os.unlink(path)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_worker(spec: WorkerSpec, method: str) -> Started:
    """Start a worker process now; it installs the worker ctx and waits for its job (``run_isolated``)."""
    import multiprocessing as mp

    if spec.cwd is None:
        spec.cwd = os.getcwd()
    mpctx = mp.get_context(method)
    conn, child = mpctx.Pipe(duplex=True)
    fd, fault_path = tempfile.mkstemp(prefix="exprtool-fault-", suffix=".txt")
    os.close(fd)
    fd, stderr_path = tempfile.mkstemp(prefix="exprtool-stderr-", suffix=".txt")
    os.close(fd)
    workdir = tempfile.mkdtemp(prefix="exprtool-worker-")
    args = (child, spec, fault_path, worker_sys_path(), workdir, stderr_path)
    proc = mpctx.Process(target=enter, args=args, name="exprtool-eval-worker", daemon=True)
    with without_main():
        proc.start()
    child.close()
    return Started(proc, conn, fault_path, stderr_path, workdir)
