"""`exprtool inspect` over many inputs: one input's whole outcome (exit status, stderr line, stdout text) computed
by a function a worker process can run, and the pool that runs it in order.

The parent sends paths and receives finished text: a worker reads, inspects and renders (rich text, or the
JSON document already encoded), so encoding runs in parallel too and the parent only writes strings in input
order. A small run stays in-process: a pool's start-up costs more than it saves below ``MIN_PARALLEL`` inputs.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# imported with this module, not inside inspect_one: five import statements per input cost ~3 µs
from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.errors import ExitCode as Exit
from datafusion_exprtool.inspection.pipeline import inspect_loaded
from datafusion_exprtool.inspection.verdict import crosses
from datafusion_exprtool.layers.container import display_path, load_input
from datafusion_exprtool.reports.formats.json import error_document, inspection_document, write_json

#: fewer inputs than this are inspected in-process whatever --jobs says: measured with
#: `benchmarks/bench_bulk.py --jobs-sweep` (2 CPUs: even at 128-256 files, a loss at 64);
#: EXPRTOOL_MIN_PARALLEL overrides it (the benchmark's sweep uses that)
MIN_PARALLEL = int(os.environ.get("EXPRTOOL_MIN_PARALLEL", "256"))


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


def worst(a: int, b: int) -> int:
    """The exit status of a run: undecodable input outranks findings, which outrank ok."""
    return max(a, b)


def _start_context():  # noqa: ANN202 - a multiprocessing context
    """fork where it is safe (Linux: the workers inherit the imported library, no start-up import), else the
    platform's default (spawn: each worker imports the library once)."""
    import multiprocessing

    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def outcomes(sources: list[str], settings: Settings, jobs: int) -> Iterator[Outcome]:
    """Every input's outcome, in input order: in-process for one job or a small run, else in a pool."""
    if jobs <= 1 or len(sources) < max(MIN_PARALLEL, 2):
        for source in sources:
            yield inspect_one(source, settings)
        return
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    jobs = min(jobs, len(sources))
    chunk = max(1, min(256, len(sources) // (jobs * 8)))  # a few chunks per worker: even finish, few round trips
    with ProcessPoolExecutor(max_workers=jobs, mp_context=_start_context()) as pool:
        yield from pool.map(partial(inspect_one, settings=settings), sources, chunksize=chunk)


def json_array(texts: Iterable[str], out) -> None:  # noqa: ANN001 - a text stream
    """Write documents already encoded with indent 2 as one indented JSON array, exactly what json.dumps of
    the list writes (a JSON text holds no raw newline inside a string, so indenting every line is exact)."""
    out.write("[")
    first = True
    for text in texts:
        out.write("\n" if first else ",\n")
        first = False
        out.write("  " + text.rstrip("\n").replace("\n", "\n  "))
    out.write("\n]\n" if not first else "]\n")
