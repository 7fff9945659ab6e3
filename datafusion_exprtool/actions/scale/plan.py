"""How a replay is split over workers, read from the static tree and the Parquet footers (nothing decoded).

* project / filter: each row is independent, so the input is cut into units (whole files when there are at
  least as many files as workers, else row groups) and the results are put back in input order. The tail is
  cut finer (``balanced``): workers take units as they free up, so with equal units the last one would leave
  the other workers idle for up to a unit's time (19 row groups and a small one on 2 workers: 10 against 9,
  5% of the run).
* aggregate with ``--group-by``, a window whose every call has the same ``PARTITION BY`` columns: each group
  must meet one worker whole, so the rows are hash-shuffled on those columns (datafusion's own
  ``xxhash64`` + ``pmod``) and every worker evaluates the expression on its buckets.
* a global aggregate, a window without ``PARTITION BY`` (or partitioned by an expression, or by different
  columns in different calls): one worker; datafusion-python has no partial-state merge to combine workers'.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.tables import MESSAGES

SPLIT, SHUFFLE, SINGLE = "split", "shuffle", "single"
_OPAQUE = {"LogicalPlanNode", "SubqueryNode", "ScalarSubqueryExprNode"}


#: the fewest rows a row group is cut to when the tail is balanced: below it a task's own cost (reading the
#: row group again, planning) outweighs what an even finish gains
MIN_SLICE = 65_536


@dataclass(frozen=True)
class Unit:
    """A piece of the input a worker reads: a whole file, some of its row groups (``row_groups``), or the rows
    ``offset`` to ``offset + rows`` of one row group (``sliced``)."""

    path: str
    row_groups: tuple[int, ...] | None = None
    rows: int = 0
    offset: int = 0
    sliced: bool = False
    tail: bool = False  # of the balanced tail: handed to an idle worker only (``queue_depth``)


#: tasks a worker may hold (the one it runs and the next), so it starts the next without waiting for the
#: driver, busy writing the output, to hand it out
AHEAD = 2


def _rows(task: tuple[Any, ...]) -> int | None:
    unit = task[1] if len(task) > 1 else None
    return unit.rows if isinstance(unit, Unit) else None


def queue_depth(task: tuple[Any, ...]) -> int:
    """How many tasks a worker may hold when it is handed ``task``: ``AHEAD``, but a task of the balanced tail
    goes to an idle worker only: queued behind another it would run late on one worker while another idles
    (measured: 10.2M rows against 9.8M on 2 workers)."""
    unit = task[1] if len(task) > 1 else None
    return 1 if isinstance(unit, Unit) and unit.tail else AHEAD


#: a task this small is as good as no task when a worker's queue is counted (a one-row file)
TINY = MIN_SLICE // 16


def pick_worker(held: list[list[tuple[Any, ...]]], task: tuple[Any, ...]) -> int | None:
    """Which worker gets ``task`` (``held``: the tasks each worker runs or has queued), or None to wait.

    The worker with the fewest rows to go, if it holds fewer than ``queue_depth(task)`` tasks (tiny ones, under
    ``TINY`` rows, not counted: a worker holding two one-row files is as good as idle); else nobody yet: handing
    the task to a busier worker that has room would commit it behind a longer queue while the least busy one is
    about to be free."""
    best: tuple[int, int] | None = None
    choice = 0
    for i, tasks in enumerate(held):
        key = (sum(r for r in map(_rows, tasks) if r is not None), len(tasks))
        if best is None or key < best:
            best, choice = key, i
    busy = sum(1 for r in map(_rows, held[choice]) if r is None or r >= TINY)
    return choice if busy < queue_depth(task) else None


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


def group_sizes(files: list[str], groups: list[int], ends: list[int]) -> dict[str, list[int]]:
    """Each file's row-group sizes (``groups``: row groups per file, ``ends``: cumulative rows)."""
    sizes = [b - a for a, b in zip([0, *ends], ends, strict=False)]
    out: dict[str, list[int]] = {}
    first = 0
    for path, count in zip(files, groups, strict=True):
        out[path] = sizes[first : first + count]
        first += count
    return out


def whole_units(files: list[str], groups: list[int], ends: list[int], workers: int) -> list[Unit]:
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


def balanced(units: list[Unit], sizes: dict[str, list[int]], workers: int) -> list[Unit]:
    """The units with the tail cut finer (guided self-scheduling): a unit larger than the rows left divided by
    the workers is cut to that size, as row groups of its file, then as slices of a row group, so the last
    tasks shrink and the workers finish together. ``sizes``: each file's row-group sizes. Rows are the cost
    model: every row costs the same in a replay of one expression. Input order is kept."""
    if workers < 2:
        return units
    remaining = sum(u.rows for u in units)
    out: list[Unit] = []

    def share() -> int:
        return max(MIN_SLICE, -(-remaining // workers))

    for unit in units:
        if unit.rows <= share():
            out.append(dataclasses.replace(unit, tail=True) if out and out[-1].tail else unit)
            remaining -= unit.rows
            continue
        groups = unit.row_groups if unit.row_groups is not None else tuple(range(len(sizes[unit.path])))
        for group in groups:
            rows, offset = sizes[unit.path][group], 0
            if rows <= share():
                out.append(Unit(unit.path, (group,), rows, tail=True))
                remaining -= rows
                continue
            whole = rows
            while rows > 0:
                take = rows if rows - share() < MIN_SLICE else share()
                out.append(Unit(unit.path, (group,), take, offset, sliced=take < whole, tail=True))
                offset, rows, remaining = offset + take, rows - take, remaining - take
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
        units = whole_units(files, groups, ends, workers)
        by = "file" if units and units[0].row_groups is None else "row group"
        even = balanced(units, group_sizes(files, groups, ends), workers)
        workers = max(1, min(workers, len(even)))  # no worker without a unit
        note = f"{job.mode}: {_count(len(units), by)} over {_count(workers, 'worker')}, results in input order"
        if len(even) != len(units):
            note += f" (the last cut finer to finish together: {_count(len(even), 'task')})"
        return ScalePlan(SPLIT, workers, even, columns=columns, note=note)
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
    units = whole_units(files, groups, ends, workers)
    return ScalePlan(
        SHUFFLE, workers, units, keys=keys, columns=columns,
        note=f"{job.mode}: rows hash-shuffled on {', '.join(keys)} (xxhash64) to {workers} workers",
    )  # fmt: skip
