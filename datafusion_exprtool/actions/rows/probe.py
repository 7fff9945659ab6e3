"""One probe of a ``--find-rows`` search: does the expression fail the same way on these rows alone?

A probe worker installs the worker context once, decodes the blob once, and then answers probes: it reads
the rows a probe names straight from the Parquet row groups (pyarrow, only the columns the expression
reads, cast to the types datafusion's scan gives them, e.g. ``string_view``), cuts them into batches the
way the scan does (per row group, ``batch_size`` rows each), hands them to datafusion as an in-memory
table and runs the mode's plan over it (``runner.frame``: the same plan eval builds over the Parquet
scan). Row groups stay cached (``CACHE_BYTES``) and the next chunk of an in-order scan is read ahead on a
thread while datafusion runs the current one, so a probe costs what datafusion spends on its rows.

Everything here runs inside the worker (or in this process with ``--isolate none``); ``worker.py`` is the
parent's side.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.actions.eval.failure import classify
from datafusion_exprtool.actions.eval.runner import EvalJob, decode, frame, read_input
from datafusion_exprtool.actions.rows.layout import Layout, Rows
from datafusion_exprtool.sandbox.context import WorkerSpec
from datafusion_exprtool.sandbox.failure import EvalError, EvalFailure

CACHE_BYTES = 512 << 20  # decoded row groups kept for the next probes (the narrowing re-reads them)
MAX_OPEN_FILES = 64
DEFAULT_BATCH_SIZE = 8192


@dataclass
class ProbeSetup:
    """What a probe worker needs; plain data, so it can be sent to a spawned process."""

    job: EvalJob
    spec: WorkerSpec
    layout: Layout
    columns: list[str]  # what probes read: the expression's columns, --keep, --group-by


@dataclass
class ProbeRequest:
    rows: Rows
    fill: int | None = None  # every row of the probe takes this row's values (a control probe)
    prefetch: Rows | None = None  # rows the next probe will want: read them while this one runs
    seconds: float | None = None  # stop (and say so) after this long


@dataclass
class ProbeOutcome:
    failure: EvalFailure | None  # None: the probe passed
    seconds: float = 0.0
    timed_out: bool = False
    rows_out: int = 0
    debug: list[str] = field(default_factory=list)


def batch_size_of(ctx: Any) -> int:
    """``datafusion.execution.batch_size`` as the worker context has it (``SHOW`` needs no information
    schema)."""
    try:
        table = ctx.sql("SHOW datafusion.execution.batch_size").to_pydict()
        return max(int(table["value"][0]), 1)
    except Exception:  # noqa: BLE001 - a context that refuses SHOW: datafusion's default
        return DEFAULT_BATCH_SIZE


def repeat_row(one: Any, n: int) -> Any:
    """A table of ``n`` copies of the one-row table ``one`` (``take`` has no kernel for view types)."""
    import pyarrow as pa

    try:
        return pa.table([pa.repeat(one.column(i)[0], n) for i in range(one.num_columns)], schema=one.schema)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, TypeError):
        return pa.concat_tables([one] * n).combine_chunks()


class RowReader:
    """Row groups read with pyarrow, cast to the scan's types, kept in a small LRU cache."""

    def __init__(self, layout: Layout, columns: list[str], schema: Any, cache_bytes: int = CACHE_BYTES):
        self.layout = layout
        self.columns = columns
        self.schema = schema
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[int, Any] = OrderedDict()
        self._files: dict[int, Any] = {}  # open ParquetFiles, least recently used first
        self._lock = threading.Lock()
        self._io = threading.Lock()
        self._pending: dict[int, Future] = {}
        self._pool: ThreadPoolExecutor | None = None

    def _read(self, gi: int) -> Any:
        """One row group, cast to the scan's types (kept as the file has them where pyarrow cannot cast)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        g = self.layout.groups[gi]
        with self._io:  # one reader at a time on a file handle (the prefetch thread reads too)
            handle = self._files.pop(g.file, None)
            if handle is None:
                handle = pq.ParquetFile(self.layout.files[g.file])
            self._files[g.file] = handle  # most recently used last
            while len(self._files) > MAX_OPEN_FILES:
                self._files.pop(next(iter(self._files))).close()
            table = handle.read_row_group(g.index, columns=self.columns).select(self.columns)
        try:
            table = table.cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            pass
        return table.combine_chunks()

    def group(self, gi: int) -> Any:
        with self._lock:
            if gi in self._cache:
                self._cache.move_to_end(gi)
                return self._cache[gi]
            pending = self._pending.pop(gi, None)
        table = pending.result() if pending is not None else self._read(gi)
        with self._lock:
            self._cache[gi] = table
            self._cache.move_to_end(gi)
            while len(self._cache) > 1 and sum(t.nbytes for t in self._cache.values()) > self.cache_bytes:
                self._cache.popitem(last=False)
        return table

    def prefetch(self, rows: Rows) -> None:
        """Start reading the row groups of ``rows`` on a thread (pyarrow releases the GIL)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="exprtool-prefetch")
        for gi, _part in self.layout.per_group(rows)[:4]:
            with self._lock:
                if gi in self._cache or gi in self._pending:
                    continue
                self._pending[gi] = self._pool.submit(self._read, gi)

    def parts(self, rows: Rows) -> list[Any]:
        """One pyarrow Table per row group the set touches: its selected rows, in scan order."""
        import pyarrow as pa

        out = []
        for gi, part in self.layout.per_group(rows):
            g = self.layout.groups[gi]
            table = self.group(gi)
            pieces = [table.slice(a - g.first, b - a) for a, b in part.ranges]
            out.append(pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces).combine_chunks())
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class Prober:
    """Runs probes in the process it lives in: one decoded expression, the worker context, a row reader."""

    def __init__(self, setup: ProbeSetup, ctx: Any):
        import pyarrow as pa

        self.setup = setup
        self.ctx = ctx
        self.job = setup.job
        self.expr = decode(setup.job, ctx)  # once: each probe plans and executes afresh
        scan = read_input(ctx, setup.job.paths).schema()
        self.schema = pa.schema([scan.field(c) for c in setup.columns])
        self.batch_size = batch_size_of(ctx)
        self.reader = RowReader(setup.layout, setup.columns, self.schema)
        self.count = 0

    def batches(self, request: ProbeRequest) -> list[Any]:
        parts = self.reader.parts(request.rows)
        if request.fill is not None:
            one = self.reader.parts(Rows.of([(request.fill, request.fill + 1)]))[0]
            parts = [repeat_row(one, part.num_rows) for part in parts]
        return [b for part in parts for b in part.to_batches(max_chunksize=self.batch_size) if b.num_rows]

    def run(self, request: ProbeRequest) -> ProbeOutcome:
        """Plan and execute the mode over the probe's rows; every failure is classified like eval's."""
        import pyarrow as pa

        t0 = time.perf_counter()
        stage = "plan"
        rows_out = 0
        try:
            batches = self.batches(request)
            schema = batches[0].schema if batches else self.schema
            if not batches:
                batches = [pa.RecordBatch.from_pylist([], schema=schema)]
            if request.prefetch is not None:
                self.reader.prefetch(request.prefetch)
            self.count += 1
            name = f"__exprtool_probe_{self.count}"  # create_dataframe registers a table: dropped below
            try:
                df = frame(self.ctx, self.job, self.expr, self.ctx.create_dataframe([batches], name, schema))
                stream = df.execute_stream()
                stage = "execute"
                for item in stream:
                    rows_out += item.to_pyarrow().num_rows
                    if request.seconds is not None and time.perf_counter() - t0 > request.seconds:
                        return ProbeOutcome(None, time.perf_counter() - t0, timed_out=True, rows_out=rows_out)
            finally:
                del batches
                self.ctx.deregister_table(name)
        except KeyboardInterrupt:
            raise
        except EvalError as exc:
            return ProbeOutcome(exc.failure, time.perf_counter() - t0)
        except BaseException as exc:  # noqa: BLE001 - a probe's failure is its answer
            return ProbeOutcome(classify(exc, stage, self.job.python_functions), time.perf_counter() - t0)
        return ProbeOutcome(None, time.perf_counter() - t0, rows_out=rows_out)

    def close(self) -> None:
        self.reader.close()
