"""Shared bits of the command layer: exit codes, one-line errors, console selection."""

from __future__ import annotations

import os
import sys

import typer

from datafusion_exprtool.errors import ExitCode as Exit  # the one table; commands say Exit.USAGE, ...


class Teardown:
    """Whether ``main()`` may end the process without the interpreter's teardown (module and object
    finalization: ~0.04 s once pyarrow is loaded, the largest part of ``eval``'s time after its last row).

    A command sets ``skippable`` when every path out of it closes and renames its outputs in ``finally``
    blocks before its exit propagates (``eval``; ``inspect``, ``check``, ``diff`` and ``explain``, which write
    stdout and ``--summary`` whole: their teardown was 0.017 s of a 0.11 s ``inspect --json``); ``main()`` then joins the remaining non-daemon threads,
    runs the atexit handlers (multiprocessing's, Ray's shutdown), flushes stdout and stderr, and exits with
    the same code. Commands that do not set it end as Python ends them.
    """

    skippable = False


def shorten(text: str, limit: int = 300) -> str:
    """A long rendering for a one-line status message: its start and end, with how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]} … ({len(text) - limit:,} characters) … {text[-limit // 2 :]}"


def datafusion_failure(text: str) -> str:
    """datafusion's refusal for a one-line status: shortened, with the catalog's name for it when known."""
    from datafusion_exprtool.catalog.match import match_text

    line = shorten(" ".join(text.split()), 400)
    found = match_text(text)
    return f"{line} [{found[0].entry.id}: {found[0].entry.title}; `exprtool explain` says more]" if found else line


def input_exit(err: Exception) -> Exit:
    """A blob that could not be read at all (missing path, directory, permissions) is a usage error; bytes
    that do not decode are undecodable input."""
    from datafusion_exprtool.errors import InputUnreadable

    return Exit.USAGE if isinstance(err, InputUnreadable) else Exit.UNDECODABLE


def input_problem(err: Exception) -> str:
    """How a blob failed to load, for the one-line message: it could not be read, or could not be decoded."""
    from datafusion_exprtool.errors import InputUnreadable

    return f"cannot read: {err}" if isinstance(err, InputUnreadable) else f"cannot decode: {err}"


def fail(message: str, code: int = Exit.USAGE) -> typer.Exit:
    """Print one line on stderr and return the Exit to raise."""
    print(f"exprtool: {message}", file=sys.stderr)
    return typer.Exit(int(code))


MIN_WIDTH = 20


def console(stderr: bool = False, *, file=None, terminal: bool | None = None, width: int | None = None,  # noqa: ANN001
            color_system: str | None = None):
    """A rich console; colour only on a terminal (rich decides from isatty and NO_COLOR).

    ``file`` with ``terminal``, ``width`` and ``color_system`` copies another console's settings onto a buffer:
    a worker of `inspect --jobs` renders into a string exactly what the parent's console would print.

    A closed pipe (`exprtool inspect X | head`) raises BrokenPipeError, which main() turns into exit 141,
    instead of rich's default exit 1 (which here would read as "findings").
    """
    from rich.console import Console, Group
    from rich.text import Text

    def _text_only(o: object) -> bool:  # lines of text (a Group of them too): no box to wrap inside
        return isinstance(o, str | Text) or (isinstance(o, Group) and all(_text_only(r) for r in o.renderables))

    class PipeAwareConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

        def print(self, *objects, **kwargs) -> None:  # type: ignore[no-untyped-def, override]
            # Off a terminal (a pipe, a CI log, a file) a line of text is never hard-wrapped at rich's default 80
            # columns: a wrapped path or message breaks grep and log parsers. Panels, tables and trees keep wrapping
            # inside their boxes (soft wrap there would crop cells).
            if "soft_wrap" not in kwargs and not self.is_terminal and all(_text_only(o) for o in objects):
                kwargs["soft_wrap"] = True
            super().print(*objects, **kwargs)

    if file is not None:
        return PipeAwareConsole(file=file, force_terminal=terminal, width=width, color_system=color_system,
                                highlight=False, soft_wrap=False)
    out = PipeAwareConsole(stderr=stderr, highlight=False, soft_wrap=False)
    if out.width < MIN_WIDTH:  # COLUMNS=0 (or 1) would leave rich no room: panels and tables print nothing
        out.width = 80
    return out


ALLOW_HELP = (
    "A site's own value type, MODULE.NAME, that a UDF captures and that rebuilds by calling it: accepted by the "
    "safety verdict (repeatable; adds to EXPRTOOL_ALLOW). For a false 'suspicious' on your own class."
)


def apply_allow(names: list[str] | None) -> None:
    """``--allow`` names join ``EXPRTOOL_ALLOW`` for this run and the worker processes it starts."""
    if not names:
        return
    from datafusion_exprtool.layers.pickle.safety import ALLOW_ENV

    bad = [n for n in names if "." not in n or not all(p.isidentifier() for p in n.split("."))]
    if bad:
        raise fail(f"--allow takes MODULE.NAME (a dotted Python name), not {bad[0]!r}")
    os.environ[ALLOW_ENV] = " ".join([os.environ.get(ALLOW_ENV, ""), *names]).strip()
