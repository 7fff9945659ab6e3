"""What a worker process leaves behind when it fails: Rust panics on its stderr, faulthandler's stack dump.

Rust writes a panic (and its backtrace) straight to file descriptor 2, past Python; ``split_stderr`` tells
the panics from what user code printed, ``fold`` puts a panic into the one-line report. A worker that
vanished without a word is described by ``death`` from its exit status and the innermost frame of user code
that faulthandler recorded.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from datafusion_exprtool.sandbox.failure import EvalFailure
from datafusion_exprtool.sandbox.process import signal_name

MAX_STDERR = 4 << 20  # what a worker printed on stderr that is read back (a UDF printing in a loop)


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


def fold(failure: EvalFailure | None, panics: list[Panic]) -> None:
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


def death(exitcode: int | None, stage: str, fault_text: str, python_functions: dict[str, str]) -> EvalFailure:
    """Describe a worker that vanished without a word."""
    name = signal_name(exitcode)
    if name is not None:
        how = f"the worker was killed by {name}"
    else:
        how = f"the worker exited with status {exitcode} without reporting"
    # faulthandler lists the innermost frame first; a UDF's own frame wins, then user code, then the UDF
    # when there is one (a signal may land on the main thread, waiting in datafusion, not on the UDF's)
    udf = [f for f in _FRAME.findall(fault_text) if f[2] in python_functions]
    user = [f for f in _FRAME.findall(_crashed_thread(fault_text)) if not _internal(f[0])]
    function = location = None
    if udf or user:
        fname, line, func = (udf or user)[0]
        location = f"{fname}:{line}"
        function = python_functions.get(func, func)
    elif stage == "execute" and len(set(python_functions.values())) == 1:
        function = next(iter(python_functions.values()))
    first = fault_text.strip().splitlines()[0] if fault_text.strip() else ""
    message = how + (f" ({first})" if first and first.startswith("Fatal") else "")
    hint = "a segfault or abort in native code (a UDF, an FFI library) or os._exit in user code"
    if exitcode == -signal.SIGKILL:
        hint = "probably the kernel's out-of-memory killer: reduce --batch-size / --target-partitions"
    return EvalFailure(stage=stage, message=message, function=function, file=location, hint=hint)


def pass_on_stderr(path: str) -> list[Panic]:
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
