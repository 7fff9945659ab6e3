"""`exprtool inspect` over many inputs: one input's whole outcome (exit status, stderr line, stdout text) computed
by a function another process can run, and the processes that run it in input order.

Workers read, inspect and render (rich text, or the JSON document already encoded), so encoding runs in
parallel too and the parent only writes strings in input order. On Linux the parent forks: the inputs are cut
into contiguous ranges, the parent renders the first itself and each child writes its range's finished text to
an unlinked temporary file that the parent then copies in order (no pool, queues, manager thread or per-input
pickling: on 2 CPUs those competed with the workers). Elsewhere a ProcessPoolExecutor maps the inputs. A small
run stays in-process: starting workers costs more than it saves below ``MIN_PARALLEL`` inputs.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

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
    """Every input's outcome, in input order: in-process for one job or a small run, else in ``jobs`` processes
    (forked ranges on Linux, a pool elsewhere)."""
    if jobs <= 1 or len(sources) < max(MIN_PARALLEL, 2):
        for source in sources:
            yield inspect_one(source, settings)
        return
    jobs = min(jobs, len(sources))
    if _start_context().get_start_method() == "fork":
        yield from forked_outcomes(sources, settings, jobs)
        return
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    chunk = max(1, min(256, len(sources) // (jobs * 8)))  # a few chunks per worker: even finish, few round trips
    with ProcessPoolExecutor(max_workers=jobs, mp_context=_start_context()) as pool:
        yield from pool.map(partial(inspect_one, settings=settings), sources, chunksize=chunk)


#: one record of a forked range: status, then the byte lengths of its stderr, stdout and markdown texts
_RECORD = struct.Struct("<iIII")


def ranges(count: int, parts: int) -> list[tuple[int, int]]:
    """``count`` inputs cut into ``parts`` contiguous ranges of (nearly) equal size, in order (measured: the
    parent's range finishes with its child's although the parent also writes everything)."""
    return [(count * i // parts, count * (i + 1) // parts) for i in range(parts)]


def forked_outcomes(sources: list[str], settings: Settings, jobs: int) -> Iterator[Outcome]:
    """Outcomes from ``jobs`` processes, the parent being one of them: the inputs are cut into contiguous
    ranges; each forked child renders its range into an unlinked temporary file (finished text: no per-input
    pickling, no pool, queue or manager thread) while the parent renders the first range itself, streaming it;
    then the parent reads the children's files in order. A range whose child does not finish cleanly (killed,
    out of memory, an unexpected error), or could not be started (no temporary file, no fork), is rendered by
    the parent itself, so the output and any error are exactly what one process gives."""
    import tempfile

    parts = ranges(len(sources), jobs)
    children: list[tuple[int | None, Any, tuple[int, int]]] = []  # pid (None: not started), its file, its range
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        for lo, hi in parts[1:]:
            try:
                spool = tempfile.TemporaryFile()
            except OSError:
                children.append((None, None, (lo, hi)))
                continue
            try:
                pid = os.fork()
            except OSError:
                spool.close()
                children.append((None, None, (lo, hi)))
                continue
            if pid == 0:  # the child: render the range, never return into the parent's code
                code = 1
                try:
                    _render_range(sources[lo:hi], settings, spool)
                    code = 0
                finally:
                    os._exit(code)
            children.append((pid, spool, (lo, hi)))
        lo, hi = parts[0]
        for source in sources[lo:hi]:
            yield inspect_one(source, settings)
        while children:
            pid, spool, (lo, hi) = children[0]
            finished = False
            if pid is not None:
                _, wait_status = os.waitpid(pid, 0)
                finished = os.waitstatus_to_exitcode(wait_status) == 0
            children.pop(0)
            if finished:
                with spool:
                    spool.seek(0)
                    yield from _read_range(spool)
                continue
            if spool is not None:
                spool.close()
            for source in sources[lo:hi]:
                yield inspect_one(source, settings)
    finally:  # the parent stopped early (a closed stdout, ^C): end the children it started, by their id
        for pid, spool, _ in children:
            if pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
                    os.waitpid(pid, 0)
            if spool is not None:
                spool.close()


def _render_range(sources: list[str], settings: Settings, spool: Any) -> None:
    """A child's work: each input's outcome as a record (``_RECORD``, then the three texts in UTF-8 with lone
    surrogates kept, so the parent gets the very same strings)."""
    pack = _RECORD.pack
    for source in sources:
        o = inspect_one(source, settings)
        err = o.stderr.encode("utf-8", "surrogatepass")
        text = o.stdout.encode("utf-8", "surrogatepass")
        md = o.markdown.encode("utf-8", "surrogatepass")
        spool.write(pack(o.status, len(err), len(text), len(md)))
        spool.write(err)
        spool.write(text)
        spool.write(md)
    spool.flush()


def _read_range(spool: Any) -> Iterator[Outcome]:
    """The outcomes a child wrote, in its order, one record at a time."""
    size, unpack, read = _RECORD.size, _RECORD.unpack, spool.read
    while head := read(size):
        status, n_err, n_text, n_md = unpack(head)
        yield Outcome(status, read(n_err).decode("utf-8", "surrogatepass"),
                      read(n_text).decode("utf-8", "surrogatepass"), read(n_md).decode("utf-8", "surrogatepass"))


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
