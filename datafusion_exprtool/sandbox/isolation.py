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
from dataclasses import dataclass
from typing import Any

from datafusion_exprtool.actions.eval.failure import classify
from datafusion_exprtool.actions.eval.output import Sink, _remove_partial
from datafusion_exprtool.actions.eval.runner import EvalJob, EvalResult, run_job
from datafusion_exprtool.errors import EvalError, EvalFailure, ExitCode, fail
from datafusion_exprtool.sandbox.context import WorkerSpec, build_context, install

METHODS = ("none", "spawn", "forkserver", "fork")
#: how long a worker ctx factory may take (check --worker-ctx, eval's isolated workers), in seconds
CTX_TIMEOUT = float(os.environ.get("EXPRTOOL_WORKER_CTX_TIMEOUT", "120"))
MAX_STDERR = 4 << 20  # what a worker printed on stderr that is read back (a UDF printing in a loop)


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
    stderr_path: str | None = None,
) -> None:
    """Worker entry point (module level, so that spawn can import it)."""
    sys.path[:] = sys_path
    os.chdir(cwd)
    if stderr_path is not None:  # Rust writes panics to fd 2 itself: the parent folds them into its report
        fd = os.open(stderr_path, os.O_WRONLY | os.O_APPEND)
        sys.stderr.flush()
        os.dup2(fd, 2)
        os.close(fd)
    with open(fault_path, "w") as fault:
        faulthandler.enable(file=fault, all_threads=True)
        try:
            conn.send(("stage", "worker-ctx"))
            try:
                ctx = install(spec)
            except BaseException as exc:
                conn.send(("failure", ctx_failure(exc)))
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


def ctx_failure(exc: BaseException) -> EvalFailure:
    """A worker context that cannot be built is the caller's ``--worker-ctx``: a usage error."""
    failure = classify(exc, "worker-ctx")
    failure.exit_code = ExitCode.USAGE
    return failure


def remove_output_leftovers(job: EvalJob) -> None:
    """After the worker ended: its temporary output file and datafusion's ``<temp>#<n>`` staging files."""
    if job.output_temp and os.path.isdir(os.path.dirname(job.output_temp) or "."):
        _remove_partial(job.output_temp)


# a Rust panic on stderr: "thread '<name>' panicked at <file>:<line>:<col>:" then the message, then
# (RUST_BACKTRACE) "stack backtrace:" and frames, or a "note: run with `RUST_BACKTRACE=1` ..." line
_PANIC = re.compile(r"^thread '[^']*'(?: \(\d+\))? panicked at (\S+?):?$")
_BACKTRACE_LINE = re.compile(r"^(stack backtrace:|note: .*backtrace.*|\s+\d+: |\s+at \S)")


@dataclass
class Panic:
    location: str
    message: str
    lines: list[str]  # everything Rust printed for it


def split_stderr(text: str) -> tuple[list[Panic], str]:
    """(the Rust panics in a worker's stderr, the rest of it: what user code printed)."""
    panics: list[Panic] = []
    rest: list[str] = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        m = _PANIC.match(lines[i].rstrip("\n"))
        if not m:
            rest.append(lines[i])
            i += 1
            continue
        block, message = [lines[i].rstrip("\n")], []
        i += 1
        while i < len(lines) and not _PANIC.match(lines[i].rstrip("\n")):
            line = lines[i].rstrip("\n")
            if _BACKTRACE_LINE.match(line):
                block.append(line)
            elif len(block) == len(message) + 1 and line.strip():  # the message, before any backtrace
                message.append(line)
                block.append(line)
            else:
                break
            i += 1
        panics.append(Panic(m.group(1), " ".join(s.strip() for s in message), block))
    return panics, "".join(rest)


def _fold(failure: EvalFailure | None, panics: list[Panic]) -> None:
    """Put what the panic said into the one-line report; keep Rust's full text for --verbose."""
    if failure is None or not panics:
        return
    first = panics[0]
    if first.message and first.message not in failure.message:
        failure.message += f" (Rust panic: {first.message})"
    for panic in panics:
        failure.debug.extend(panic.lines)


_FRAME = re.compile(r'File "([^"]+)", line (\d+) in (\S+)')


_INTERNAL = (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),  # this package
    os.path.dirname(os.path.abspath(contextlib.__file__)),  # the standard library (multiprocessing)
)


def _internal(path: str) -> bool:
    """A frame of this package, the standard library or datafusion itself: not where user code failed."""
    if path == "<string>":  # the spawn bootstrap
        return True
    real = os.path.abspath(path)
    parts = real.split(os.sep)
    if "datafusion" in parts:
        return True
    if real.startswith(_INTERNAL[0] + os.sep):
        return True
    return real.startswith(_INTERNAL[1] + os.sep) and not {"site-packages", "dist-packages"} & set(parts)


def _crashed_thread(fault_text: str) -> str:
    """The stack of the thread that crashed: faulthandler dumps every thread (a UDF runs on one of
    datafusion's threads when datafusion writes the output itself) and labels that one "Current thread"."""
    blocks = re.split(r"(?m)^(?=(?:Current thread|Thread) 0x)", fault_text)
    current = [b for b in blocks if b.startswith("Current thread")]
    return current[0] if current else fault_text


def _signal_name(exitcode: int | None) -> str | None:
    """The signal that ended a process (multiprocessing's negative exit code), or None for a plain exit."""
    if exitcode is None or exitcode >= 0:
        return None
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"


def _death(exitcode: int | None, stage: str, fault_text: str, job: EvalJob) -> EvalFailure:
    """Describe a worker that vanished without a word."""
    name = _signal_name(exitcode)
    if name is not None:
        how = f"the worker was killed by {name}"
    else:
        how = f"the worker exited with status {exitcode} without reporting"
    # faulthandler lists the innermost frame first; a UDF's own frame wins, then user code, then the UDF
    # when there is one (a signal may land on the main thread, waiting in datafusion, not on the UDF's)
    udf = [f for f in _FRAME.findall(fault_text) if f[2] in job.python_functions]
    user = [f for f in _FRAME.findall(_crashed_thread(fault_text)) if not _internal(f[0])]
    function = location = None
    if udf or user:
        fname, line, func = (udf or user)[0]
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
    fd, stderr_path = tempfile.mkstemp(prefix="exprtool-stderr-", suffix=".txt")
    os.close(fd)
    workdir = tempfile.mkdtemp(prefix="exprtool-worker-")
    args = (send, spec, job, batch_sink is not None, fault_path, worker_sys_path(), workdir, stderr_path)
    proc = mpctx.Process(target=_child, args=args, name="exprtool-eval-worker", daemon=True)
    stage = "worker-ctx"
    outcome: tuple[str, Any] | None = None
    try:
        with _without_main():
            proc.start()
        send.close()
        while True:
            if stage == "worker-ctx" and not recv.poll(CTX_TIMEOUT):  # the user's factory hangs
                raise fail("worker-ctx", f"{spec.factory}() did not return within {CTX_TIMEOUT:g} s",
                           hint="set EXPRTOOL_WORKER_CTX_TIMEOUT to wait longer", exit_code=ExitCode.USAGE)  # fmt: skip
            try:
                kind, value = recv.recv()
            except (EOFError, OSError):
                break
            if kind == "stage":
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
        panics = _pass_on_stderr(stderr_path)
        if outcome is None:
            with open(fault_path, errors="replace") as fh:
                fault_text = fh.read()
            failure = _death(proc.exitcode, stage, fault_text, job)
            _fold(failure, panics)
            raise EvalError(failure)
        if outcome[0] == "failure":
            _fold(outcome[1], panics)
            raise EvalError(outcome[1])
        return outcome[1]
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
        recv.close()
        for path in (fault_path, stderr_path):
            with contextlib.suppress(OSError):
                os.unlink(path)
        shutil.rmtree(workdir, ignore_errors=True)
        remove_output_leftovers(job)


def _pass_on_stderr(path: str) -> list[Panic]:
    """Copy what the worker printed on stderr to ours, except Rust's panic reports (returned instead)."""
    try:
        with open(path, errors="replace") as fh:
            text = fh.read(MAX_STDERR)
    except OSError:
        return []
    panics, rest = split_stderr(text)
    if rest.strip():
        sys.stderr.write(rest)
        sys.stderr.flush()
    return panics


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
        _fold(exc.failure, panics)
        raise
    finally:
        if previous is not None:
            set_worker_ctx(previous)
        else:
            clear_worker_ctx()


@contextlib.contextmanager
def rust_stderr_captured(panics: list[Panic]) -> Iterator[None]:
    """``--isolate none``: Rust prints a panic (and its backtrace) straight to fd 2, past Python. For the run, fd 2
    goes to a temporary file while Python's own ``sys.stderr`` (progress bar, warnings) keeps writing to the real
    stream through a duplicate; afterwards the panics land in ``panics`` and the rest is passed on."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        python_on_fd2 = sys.stderr.fileno() == 2
    except (OSError, ValueError, AttributeError):  # replaced (a test runner capturing): leave it alone
        python_on_fd2 = False
    previous = sys.stderr
    encoding = getattr(previous, "encoding", None) or "utf-8"
    real = open(saved, "w", closefd=False, encoding=encoding, errors="backslashreplace", buffering=1)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        if python_on_fd2:
            sys.stderr = real
        try:
            yield
        finally:
            real.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sys.stderr = previous
            captured.seek(0)
            found, rest = split_stderr(captured.read(MAX_STDERR).decode("utf-8", "replace"))
            panics.extend(found)
            if rest.strip():
                sys.stderr.write(rest)
                sys.stderr.flush()



def _facts_child(conn: Any, factory: str, cwd: str, sys_path: list[str]) -> None:
    """Build the worker ctx in a fresh process and send back what check needs of it."""
    sys.path[:] = sys_path
    try:
        from datafusion_exprtool.reports.check.target import ctx_facts

        conn.send(("ok", ctx_facts(build_context(WorkerSpec(factory=factory, cwd=cwd)))))
    except EvalError as err:
        conn.send(("failed", err.failure.message))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never re-raised here
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))


def ctx_facts_isolated(factory: str, cwd: str, timeout: float = CTX_TIMEOUT) -> dict[str, Any]:
    """``check_target.ctx_facts`` of the user's worker ctx, built in a spawned process: a factory that
    segfaults, calls os._exit or hangs ends with a usage error (exit 2) instead of taking check with it."""
    import multiprocessing as mp

    mpctx = mp.get_context("spawn")
    recv, send = mpctx.Pipe(duplex=False)
    # this process's whole sys.path: the trial builds the ctx as this process would (not as a fresh worker)
    proc = mpctx.Process(target=_facts_child, args=(send, factory, cwd, list(sys.path)), daemon=True)
    try:
        with _without_main():
            proc.start()
        send.close()
        if not recv.poll(timeout):
            raise fail("worker-ctx", f"{factory}() did not return within {timeout:g} s",
                       hint="set EXPRTOOL_WORKER_CTX_TIMEOUT to wait longer", exit_code=ExitCode.USAGE)  # fmt: skip
        try:
            kind, value = recv.recv()
        except (EOFError, OSError):
            proc.join(5)
            name = _signal_name(proc.exitcode)
            how = f"signal {name}" if name is not None else f"exit status {proc.exitcode}"
            raise fail("worker-ctx", f"building the worker ctx with {factory} ended its process ({how})",
                       exit_code=ExitCode.USAGE) from None  # fmt: skip
        if kind == "failed":
            raise fail("worker-ctx", value, exit_code=ExitCode.USAGE)
        return value
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        recv.close()
