"""The `exprtool` application: one module per command, each registering itself here.

Command modules import heavy libraries (rich, datafusion, pyarrow) inside their functions, so that
`exprtool inspect --json` starts fast.
"""

from __future__ import annotations

import importlib
import os

import typer

from datafusion_exprtool.errors import ExitCode

from .common import Teardown

#: what a bug report needs: (label, distribution), read from the installed metadata, never imported
VERSIONED = (
    ("exprtool", "datafusion-exprtool"),
    ("datafusion", "datafusion"),
    ("pyarrow", "pyarrow"),
    ("cloudpickle", "cloudpickle"),
)


def version_text() -> str:
    """One line per package and one for Python; importing datafusion or pyarrow only to print a version
    would cost their whole start-up."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    lines = []
    for label, dist in VERSIONED:
        try:
            lines.append(f"{label} {version(dist)}")
        except PackageNotFoundError:
            lines.append(f"{label} not installed")
    lines.append(f"Python {platform.python_version()} ({platform.python_implementation()})")
    return "\n".join(lines)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit(ExitCode.OK)


def _root(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version,
        help="Print the versions of exprtool, datafusion, pyarrow, cloudpickle and Python, and exit.",
    ),
) -> None:
    """Inspect, check, re-encode and replay serialized Apache DataFusion expressions.

    Exit codes: 0 ok, 1 findings, 2 usage, 3 input that cannot be decoded, 4 evaluation failed.
    """


#: each command's name and module (``cli/<module>.py`` registers it)
COMMAND_MODULES = {
    "inspect": "inspect_cmd",
    "eval": "eval_cmd",
    "check": "check_cmd",
    "explain": "explain_cmd",
    "diff": "diff_cmd",
    "reencode": "reencode_cmd",
    "encode": "encode_cmd",
}


def _reflow(doc: str) -> str:
    """A docstring as help text: each prose paragraph on one line (rich wraps it to the terminal; a source
    line break inside a paragraph would otherwise show as a ragged break). Indented paragraphs (examples)
    keep their lines."""
    out = []
    for para in doc.strip().split("\n\n"):
        lines = para.splitlines()
        indented = all(line.startswith((" ", "\t")) for line in lines)
        out.append(para if indented else " ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def make_app(only: str | None = None) -> typer.Typer:
    """The application with every command, or with ``only`` that one (what ``main()`` runs for
    ``exprtool <command> …``: Typer turns every registered command into a click command before it parses,
    0.014 s for all seven against 0.003 s for ``inspect`` alone)."""
    built = typer.Typer(
        name="exprtool",
        help="Inspect, check, re-encode and replay serialized Apache DataFusion expressions.",
        no_args_is_help=True,
        add_completion=True,  # --install-completion / --show-completion (Typer's; typer.completion loads anyway)
        pretty_exceptions_enable=False,
    )
    built.callback()(_root)
    for name, module in COMMAND_MODULES.items():
        if only is None or name == only:
            importlib.import_module(f"datafusion_exprtool.cli.{module}").register(built)
    for command in built.registered_commands:
        if command.help is None and command.callback is not None and command.callback.__doc__:
            import inspect as _inspect

            command.help = _reflow(_inspect.getdoc(command.callback) or "")
    return built


def __getattr__(name: str) -> typer.Typer:
    """``app``: the whole application, built on first use (tests and the docs use it; ``main()`` builds
    only what it runs)."""
    if name == "app":
        globals()["app"] = built = make_app()
        return built
    raise AttributeError(name)


def invoked_command(argv: list[str]) -> str | None:
    """The command ``argv`` runs, when the application needs no other (not shell completion, which
    completes command names; not a root option such as --help or --version)."""
    if len(argv) > 1 and argv[1] in COMMAND_MODULES and not os.environ.get("_EXPRTOOL_COMPLETE"):
        return argv[1]
    return None


def _exit_without_teardown(code: int) -> None:
    """End as Python would (non-daemon threads joined, atexit handlers run, stdout and stderr flushed) but
    skip the module and object finalization after it (``Teardown``); a reader that left before the flush
    makes it ``CLOSED_PIPE``, as a closed pipe does during the run."""
    import atexit
    import os
    import sys
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = ExitCode.CLOSED_PIPE
    try:
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code)


def _stdout_file() -> tuple[int, int] | None:
    """Which file fd 1 is (device, inode), or None when it is closed."""
    try:
        st = os.fstat(1)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _rich_saw_closed_pipe(before: tuple[int, int] | None) -> bool:
    """Whether a plain rich console (Typer prints help with one) met a closed stdout: it points fd 1 at
    /dev/null and exits 1, which here would read as "findings"."""
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    now = _stdout_file()
    return now == (null.st_dev, null.st_ino) and now != before


def main() -> None:
    """Run the app; an unexpected exception is one line, never a traceback (EXPRTOOL_DEBUG=1 shows it).

    After a command that marks ``Teardown.skippable`` (``eval``) the process ends here, with the command's
    exit code, instead of raising SystemExit to the caller: ``main()`` is the program's entry point."""
    import os
    import sys

    for stream in (sys.stdout, sys.stderr):  # an ASCII-only terminal gets escapes, never a UnicodeEncodeError
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    stdout_file = _stdout_file()
    try:
        make_app(invoked_command(sys.argv))(standalone_mode=True)
    except SystemExit as exc:
        # Typer turns a closed stdout (`exprtool inspect X | head`) into exit 1, which here means
        # "findings"; the run did not finish, so it is neither a finding nor a pass (rich does the same with
        # help: `exprtool eval --help | head -1`)
        if exc.code == 1 and (
            type(sys.stdout).__name__ == "PacifyFlushWrapper" or _rich_saw_closed_pipe(stdout_file)
        ):
            raise SystemExit(ExitCode.CLOSED_PIPE) from None
        if Teardown.skippable and (exc.code is None or isinstance(exc.code, int)):
            _exit_without_teardown(exc.code or 0)
        raise
    except BrokenPipeError:  # `exprtool check X | head`: the reader left before the end
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # silence the flush at exit
        raise SystemExit(ExitCode.CLOSED_PIPE) from None
    except KeyboardInterrupt:
        print("exprtool: interrupted", file=sys.stderr)
        raise SystemExit(ExitCode.INTERRUPTED) from None
    except BaseException as exc:  # noqa: BLE001 - the last line of defence of principle 3 (pyo3's PanicException,
        # a Rust panic inside datafusion, is a BaseException: ``except Exception`` would let it through as a traceback)
        if os.environ.get("EXPRTOOL_DEBUG"):
            raise
        where = ""
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None:
            where = f" in {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
        print(
            f"exprtool: internal error{where}: {type(exc).__name__}: {exc}. The input could not be "
            "processed; please report it with the blob (EXPRTOOL_DEBUG=1 shows the traceback).",
            file=sys.stderr,
        )
        raise SystemExit(ExitCode.UNDECODABLE) from None


if __name__ == "__main__":
    main()
