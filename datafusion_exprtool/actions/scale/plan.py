"""How a replay is split over workers, read from the static tree and the Parquet footers (nothing decoded).

* project / filter: each row is independent, so the input is cut into units (whole files when there are at
  least as many files as workers, else row groups) and the results are put back in input order.
* aggregate with ``--group-by``, a window whose every call has the same ``PARTITION BY`` columns: each group
  must meet one worker whole, so the rows are hash-shuffled on those columns (datafusion's own
  ``xxhash64`` + ``pmod``) and every worker evaluates the expression on its buckets.
* a global aggregate, a window without ``PARTITION BY`` (or partitioned by an expression, or by different
  columns in different calls): one worker; datafusion-python has no partial-state merge to combine workers'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.tables import MESSAGES

SPLIT, SHUFFLE, SINGLE = "split", "shuffle", "single"
_OPAQUE = {"LogicalPlanNode", "SubqueryNode", "ScalarSubqueryExprNode"}


@dataclass(frozen=True)
class Unit:
    """A piece of the input a worker reads: a whole file, or some of its row groups (``row_groups``)."""

    path: str
    row_groups: tuple[int, ...] | None = None
    rows: int = 0


@dataclass
class ScalePlan:
    strategy: str  # split | shuffle | single
    workers: int  # how many workers run it (1 for single)
    units: list[Unit] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # shuffle keys (input columns)
    columns: list[str] | None = None  # input columns a worker needs (None: all of them)
    note: str = ""  # one line for the user: how the work is split, or why it runs on one worker
    engine: str = "local"
    parts: bool = False  # -o DIR/: the workers write Parquet parts

    @property
    def distributed(self) -> bool:
        """False when it is a plain one-worker replay (eval's own isolated worker runs it)."""
        return self.engine == "ray" or self.strategy != SINGLE or self.parts


def window_partition_columns(root: Msg) -> tuple[list[str] | None, str]:
    """(the PARTITION BY columns every window call of the tree shares, or None; why not when None)."""
    found: list[tuple[str, ...]] = []
    stack = [root]
    while stack:
        msg = stack.pop()
        if msg.type not in MESSAGES:
            continue
        if msg.type == "WindowExprNode":
            names: list[str] = []
            for f in msg.fields():
                if f.name != "partition_by" or not isinstance(f.value, Msg):
                    continue
                arm = f.value.which("expr_type")
                if not arm or arm[0] != "column":
                    return None, "its PARTITION BY is an expression, not columns"
                names.append(arm[1].to_dict().get("name", ""))
            if not names:
                return None, "a window without PARTITION BY sees every row"
            found.append(tuple(names))
        stack.extend(
            f.value for f in msg.fields() if isinstance(f.value, Msg) and f.value.type not in _OPAQUE
        )
    if not found:
        return None, "no window call found"
    if len(set(found)) > 1:
        return None, "its window calls are partitioned by different columns"
    return list(found[0]), ""


def _units(files: list[str], groups: list[int], ends: list[int], workers: int) -> list[Unit]:
    """Whole files when there are enough of them, else every row group on its own (``groups``: row groups
    per file, ``ends``: cumulative rows at each row group's end, as eval's static phase read them)."""
    sizes = [b - a for a, b in zip([0, *ends], ends, strict=False)]
    out: list[Unit] = []
    first = 0
    for path, count in zip(files, groups, strict=True):
        mine = sizes[first : first + count]
        first += count
        if len(files) >= workers:
            out.append(Unit(path, None, sum(mine)))
        else:
            out += [Unit(path, (i,), rows) for i, rows in enumerate(mine)]
    return out


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _needed(job: Any, shape: Any) -> list[str] | None:
    """The input columns the plan reads (a filter without --keep returns every column: None)."""
    if job.mode == "filter" and not job.keep:
        return None
    return list(dict.fromkeys([*shape.columns, *job.keep, *job.group_by]))


def plan_scale(
    job: Any, shape: Any, root: Msg, files: list[str], groups: list[int], ends: list[int], workers: int
) -> ScalePlan:
    """The split for ``workers`` workers (``job``: the EvalJob, ``shape``: eval's ExprShape)."""
    columns = _needed(job, shape)
    if job.mode in ("project", "filter"):
        units = _units(files, groups, ends, workers)
        by = "file" if units and units[0].row_groups is None else "row group"
        workers = max(1, min(workers, len(units)))  # no worker without a unit
        return ScalePlan(SPLIT, workers, units, columns=columns,
                         note=f"{job.mode}: {_count(len(units), by)} over {_count(workers, 'worker')}, results in input order")  # fmt: skip
    if job.mode == "aggregate":
        if job.group_by:
            keys, why = list(job.group_by), ""
        else:
            keys, why = None, "a global aggregate needs every row in one place"
    else:
        keys, why = window_partition_columns(root)
    if keys is None:
        return ScalePlan(SINGLE, 1, columns=columns, note=f"{job.mode} runs on one worker: {why} "
                         "(datafusion-python has no partial-state merge to combine workers)")  # fmt: skip
    units = _units(files, groups, ends, workers)
    return ScalePlan(
        SHUFFLE, workers, units, keys=keys, columns=columns,
        note=f"{job.mode}: rows hash-shuffled on {', '.join(keys)} (xxhash64) to {workers} workers",
    )  # fmt: skip
