"""`exprtool explain`: a datafusion serialization error, as it reached you, into its cause and fix."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import Exit, Teardown, fail

EPILOG = (
    "Examples:\n\n"
    "  python worker.py 2>&1 | exprtool explain\n\n"
    '  exprtool explain "RuntimeError: Unable to decode expr: ..."\n\n'
    "  exprtool explain --blob artifacts/blob1.pkl - < artifacts/failure.txt --json"
)


def explain(
    text: Annotated[
        str | None,
        typer.Argument(help="The error text (a whole traceback is fine); - or nothing reads stdin."),
    ] = None,
    blob: Annotated[
        Path | None,
        typer.Option("--blob", help="The blob that failed: ties the error to its function / bytes."),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="One JSON document with schema_version.")] = False,
) -> None:
    """Explain a datafusion serialization error: what caused it and how to fix it.

    Sees through multiprocessing / concurrent.futures / Ray / Dask / joblib re-raises, Rust PyErr nesting, escaped quotes and colour codes. With --blob it names the function, how it travels, its Python stamp and imports, or where a truncated blob ends.

    Exit 0 when explained, 1 when nothing matched, 2 on usage errors.
    """
    Teardown.skippable = True  # its output is whole before it exits
    from datafusion_exprtool.model import SCHEMA_VERSION
    from datafusion_exprtool.reports.explain import explain as explain_text
    from datafusion_exprtool.reports.explain import explain_with_blob

    if text is None or text == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise fail("give the error text as an argument, or pipe it in (`... 2>&1 | exprtool explain`)")
        text = sys.stdin.read()
    if not text.strip():
        raise fail("the error text is empty")
    if blob is not None:
        try:
            data = blob.read_bytes()
        except OSError as exc:
            raise fail(f"cannot read --blob {blob}: {exc.strerror or exc}") from None
        found = explain_with_blob(text, data=data)
    else:
        found = explain_text(text)
    if json_:
        import json

        doc = {
            "schema_version": SCHEMA_VERSION,
            "matched": bool(found),
            "blob": str(blob) if blob is not None else None,
            "explanations": [e.to_dict() for e in found],
        }
        print(json.dumps(doc, indent=2))
    else:
        _render(found)
    if not found:
        raise typer.Exit(int(Exit.FINDINGS))


def _render(found: list) -> None:
    from rich.markup import escape
    from rich.panel import Panel

    from .common import console

    con = console()
    if not found:
        con.print(
            "No known datafusion serialization failure in this text.\n"
            "If you have the blob, `exprtool check BLOB` finds problems before a worker does; "
            "`exprtool inspect BLOB` shows what it holds."
        )
        return
    for ex in found:
        lines = [f"[bold]Cause[/bold]  {escape(ex.cause)}", "", f"[bold]Fix[/bold]    {escape(ex.fix)}"]
        facts = _facts(ex)
        if facts:
            lines += ["", "[dim]" + escape(", ".join(f"{k}={v}" for k, v in facts.items())) + "[/dim]"]
        if ex.blob:
            lines += ["", "[bold]In the blob[/bold]"] + [f"  • {escape(n)}" for n in ex.blob]
        if ex.wrapper_hints:
            lines += ["", "[dim]Seen through: " + escape("; ".join(ex.wrapper_hints)) + "[/dim]"]
        lines += ["", "[dim]Matched: " + escape(ex.excerpt) + "[/dim]"]
        more = f" ×{ex.occurrences}" if ex.occurrences > 1 else ""
        title = f"{ex.id}{more}: {ex.title}" + (" (likely)" if ex.confidence == "likely" else "")
        con.print(Panel("\n".join(lines), title=escape(title), title_align="left", expand=True))


def _facts(ex: Any) -> dict[str, str]:
    """The fields worth the facts line: a long path or detail is left to --json, and a detail the matched text,
    the cause or the fix already shows is not said twice (it is a part of the text matched)."""
    out = {}
    for key, value in ex.fields.items():
        if key in ("path", "detail") and len(value) >= 80:
            continue
        if key == "detail" and any(value in said for said in (ex.excerpt, ex.cause, ex.fix)):
            continue
        out[key] = value
    return out


def register(app: typer.Typer) -> None:
    app.command("explain", epilog=EPILOG)(explain)
