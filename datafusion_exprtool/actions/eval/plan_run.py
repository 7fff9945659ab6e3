"""The worker side of plan replay: decode a plan blob in the worker context and hand eval's runner something
it can stream, the way a receiver runs a shipped plan.

* A logical plan: ``LogicalPlan.from_bytes(ctx, blob)`` then ``ctx.create_dataframe_from_logical_plan``, a
  DataFrame like any other (datafusion optimizes and plans it in the worker's context).
* A physical plan, whole: decoded under a ``CoalescePartitionsExec`` (``PhysicalPlanNode.merge``), the node
  datafusion's own ``execute_stream`` puts over a plan of several partitions, so they run in parallel into
  one stream; one output partition (``--partition N``): ``ctx.execute(plan, N)``, what a distributed
  engine's worker runs. Before decoding, the settings a correct worker needs are made (``worker_settings``,
  unless the caller set them): ``datafusion.execution.enable_file_stream_work_stealing`` false (in
  datafusion 55 it defaults to true, and a partition executed in a fresh context then reads every file of
  the scan, apache/datafusion#23292, so the partitions' union holds every row once per partition); for one
  partition also ``datafusion.optimizer.enable_join_dynamic_filter_pushdown`` false (a hash join that
  carries a dynamic filter waits for the build side of every partition: one partition alone never ends).

datafusion-python 55 shows no schema for an ``ExecutionPlan``: a physical frame learns it from its first
batch, and a run that yields no batch has no columns. ``--expect`` needs the result sorted: the physical
result is spooled to a temporary Parquet file and read back sorted by datafusion.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.layers.proto.wire import encode_len_field
from datafusion_exprtool.sandbox.failure import fail

#: datafusion 55's switch that lets one partition's file stream take the files of its siblings
WORK_STEALING = "datafusion.execution.enable_file_stream_work_stealing"
#: a hash join's dynamic filter waits for every partition's build side when this is on (its default)
JOIN_DYNAMIC_FILTER = "datafusion.optimizer.enable_join_dynamic_filter_pushdown"
#: PhysicalPlanNode.merge (CoalescePartitionsExecNode) and its input field (fact sheet §4.5)
_MERGE, _MERGE_INPUT = 13, 1


@dataclass
class PlanJob:
    """What a worker needs to know beyond the bytes: which plan, which partition, what to SET first."""

    message: str  # "LogicalPlanNode" | "PhysicalPlanNode"
    partition: int | None = None  # physical: one output partition; None: all of them
    settings: dict[str, str] = field(default_factory=dict)  # SET in the worker context before decoding

    @property
    def physical(self) -> bool:
        return self.message == "PhysicalPlanNode"


def worker_settings(message: str, partition: int | None, configured: dict[str, str]) -> dict[str, str]:
    """What a correct worker sets before running the plan, less what the caller configured himself."""
    if message != "PhysicalPlanNode":
        return {}
    wanted = {WORK_STEALING: "false"}
    if partition is not None:
        wanted[JOIN_DYNAMIC_FILTER] = "false"
    return {k: v for k, v in wanted.items() if k not in configured}


class _Batch:
    """A batch already converted to pyarrow, where eval's pump expects datafusion's (``to_pyarrow``)."""

    __slots__ = ("batch",)

    def __init__(self, batch: Any):
        self.batch = batch

    def to_pyarrow(self) -> Any:
        return self.batch


class PhysicalFrame:
    """A decoded physical plan where eval's runner holds a DataFrame: ``schema()``, ``execute_stream()``.

    The stream is a generator, so nothing executes before the runner's execute stage pulls the first batch.
    """

    def __init__(self, ctx: Any, plan: Any, partition: int):
        self.ctx, self.plan, self.partition = ctx, plan, partition
        self.observed: Any = None

    def schema(self) -> Any:
        """None until a batch came out (no API shows an ExecutionPlan's schema)."""
        return self.observed

    def final_schema(self) -> Any:
        """After the run: the schema of the batches, or no columns when there was none."""
        import pyarrow as pa

        return self.observed if self.observed is not None else pa.schema([])

    def execute_stream(self) -> Iterator[_Batch]:
        for item in self.ctx.execute(self.plan, self.partition):
            batch = item.to_pyarrow()
            if self.observed is None:
                self.observed = batch.schema
            yield _Batch(batch)

    def sorted(self, sort: Callable[[Any], Any]) -> SortedFrame:
        """This result sorted by ``sort`` (the runner's sort by all columns) once it is spooled."""
        return SortedFrame(self, sort)


class SortedFrame:
    """A physical result sorted by all its columns (for ``--expect``): spooled to a temporary Parquet file
    as it streams (memory stays flat), then read back through datafusion's sort."""

    def __init__(self, source: PhysicalFrame, sort: Callable[[Any], Any]):
        self.source, self.sort = source, sort
        self.observed: Any = None

    def schema(self) -> Any:
        return self.observed

    def final_schema(self) -> Any:
        return self.observed if self.observed is not None else self.source.final_schema()

    def execute_stream(self) -> Iterator[Any]:
        from datafusion_exprtool.actions.eval.output import stdout_sink

        workdir = tempfile.mkdtemp(prefix="exprtool-spool-")
        try:
            path = os.path.join(workdir, "result.parquet")
            with open(path, "wb") as fh:
                spool = stdout_sink("parquet", fh)
                for item in self.source.execute_stream():
                    spool.write(item.to_pyarrow())
                spool.close(self.source.final_schema())
            df = self.sort(self.source.ctx.read_parquet(path))
            self.observed = df.schema()
            yield from df.execute_stream()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def decode_plan(job: Any, ctx: Any) -> Any:
    """The decoded plan (``LogicalPlan`` or ``ExecutionPlan``), the way a receiver decodes it."""
    from datafusion import ExecutionPlan, LogicalPlan

    spec: PlanJob = job.plan
    if not spec.physical:
        return LogicalPlan.from_bytes(ctx, job.data)
    for key, value in spec.settings.items():
        ctx.sql(f"SET {key} = {value}").collect()
    if spec.partition is None:  # the whole plan: its partitions merged as datafusion's execute_stream does
        return ExecutionPlan.from_bytes(ctx, encode_len_field(_MERGE, encode_len_field(_MERGE_INPUT, job.data)))
    return ExecutionPlan.from_bytes(ctx, job.data)


def plan_frame(ctx: Any, job: Any, decoded: Any) -> Any:
    """What the runner streams: a DataFrame (logical) or a ``PhysicalFrame`` over the partition(s)."""
    spec: PlanJob = job.plan
    if not spec.physical:
        return ctx.create_dataframe_from_logical_plan(decoded)
    if spec.partition is None:
        return PhysicalFrame(ctx, decoded, 0)
    count = decoded.partition_count
    if spec.partition >= count:
        raise fail(
            "plan",
            f"--partition {spec.partition}: the plan has {count} output partition{'s' if count != 1 else ''}",
            hint=f"pick one of 0 to {count - 1}" if count else None,
            exit_code=ExitCode.USAGE,
        )
    return PhysicalFrame(ctx, decoded, spec.partition)
