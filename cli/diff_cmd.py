"""`exprtool diff`: what two blobs mean differently (tree, functions, safety), not which bytes differ."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from .common import ALLOW_HELP, Exit, Teardown, apply_allow, fail, input_exit, input_problem
from .summary import SUMMARY_HELP


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def diff(
    a: Annotated[str, typer.Argument(help="First blob (file or - for stdin).")],
    b: Annotated[str, typer.Argument(help="Second blob.")],
    json_: Annotated[
        bool, typer.Option("--json", help="One JSON object (schema_version, equal, differences).")
    ] = False,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Force the message: expr, logical or physical.")
    ] = None,
    allow: Annotated[list[str] | None, typer.Option("--allow", help=ALLOW_HELP)] = None,
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="text, json (as --json) or markdown (a summary with both trees).")
    ] = Format.text,
    summary: Annotated[bool, typer.Option("--summary", help=SUMMARY_HELP)] = False,
) -> None:
    """Compare two blobs semantically: expression tree, functions (kind, transport, Python,
    volatility, types, code, closure values, imports) and the safety verdict.

    Plans are aligned node by node: an inserted or removed node (an extra Filter, a new Projection)
    is one + or - entry and the nodes around it stay equal; a subtree that only changed place (a
    join's inputs swapped) is one > entry (moved).

    A pickle and a raw to_bytes of the same expression are equal; so are two pickles that differ
    only in cloudpickle's random class-tracker ids (a note says so). Exit 0 equal, 1 different,
    3 undecodable input.

    Example:  exprtool diff ci/expected.pkl ci/actual.pkl
    """
    Teardown.skippable = True  # its outputs (stdout, --summary) are whole before it exits
    apply_allow(allow)
    from datafusion_exprtool.errors import DecodeError
    from datafusion_exprtool.inspection.pipeline import inspect_loaded, resolve_message
    from datafusion_exprtool.layers.container import load_input
    from datafusion_exprtool.reports.diff.compare import diff_document, diff_inspections

    if a == "-" and b == "-":
        raise fail("only one of the two blobs can come from stdin")
    try:
        resolve_message(message)
    except ValueError as exc:
        raise fail(str(exc)) from None
    inspections = []
    for source in (a, b):
        try:
            inspections.append(inspect_loaded(load_input(source), message=message))
        except DecodeError as err:
            raise fail(f"{source}: {input_problem(err)}", input_exit(err)) from None
    result = diff_inspections(*inspections)
    if json_ and fmt is Format.markdown:
        raise fail("--json and --format markdown disagree: use one of them")
    if json_ or fmt is Format.json:
        from datafusion_exprtool.reports.formats.json import write_json

        write_json(diff_document(result), sys.stdout)
    elif fmt is Format.markdown:
        from datafusion_exprtool.reports.formats.markdown import diff_markdown

        sys.stdout.write(diff_markdown(result, *inspections))
    else:
        _print(result)
    if summary:
        from datafusion_exprtool.reports.formats.markdown import diff_markdown

        from .summary import append_summary

        append_summary(diff_markdown(result, *inspections))
    raise typer.Exit(int(Exit.OK if result.equal else Exit.FINDINGS))


def _print(result) -> None:  # type: ignore[no-untyped-def]
    from rich.markup import escape

    from .common import console

    out = console()
    if result.equal:
        out.print(f"[green]equal[/green]: {escape(result.a)} and {escape(result.b)} mean the same")
    else:
        n = len(result.differences)
        out.print(
            f"[red]{n} difference{'s' if n != 1 else ''}[/red] between {escape(result.a)} and {escape(result.b)}"
        )
        for d in result.differences:
            mark, style = _MARKS[d.kind]
            out.print(f"[{style}]{mark}[/{style}] [bold]{escape(d.path)}[/bold]")
            if d.a_path is not None and d.a_path != d.path:  # a plan node that sits elsewhere in a
                out.print(f"    {'from' if d.kind == 'moved' else 'in a at'}: {escape(d.a_path)}")
            if d.a is not None:
                out.print(f"    a: {escape(_short(d.a))}")
            if d.b is not None:
                out.print(f"    b: {escape(_short(d.b))}")
    for note in result.notes:
        out.print(f"[dim]note: {escape(note)}[/dim]")


_MARKS = {
    "changed": ("~", "yellow"),
    "added": ("+", "green"),
    "removed": ("-", "red"),
    "moved": (">", "cyan"),
}


def _short(value: object, limit: int = 300) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def register(app: typer.Typer) -> None:
    app.command("diff")(diff)
