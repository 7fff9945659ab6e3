"""`exprtool inspect`: read every layer of a blob without running any of it."""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Annotated

import typer

from .common import ALLOW_HELP, Exit, apply_allow, fail


class Format(str, Enum):
    text = "text"
    json = "json"
    ndjson = "ndjson"


class FailOn(str, Enum):
    code = "code"
    suspicious = "suspicious"


def inspect(
    paths: Annotated[list[str], typer.Argument(help="Blob files, directories (every blob inside) or - for stdin.")],
    json_: Annotated[bool, typer.Option("--json", help="One JSON object per input (an array for several).")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="text, json or ndjson (one object per line).")] = Format.text,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Force the message: expr, logical or physical.")
    ] = None,
    allow: Annotated[list[str] | None, typer.Option("--allow", help=ALLOW_HELP)] = None,
    fail_on: Annotated[
        FailOn | None, typer.Option("--fail-on", help="Exit 1 when the verdict is at least this (CI gate).")
    ] = None,
    tree: Annotated[bool, typer.Option("--tree/--no-tree", help="Show the expression tree (text output).")] = True,
) -> None:
    """Decode pickle -> protobuf -> DFPY frame -> cloudpickle -> Arrow IPC, statically.

    Shows the expression as datafusion prints it, its tree, every function and how it
    travels, what a worker must import, a safety verdict and what leaks in clear text.

    Example:  exprtool inspect fixtures/blobs/udf_closure.expr.bin --fail-on suspicious
    """
    apply_allow(allow)
    from datafusion_exprtool.errors import DecodeError
    from datafusion_exprtool.inspection.pipeline import inspect_loaded, resolve_message
    from datafusion_exprtool.inspection.verdict import crosses
    from datafusion_exprtool.layers.container import display_path, expand_sources, load_input
    from datafusion_exprtool.reports.formats.json import error_document, inspection_document, write_json

    if json_:
        if fmt is Format.ndjson:
            raise fail("--json and --format ndjson disagree: use one of them")
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
    status = Exit.OK
    docs: list[dict] = []  # --json: written at the end (one object, or an array for several inputs)
    for source in sources:
        try:
            insp = inspect_loaded(load_input(source), message=message)
        except DecodeError as err:
            status = Exit.UNDECODABLE
            print(f"exprtool: {display_path(source)}: cannot decode: {err}", file=sys.stderr)
            doc = error_document(display_path(source), err)
        else:
            if crosses(insp.safety.verdict, fail_on.value if fail_on else None) and status == Exit.OK:
                status = Exit.FINDINGS
            if fmt is Format.text:
                from .terminal import print_inspection

                print_inspection(insp, show_tree=tree)
                continue
            doc = inspection_document(insp)
        if fmt is Format.ndjson:
            write_json(doc, sys.stdout, pretty=False)
        elif fmt is Format.json:
            docs.append(doc)
    if fmt is Format.json and docs:
        write_json(docs[0] if len(sources) == 1 else docs, sys.stdout)
    raise typer.Exit(int(status))


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
