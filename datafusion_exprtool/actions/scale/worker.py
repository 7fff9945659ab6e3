"""What every worker of a scaled replay does, whatever started it (a spawned process or a Ray actor).

A worker installs the worker context once (``set_worker_ctx``, as a Pool initializer or an actor's
``__init__`` does), says which Python, datafusion and exprtool it runs, then decodes the blob once and
evaluates pieces of the input with it:

* ``run``: one unit (a file, or row groups read with pyarrow and cast to the types datafusion's own scan
  gives them), or the whole input;
* ``map``: one unit's rows, each tagged with its bucket ``pmod(xxhash64(keys), buckets)`` computed by
  datafusion, sorted by bucket and cut into one slice per bucket;
* ``reduce``: the expression over one bucket's rows (whole groups, whole partitions).

The map side reads with a context of its own with ``collect_statistics`` off: with statistics, datafusion 55
turns a column whose Parquet min equals its max into a literal, and ``xxhash64`` of a literal panics
("index out of bounds: the len is 1") in datafusion-spark 55.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from datafusion_exprtool.actions.eval.failure import classify
from datafusion_exprtool.actions.eval.output import write_parquet_direct
from datafusion_exprtool.actions.eval.runner import EvalJob, decode, frame, plan
from datafusion_exprtool.actions.scale.parts import PARTS, part_name
from datafusion_exprtool.actions.scale.plan import Unit
from datafusion_exprtool.sandbox.context import WorkerSpec, install
from datafusion_exprtool.sandbox.failure import EvalError, fail

BUCKET = "__exprtool_bucket"


def column(name: str) -> Any:
    """``col(name)`` for any column name: quoted, so case and dots are kept (a quote inside doubled)."""
    from datafusion import col

    return col('"' + name.replace('"', '""') + '"')


def versions() -> dict[str, str]:
    """What a worker runs: a blob, the driver and every worker must agree on these."""
    from importlib.metadata import version

    return {
        "python": "{}.{}".format(*sys.version_info[:2]),
        "datafusion": version("datafusion"),
        "exprtool": version("datafusion-exprtool"),
        "host": socket.gethostname(),
        "pid": str(os.getpid()),
    }


class ScaleWorker:
    """One worker's state: its context, the decoded expression, the input's schema as datafusion reads it."""

    def __init__(self, spec: WorkerSpec):
        self.spec = spec
        self.ctx = install(spec)
        self.job: EvalJob | None = None
        self.expr: Any = None
        self.schema: Any = None  # the whole input's schema, as the worker ctx's scan types it
        self.columns: list[str] | None = None
        self.keys: list[str] = []
        self.buckets = 1
        self._map_ctx: Any = None

    def load(self, job: EvalJob, columns: list[str] | None, keys: list[str], buckets: int) -> tuple[float, Any]:
        """Check the data is visible here, decode the blob (once), read the input's schema, plan over no rows.

        Returns (seconds decoding, the result's schema: what the driver writes when no row comes back)."""
        for path in job.paths:
            if not os.path.exists(path):
                raise fail(
                    "input", f"{path} is not visible on worker {socket.gethostname()}", file=path,
                    hint="every worker reads the data itself: put it on a filesystem every node mounts at "
                    "the same path",
                )  # fmt: skip
        if job.output_format == PARTS and not os.path.isdir(job.output_temp or ""):
            raise fail(
                "write", f"the -o directory {job.output} is not visible on worker {socket.gethostname()}",
                file=job.output, hint="-o DIR/ parts are written by every worker: put DIR on a filesystem every "
                "node mounts at the same path, or write one file (-o out.parquet) through the driver",
            )  # fmt: skip
        self.job, self.keys, self.buckets = job, keys, buckets
        stage = "unpickle" if job.container == "pickle" else "decode"
        try:
            t0 = time.perf_counter()
            self.expr = decode(job, self.ctx)
            took = time.perf_counter() - t0
            stage = "plan"
            frames = [self.ctx.read_parquet(p) for p in job.paths]
            whole = frames[0]
            for other in frames[1:]:
                whole = whole.union(other)
            self.schema = whole.schema()
            self.columns = columns if columns is None else [c for c in self.schema.names if c in columns]
            result = frame(self.ctx, job, self.expr, self.ctx.from_arrow(self.empty())).schema()
        except EvalError:
            raise
        except BaseException as exc:
            raise EvalError(classify(exc, stage, job.python_functions)) from None
        return took, result

    # --- reading ------------------------------------------------------------------------------------------
    def _target(self) -> Any:
        """The schema of what a unit yields: the needed columns, typed as the worker ctx's scan types them."""
        import pyarrow as pa

        names = self.columns if self.columns is not None else self.schema.names
        return pa.schema([self.schema.field(n) for n in names])

    def source(self, unit: Unit, ctx: Any) -> Any:
        """A DataFrame of one unit's needed columns, typed like the whole input in the worker ctx."""
        target = self._target()
        if unit.row_groups is None:
            df = ctx.read_parquet(unit.path)
            have = df.schema()
            return df.select(*[
                column(f.name) if have.field(f.name).type == f.type else column(f.name).cast(f.type).alias(f.name)
                for f in target
            ])  # fmt: skip
        import pyarrow.parquet as pq

        table = pq.ParquetFile(unit.path).read_row_groups(list(unit.row_groups), columns=target.names)
        if unit.sliced:
            table = table.slice(unit.offset, unit.rows)
        return ctx.from_arrow(table.cast(target))

    def map_ctx(self) -> Any:
        """The context the map side reads and hashes with (the settings of --config, statistics off)."""
        if self._map_ctx is None:
            from datafusion import SessionConfig, SessionContext

            config = SessionConfig()
            for key, value in self.spec.settings().items():
                config = config.set(key, value)
            self._map_ctx = SessionContext(config.set("datafusion.execution.collect_statistics", "false"))
        return self._map_ctx

    # --- the three tasks -----------------------------------------------------------------------------------
    def run(self, unit: Unit | None) -> Iterator[Any]:
        """The expression over one unit (None: the whole input), as record batches."""
        assert self.job is not None
        job = self.job
        return self._stream(lambda: plan(self.ctx, job, self.expr) if unit is None else frame(self.ctx, job, self.expr, self.source(unit, self.ctx)))

    def reduce(self, source: Callable[[Any], Any]) -> Iterator[Any]:
        """The expression over one bucket's rows; ``source(ctx)`` builds their DataFrame."""
        assert self.job is not None
        job = self.job
        return self._stream(lambda: frame(self.ctx, job, self.expr, source(self.ctx)))

    @property
    def parts(self) -> bool:
        """Results go to Parquet parts (``-o DIR/``), not back to the driver."""
        return self.job is not None and self.job.output_format == PARTS

    def write_part(self, index: int, unit: Unit | None = None, source: Callable[[Any], Any] | None = None) -> int:
        """Task ``index``'s result (one unit, the whole input, or a bucket: ``source``) as a Parquet part,
        written by datafusion; its rows."""
        assert self.job is not None and self.job.output_temp is not None
        job = self.job
        stage = "plan"
        try:
            if source is not None:
                df = frame(self.ctx, job, self.expr, source(self.ctx))
            elif unit is None:
                df = plan(self.ctx, job, self.expr)
            else:
                df = frame(self.ctx, job, self.expr, self.source(unit, self.ctx))
            stage = "execute"
            return write_parquet_direct(df, os.path.join(job.output_temp, part_name(index)))
        except EvalError:
            raise
        except BaseException as exc:
            raise EvalError(classify(exc, stage, job.python_functions)) from None

    def map(self, unit: Unit) -> Iterator[tuple[int, Any]]:
        """(bucket, record batch) slices of one unit, every row of a bucket in the slices tagged with it."""
        import pyarrow.compute as pc
        from datafusion import lit
        from datafusion.functions import spark

        ctx = self.map_ctx()
        df = self.source(unit, ctx)
        names = df.schema().names
        bucket = spark.pmod(spark.xxhash64(*[column(k) for k in self.keys]), lit(self.buckets))
        df = df.select(*[column(n) for n in names], bucket.alias(BUCKET)).sort(column(BUCKET).sort())
        for batch in self._stream(lambda: df, stage="shuffle"):
            ids = batch.column(BUCKET)
            data = batch.select(names)
            start = 0
            while start < batch.num_rows:
                j = ids[start].as_py()
                end = start + pc.sum(pc.equal(ids.slice(start), j)).as_py()  # sorted: the run of j
                yield j, data.slice(start, end - start)
                start = end

    def _stream(self, build: Callable[[], Any], stage: str = "plan") -> Iterator[Any]:
        assert self.job is not None
        functions = self.job.python_functions
        try:
            stream = build().execute_stream()
            stage = "execute" if stage == "plan" else stage
            for item in stream:
                yield item.to_pyarrow()
        except EvalError:
            raise
        except BaseException as exc:
            raise EvalError(classify(exc, stage, functions)) from None

    def empty(self) -> Any:
        """An empty table of the shuffled columns (a bucket no row hashed to)."""
        return self._target().empty_table()
