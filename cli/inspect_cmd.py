"""`exprtool inspect`: read every layer of a blob without running any of it."""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Annotated

import typer

from .common import ALLOW_HELP, Exit, Teardown, apply_allow, fail
from .summary import SUMMARY_HELP


class Format(str, Enum):
    text = "text"
    json = "json"
    ndjson = "ndjson"
    markdown = "markdown"


class FailOn(str, Enum):
    code = "code"
    suspicious = "suspicious"


def inspect(
    paths: Annotated[list[str], typer.Argument(help="Blob files, directories (every blob inside) or - for stdin.")],
    json_: Annotated[bool, typer.Option("--json", help="One JSON object per input (an array for several).")] = False,
    fmt: Annotated[Format, typer.Option(
        "--format", "-f", help="text, json, ndjson (one object per line) or markdown (a summary with a Mermaid tree)."
    )] = Format.text,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Force the message: expr, logical or physical.")
    ] = None,
    allow: Annotated[list[str] | None, typer.Option("--allow", help=ALLOW_HELP)] = None,
    fail_on: Annotated[
        FailOn | None, typer.Option("--fail-on", help="Exit 1 when the verdict is at least this (CI gate).")
    ] = None,
    tree: Annotated[bool, typer.Option("--tree/--no-tree", help="Show the expression tree (text output).")] = True,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", help="Worker processes for many inputs (default: the CPU count; 1: in-process). "
                     "Output keeps the input order."),
    ] = None,
    summary: Annotated[bool, typer.Option("--summary", help=SUMMARY_HELP)] = False,
) -> None:
    """Decode pickle -> protobuf -> DFPY frame -> cloudpickle -> Arrow IPC, statically.

    Shows the expression as datafusion prints it, its tree, every function and how it
    travels, what a worker must import, a safety verdict and what leaks in clear text.

    Example:  exprtool inspect fixtures/blobs/udf_closure.expr.bin --fail-on suspicious
    """
    Teardown.skippable = True  # its outputs (stdout, --summary) are whole before it exits
    apply_allow(allow)
    from datafusion_exprtool.layers.container import display_path, expand_sources
    from datafusion_exprtool.layers.proto.roots import resolve_message

    if json_:
        if fmt in (Format.ndjson, Format.markdown):
            raise fail(f"--json and --format {fmt.value} disagree: use one of them")
        fmt = Format.json
    try:
        resolve_message(message)
    except ValueError as exc:
        raise fail(str(exc)) from None
    missing = [p for p in paths if p != "-" and not os.path.exists(p)]
    if missing:
        raise fail(f"no such file: {', '.join(display_path(p) for p in missing)}")
    sources = list(expand_sources(paths))
    if not sources:
        raise fail("no blobs found in " + ", ".join(display_path(p) for p in paths))
    from .bulk import batches, json_array, worst
    from .bulk_records import Settings
    from .common import console

    if jobs is not None and jobs < 1:
        raise fail("--jobs takes a number of processes, 1 or more")
    shown = console() if fmt is Format.text else None
    settings = Settings(
        fmt=fmt.value, message=message, fail_on=fail_on.value if fail_on else None, tree=tree,
        encoding=getattr(sys.stdout, "encoding", None) or "utf-8",
        terminal=shown.is_terminal if shown else False, width=shown.width if shown else 80,
        color_system=shown.color_system if shown else None, summary=summary, array=len(sources) > 1,
    )
    status = Exit.OK
    texts: list[str] = []  # --json: written at the end (one object, or an array for several inputs)
    sections: list[str] = []  # --summary: appended at the end, in input order
    sections_written = 0
    for batch in batches(sources, settings, (os.cpu_count() or 1) if jobs is None else jobs):
        status = worst(status, batch.status)
        if summary:
            sections += batch.markdown
        if fmt is Format.json:
            sys.stderr.write("".join(batch.stderr))
            texts += batch.stdout
            continue
        for err, text in zip(batch.stderr, batch.stdout, strict=True):
            if err:  # just before the input's own output, as one process writes it (to a terminal they mix)
                sys.stderr.write(err)
            if not text:
                continue
            if fmt is Format.markdown and sections_written:
                sys.stdout.write("\n")  # a blank line ends the previous section's HTML block
            sections_written += 1
            sys.stdout.write(text)
            if shown is not None:
                sys.stdout.flush()
    if fmt is Format.json:
        if len(sources) == 1:
            sys.stdout.write(texts[0])
        else:
            json_array(texts, sys.stdout)
    if summary:
        from .summary import append_summary

        append_summary("\n".join(sections))
    raise typer.Exit(int(status))


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
