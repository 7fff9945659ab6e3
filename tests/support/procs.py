"""Processes a test started, found by a marker in their environment (children inherit it): whether a CLI left
a worker behind is read from /proc, not assumed."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable


def processes_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if marker.encode() in fh.read():
                    with open(f"/proc/{entry}/stat") as st:
                        if st.read().rsplit(")", 1)[1].split()[0] != "Z":
                            found.append(int(entry))
        except OSError:
            continue
    return found


def gone(marker: str, seconds: float = 20.0) -> bool:
    """Whether every process holding ``marker`` ends within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not processes_with(marker):
            return True
        time.sleep(0.1)
    return False


def default_disposition(*signals: signal.Signals) -> Callable[[], None]:
    """A ``preexec_fn`` giving the job the signals' default disposition, whatever the test run's: an ignored
    signal is inherited (``nohup`` ignores SIGHUP, a shell's background job SIGINT), and a job that rightly
    ignores it would fail the test, or let a test of "no traceback" pass without the signal arriving."""

    def reset() -> None:
        for sig in signals:
            signal.signal(sig, signal.SIG_DFL)

    return reset
