"""Start eval's isolated worker process, importing as little as possible first.

The worker's own start (a fresh interpreter, ``import datafusion``) is the longest part of a small replay, so
it starts before anything else: the program's entry point (``cli/entry.py``) boots a bare spawn worker
(``boot``) before Typer is even imported when the command line asks for a plain replay; the worker imports
datafusion and eval's worker modules and waits for its spec (the worker ctx), then for its job. Whoever
learns the spec first (``start_worker``) adopts that worker, or boots one. A booted worker nobody adopts is
killed at exit.

A spawn worker is a plain ``subprocess`` running ``worker_main.serve`` over a socket pair, not a
``multiprocessing`` spawn child: the same fresh interpreter without multiprocessing's bootstrap and its
resource-tracker process (a third interpreter starting on the same cores). ``forkserver`` and ``fork`` use
multiprocessing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datafusion_exprtool.sandbox.process import ctrl_c_held, without_main, worker_sys_path

if TYPE_CHECKING:
    from datafusion_exprtool.sandbox.context import WorkerSpec

#: a spawn worker is booted as a subprocess that inherits its socket (``pass_fds``: POSIX); elsewhere
#: multiprocessing's spawn starts it
BOOTABLE = os.name == "posix"

#: the booted interpreter's first line: the current directory (``''``, first on ``sys.path`` for ``-c``) is
#: dropped, so a module of the user's directory never shadows datafusion before the driver's import path is
#: installed; under ``PYTHONSAFEPATH`` there is none, and the first entry is PYTHONPATH's (kept)
BOOT_PATH = "import sys\nif sys.path[:1] == ['']: del sys.path[0]\n"
#: what the booted interpreter runs
BOOT_CODE = BOOT_PATH + "from datafusion_exprtool.actions.eval.worker_main import serve; serve(int(sys.argv[1]))"


def enter(*args: Any) -> None:
    """The entry point of a multiprocessing worker (module level, so that forkserver can pickle it)."""
    from datafusion_exprtool.actions.eval.worker_main import child_main

    child_main(*args)


class SpawnedProcess:
    """A ``subprocess.Popen`` seen through the part of ``multiprocessing.Process`` eval uses (its exit code
    is negative for a signal, as multiprocessing's is)."""

    def __init__(self, popen: Any):
        self.popen = popen

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.popen.kill()

    def join(self, timeout: float | None = None) -> None:
        import subprocess

        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)


@dataclass
class Booted:
    """A spawn worker booted before its spec is known (``boot``): its process and the parent's socket."""

    proc: SpawnedProcess
    sock: Any  # socket.socket, until ``configure`` wraps it in a Connection

    def discard(self) -> None:
        """Kill a worker nobody adopted (an ``atexit`` hook of ``boot``)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self.proc.kill()
            self.proc.join()


#: the worker the entry point booted, until ``start_worker`` adopts it
_booted: Booted | None = None


def boot() -> Booted:
    """Start a bare spawn worker now (it imports datafusion, then waits for ``configure``)."""
    import atexit
    import socket
    import subprocess

    global _booted
    parent, child = socket.socketpair()
    # SIGINT blocked in the worker from its first instruction (``ctrl_c_held``): a terminal's Ctrl-C is the
    # parent's to handle (it kills the worker). The worker stays in the parent's process group, so what is sent
    # to the whole job reaches it too (``timeout``'s SIGTERM, a closed terminal's SIGHUP, Ctrl-Z, ``kill %1``);
    # a parent that dies alone closes the socket.
    try:
        with ctrl_c_held():
            popen = subprocess.Popen(
                [sys.executable, "-c", BOOT_CODE, str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
            )
    finally:
        child.close()
    _booted = Booted(SpawnedProcess(popen), parent)
    atexit.register(_booted.discard)
    return _booted


def _adopt() -> Booted:
    """The booted worker if it is still waiting, else one booted now."""
    global _booted
    booted = _booted if _booted is not None and _booted.proc.is_alive() else boot()
    _booted = None
    return booted


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


def _worker_files() -> tuple[str, str, str]:
    fd, fault_path = tempfile.mkstemp(prefix="exprtool-fault-", suffix=".txt")
    os.close(fd)
    fd, stderr_path = tempfile.mkstemp(prefix="exprtool-stderr-", suffix=".txt")
    os.close(fd)
    return fault_path, stderr_path, tempfile.mkdtemp(prefix="exprtool-worker-")


def start_worker(spec: WorkerSpec, method: str) -> Started:
    """A worker process for ``spec``, started now or adopted from ``boot``; it installs the worker ctx and
    waits for its job (``run_isolated``)."""
    if spec.cwd is None:
        spec.cwd = os.getcwd()
    fault_path, stderr_path, workdir = _worker_files()
    args = (spec, fault_path, worker_sys_path(), workdir, stderr_path)
    if method == "spawn" and BOOTABLE:
        from multiprocessing.connection import Connection

        booted = _adopt()
        conn = Connection(booted.sock.detach())
        booted.sock = None  # the Connection owns it now
        conn.send(("spec", *args))
        return Started(booted.proc, conn, fault_path, stderr_path, workdir)
    import multiprocessing as mp

    mpctx = mp.get_context(method)
    conn, child = mpctx.Pipe(duplex=True)
    proc = mpctx.Process(target=enter, args=(child, *args), name="exprtool-eval-worker", daemon=True)
    with without_main(), ctrl_c_held(method):
        proc.start()
    child.close()
    return Started(proc, conn, fault_path, stderr_path, workdir)
