"""`exprtool inspect` over many inputs: the pool that inspects them in order, and what crosses it.

The parent sends paths and receives finished text: a worker reads, inspects and renders (rich text, or the
JSON document already encoded and indented as an item of the array), so encoding runs in parallel too and the
parent only writes strings in input order. A worker answers for a run of consecutive inputs at once
(``Batch``: a few lists of strings cross the pipe, not an object per input). The inspection itself is in
``bulk_inspect``, which the parent of a pool never imports: the workers it forks import it side by side,
while the parent would import it alone before forking them. A small run stays in-process: a pool's start-up
costs more than it saves below ``MIN_PARALLEL`` inputs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

from .bulk_records import Batch, Settings

#: fewer inputs than this are inspected in-process whatever --jobs says: measured with
#: `benchmarks/bench_bulk.py --jobs-sweep` (2 CPUs: even at 128-256 files, a loss at 64);
#: EXPRTOOL_MIN_PARALLEL overrides it (the benchmark's sweep uses that)
MIN_PARALLEL = int(os.environ.get("EXPRTOOL_MIN_PARALLEL", "256"))


def worst(a: int, b: int) -> int:
    """The exit status of a run: undecodable input outranks findings, which outrank ok."""
    return max(a, b)


def _start_context():  # noqa: ANN202 - a multiprocessing context
    """fork where it is safe (Linux: a worker starts in a millisecond, with the parent's modules), else the
    platform's default (spawn: each worker starts an interpreter)."""
    import multiprocessing

    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def batches(sources: list[str], settings: Settings, jobs: int) -> Iterator[Batch]:
    """Every input's outcome, in input order: in-process one input at a time for one job or a small run
    (text reaches a terminal as each input is done), else in a pool, a few runs of inputs per worker."""
    if jobs <= 1 or len(sources) < max(MIN_PARALLEL, 2):
        from .bulk_inspect import inspect_batch

        for source in sources:
            yield inspect_batch([source], settings)
        return
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    jobs = min(jobs, len(sources))
    runs = split_runs(sources, jobs)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=_start_context()) as pool:
        yield from pool.map(partial(_inspect_batch, settings=settings), runs, stdin_for(runs))


def stdin_for(runs: list[list[str]]) -> list[bytes | None]:
    """What each run reads as stdin ("-"), or None for a run without it: a pool worker's stdin is /dev/null
    (multiprocessing closes it), so this process reads stdin for them, as one process would: the first "-"
    gets what was piped in, a later one its end (nothing: "stdin is empty")."""
    out: list[bytes | None] = []
    piped: bytes | None = None
    for run in runs:
        if "-" not in run:
            out.append(None)
        elif piped is None:
            piped = _read_stdin()
            out.append(piped)
        else:
            out.append(b"")
    return out


def _read_stdin() -> bytes:
    """stdin to its end, or one byte past ``MAX_INPUT`` (the worker refuses it then, as one process does); a
    closed stdin (``<&-``) reads nothing, as ``load_input`` reads it."""
    from datafusion_exprtool.layers.container import MAX_INPUT

    if sys.stdin is None:
        return b""
    chunks, size = [], 0
    while size <= MAX_INPUT:
        chunk = sys.stdin.buffer.read1(min(1 << 20, MAX_INPUT + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def split_runs(sources: list[str], jobs: int) -> list[list[str]]:
    """Consecutive runs of inputs for ``jobs`` workers: a few per worker (few round trips), getting shorter
    towards the end (a run is at most a quarter of a worker's share of what is left) so the workers finish
    together: equal runs of 256 left one worker 0.02 s of 0.55 behind the other."""
    base = max(1, min(256, len(sources) // (jobs * 8)))
    runs, start = [], 0
    while start < len(sources):
        left = len(sources) - start
        size = min(base, max(16, -(-left // (jobs * 4))))
        runs.append(sources[start : start + size])
        start += size
    return runs


def _inspect_batch(sources: list[str], stdin: bytes | None, settings: Settings) -> Batch:
    """``bulk_inspect.inspect_batch`` in a pool worker, which imports it on its first run; ``stdin``: what "-"
    reads in this run (``stdin_for``)."""
    from .bulk_inspect import inspect_batch

    if stdin is not None:
        import io

        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    return inspect_batch(sources, settings)


def json_array(items: list[str], out) -> None:  # noqa: ANN001 - a text stream
    """Write array items (``array_item``) as one indented JSON array, exactly what json.dumps of the list
    of documents writes with indent 2. Item by item: a reader that leaves early (``| head``) is seen at the
    next write (exit 141), and the text is never held twice."""
    out.write("[")
    separator = "\n"
    for item in items:
        out.write(separator)
        out.write(item)
        separator = ",\n"
    out.write("\n]\n" if items else "]\n")
