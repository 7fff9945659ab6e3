"""What crosses between ``exprtool inspect``'s parent and its pool workers (``bulk``, ``bulk_inspect``): light, so
the parent can read a worker's answer without importing the inspection."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """What a worker needs to render one input exactly as the parent would (picklable)."""

    fmt: str  # text, json, ndjson or markdown
    message: str | None
    fail_on: str | None
    tree: bool
    encoding: str  # of the parent's stdout: decides \\u escapes in JSON
    terminal: bool  # the parent's console: colour and wrapping
    width: int
    color_system: str | None
    summary: bool = False  # also render the Markdown report for the job summary (--summary)
    array: bool = False  # JSON documents are items of one array (several inputs): indented one level more


@dataclass
class Batch:
    """The outcomes of consecutive inputs: the worst exit status, and for each input its stderr line (or ""; the
    parent writes it just before the input's stdout, where one process writes it), its stdout text (a JSON
    array's items already indented) and Markdown report."""

    status: int
    stderr: list[str]
    stdout: list[str]
    markdown: list[str]


def array_item(document: str) -> str:
    """A document written with indent 2, as an item of an array written with indent 2 (what json.dumps of the
    list writes: a JSON text holds no raw newline inside a string, so indenting every line is exact)."""
    return "  " + document.rstrip("\n").replace("\n", "\n  ")
