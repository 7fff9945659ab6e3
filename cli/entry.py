"""The `exprtool` program's entry point: boot eval's worker first, then run the CLI.

A plain replay's worker (a fresh interpreter that imports datafusion) is the longest part of a small
``exprtool eval``; booted here, before Typer and the commands are imported, it starts ~0.045 s earlier than
the eval command itself could start it. The command line is only glanced at: whether to boot is a guess
(``wants_worker``), and the eval command decides after parsing whether it adopts the worker; one it does not
adopt is killed at exit.
"""

from __future__ import annotations

import os
import sys

#: options after which eval never runs one spawn worker, and the values that keep it
_WORKER_OPTIONS = {"--isolate": "spawn", "--workers": "1", "--engine": "local"}


def wants_worker(args: list[str]) -> bool:
    """Whether ``exprtool ARGS`` is a replay in one spawn worker (eval's default), from the words alone."""
    if not args or args[0] != "eval" or os.name != "posix":  # worker_start.BOOTABLE, without importing it
        return False
    words = iter(args[1:])
    for word in words:
        if word == "--":
            break
        if word in ("-h", "--help"):
            return False
        name, eq, value = word.partition("=")
        if name in _WORKER_OPTIONS:
            if not eq:
                value = next(words, "")
            if value.strip() != _WORKER_OPTIONS[name]:
                return False
    return True


def _boot() -> None:
    """Boot the worker, or nothing when that fails here, outside main()'s net (a setting its module reads at
    import, no file descriptor left): the eval command starts its worker itself and reports what fails."""
    try:
        from datafusion_exprtool.actions.eval.worker_start import boot

        boot()
    except Exception:  # noqa: BLE001 - only a head start is lost
        pass


def main() -> None:
    try:
        if wants_worker(sys.argv[1:]):
            _boot()
        from datafusion_exprtool.cli.main import main as run
    except KeyboardInterrupt:  # Ctrl-C while the CLI starts: as during a command (cli/main.py), one line
        print("exprtool: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    run()


if __name__ == "__main__":
    main()
