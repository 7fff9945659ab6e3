"""Fresh Python processes started like a ``multiprocessing.Pool`` worker: their import path, their start.

Generic pieces of process isolation (eval's workers and check's/reencode's trial build of a worker ctx use
them): what ``sys.path`` a fresh worker has, starting a spawn/forkserver child without re-importing the
CLI's ``__main__``, the name of the signal that ended a child, and how long a worker ctx may take.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
from collections.abc import Iterator

#: how long a worker ctx factory may take (check --worker-ctx, eval's isolated workers), in seconds
CTX_TIMEOUT = float(os.environ.get("EXPRTOOL_WORKER_CTX_TIMEOUT", "120"))


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


@contextlib.contextmanager
def without_main() -> Iterator[None]:
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


@contextlib.contextmanager
def ctrl_c_held(method: str | None = None) -> Iterator[None]:
    """Start a worker with SIGINT blocked: it inherits the mask through fork and exec, so a terminal's Ctrl-C
    (sent to the whole process group) never kills one still starting with a KeyboardInterrupt traceback from
    multiprocessing's bootstrap or an import; this process handles it and stops its workers (a worker that
    wants Ctrl-C unblocks it where it handles it: ``ctrl_c_released``). A Ctrl-C that came meanwhile reaches
    this process when the block ends.

    ``method``: the multiprocessing start method. spawn and forkserver start multiprocessing's resource
    tracker on first use, which unblocks SIGINT once it is started (bpo-33613's own block): it is started
    before the block."""
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX: no signal masks, no process groups
        yield
        return
    if method in ("spawn", "forkserver"):
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def ctrl_c_released() -> None:
    """In a worker started under ``ctrl_c_held`` that handles KeyboardInterrupt itself: SIGINT unblocked."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def signal_name(exitcode: int | None) -> str | None:
    """The signal that ended a process (multiprocessing's negative exit code), or None for a plain exit."""
    if exitcode is None or exitcode >= 0:
        return None
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"


@contextlib.contextmanager
def worker_process(sys_path: list[str], cwd: str, fault_path: str, stderr_path: str | None = None) -> Iterator[None]:
    """What every worker does first (eval's isolated worker, --workers, --find-rows probes): the driver's
    import path and directory, fd 2 into ``stderr_path`` (Rust writes panics to fd 2 itself: the parent folds
    them into its report) and faulthandler's dump into ``fault_path`` (a crash names its signal and frame).

    fd 1 goes there too: a worker's results cross its pipe, and the parent's stdout carries exprtool's output
    only (``-f csv`` into another program), so what user code prints (a UDF's ``print``) reaches the parent's
    stderr, as what a worker ctx factory prints does."""
    sys.path[:] = sys_path
    os.chdir(cwd)
    if stderr_path is not None:
        fd = os.open(stderr_path, os.O_WRONLY | os.O_APPEND)
        for stream, target in ((sys.stdout, 1), (sys.stderr, 2)):
            if stream is not None:
                stream.flush()
            os.dup2(fd, target)
        os.close(fd)
    with open(fault_path, "w") as fault:
        faulthandler.enable(file=fault, all_threads=True)
        try:
            yield
        finally:
            faulthandler.disable()
