"""One input's whole outcome for `exprtool inspect` (exit status, stderr line, stdout text), computed where it
runs: in the CLI process, or in a pool worker (``bulk.batches``)."""

from __future__ import annotations

import io
from dataclasses import dataclass

# imported with this module, not inside inspect_one: five import statements per input cost ~3 µs
from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.errors import ExitCode as Exit
from datafusion_exprtool.inspection.pipeline import inspect_loaded
from datafusion_exprtool.inspection.verdict import crosses
from datafusion_exprtool.layers.container import display_path, load_input
from datafusion_exprtool.reports.formats.json import error_document, inspection_document, write_json

from .bulk_records import Batch, Settings, array_item


@dataclass(frozen=True)
class Outcome:
    """One input, finished: its exit status, the line for stderr (or ""), the text for stdout."""

    status: int
    stderr: str
    stdout: str
    markdown: str = ""  # the Markdown report, when the settings ask for it (--format markdown or --summary)


class _Sink(io.StringIO):
    """A string buffer that reports the parent's stdout encoding (write_json escapes for it)."""

    def __init__(self, encoding: str) -> None:
        super().__init__()
        self._encoding = encoding

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding


def inspect_batch(sources: list[str], settings: Settings) -> Batch:
    """``inspect_one`` over consecutive inputs, in order."""
    status, errs, outs, mds = int(Exit.OK), [], [], []
    for source in sources:
        one = inspect_one(source, settings)
        status = max(status, one.status)
        errs.append(one.stderr)
        outs.append(array_item(one.stdout) if settings.array and settings.fmt == "json" else one.stdout)
        mds.append(one.markdown)
    return Batch(status, errs, outs, mds)


def inspect_one(source: str, settings: Settings) -> Outcome:
    """Read, inspect and render one input; a blob that does not decode is reported, as the serial loop does."""
    status, err_line = Exit.OK, ""
    markdown = settings.fmt == "markdown" or settings.summary
    md = ""
    try:
        insp = inspect_loaded(load_input(source), message=settings.message)
    except DecodeError as err:
        status = Exit.UNDECODABLE
        err_line = f"exprtool: {display_path(source)}: cannot decode: {err}\n"
        doc = error_document(display_path(source), err)
        if markdown:
            from datafusion_exprtool.reports.formats.markdown import undecodable_markdown

            md = undecodable_markdown(display_path(source), err.layer, err.offset, err.message)
            if settings.fmt == "markdown":
                return Outcome(int(status), err_line, md, md)
    else:
        if crosses(insp.safety.verdict, settings.fail_on):
            status = Exit.FINDINGS
        damage = insp.damage  # a layer that cannot be read: all that was read is shown, and exit 3 outranks 1
        if damage:
            status = Exit.UNDECODABLE
            first = damage[0]
            where = f" at byte {first.offset}" if first.offset is not None else ""
            more = f" (and {len(damage) - 1} more)" if len(damage) > 1 else ""
            err_line = (f"exprtool: {display_path(source)}: cannot decode: {first.layer} layer{where}: "
                        f"{first.sentence}{more}\n")
        if markdown:
            from datafusion_exprtool.reports.formats.markdown import inspection_markdown

            md = inspection_markdown(insp)
            if settings.fmt == "markdown":
                return Outcome(int(status), err_line, md, md)
        if settings.fmt == "text":
            return Outcome(int(status), err_line, render_text(insp, settings), md)
        doc = inspection_document(insp)
    if settings.fmt == "text":
        return Outcome(int(status), err_line, "", md)
    out = _Sink(settings.encoding)
    write_json(doc, out, pretty=settings.fmt == "json")
    return Outcome(int(status), err_line, out.getvalue(), md)


def render_text(insp, settings: Settings) -> str:
    """The rich rendering of one inspection as the parent's console would print it."""
    from .common import console
    from .terminal import print_inspection

    out = console(file=io.StringIO(), terminal=settings.terminal, width=settings.width,
                  color_system=settings.color_system)
    print_inspection(insp, show_tree=settings.tree, console=out)
    return out.file.getvalue()


