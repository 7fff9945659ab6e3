"""The tail of a split replay is cut finer so the workers finish together (``actions/scale/plan.balanced``):
every row is read once, in input order, and greedy dispatch finishes within a small bound of an even share;
a run with sliced row groups gives datafusion's one-process result in input order."""

from __future__ import annotations

import heapq
from pathlib import Path

import pyarrow.parquet as pq
from datafusion import SessionContext
from hypothesis import given, settings
from hypothesis import strategies as st
from support.cli import run_cli
from support.scale_cases import gil_udf, write_sliced

from datafusion_exprtool.actions.scale.plan import (
    AHEAD,
    MIN_SLICE,
    Unit,
    balanced,
    group_sizes,
    pick_worker,
    queue_depth,
    whole_units,
)


def _layout(files: list[list[int]]) -> tuple[list[str], list[int], list[int]]:
    names = [f"f{i}.parquet" for i in range(len(files))]
    ends, total = [], 0
    for groups in files:
        for rows in groups:
            total += rows
            ends.append(total)
    return names, [len(g) for g in files], ends


def _finish(units: list[Unit], workers: int) -> int:
    """When the last worker finishes, each taking the next unit when it is free (a row costs 1)."""
    free = [0] * workers
    for unit in units:
        heapq.heappush(free, heapq.heappop(free) + unit.rows)
    return max(free)


def _rows_read(units: list[Unit], sizes: dict[str, list[int]]) -> list[list]:
    """The rows the units read, in their order, as runs [file, row group, first, end] (adjacent runs merged)."""
    out: list[list] = []
    for u in units:
        groups = u.row_groups if u.row_groups is not None else range(len(sizes[u.path]))
        for g in groups:
            lo, hi = (u.offset, u.offset + u.rows) if u.sliced else (0, sizes[u.path][g])
            if out and out[-1][:2] == [u.path, g] and out[-1][3] == lo:
                out[-1][3] = hi
            else:
                out.append([u.path, g, lo, hi])
    return out


@settings(max_examples=300, deadline=None)
@given(
    files=st.lists(st.lists(st.integers(1, 3_000_000), min_size=1, max_size=6), min_size=1, max_size=6),
    workers=st.integers(2, 8),
)
def test_every_row_once_in_order_and_an_even_finish(files: list[list[int]], workers: int) -> None:
    names, groups, ends = _layout(files)
    sizes = group_sizes(names, groups, ends)
    units = whole_units(names, groups, ends, workers)
    even = balanced(units, sizes, workers)
    assert _rows_read(even, sizes) == _rows_read(units, sizes)
    assert sum(u.rows for u in even) == ends[-1]
    assert all(u.rows >= MIN_SLICE for u in even if u.sliced)
    # a unit starts once the work before it is spread over the workers, and is at most a share of what is left
    # (rounded up: +1 row) plus less than MIN_SLICE, or under 2 x MIN_SLICE where the share is MIN_SLICE
    bound = ends[-1] / workers + 2 * MIN_SLICE + 1
    assert _finish(even, workers) <= bound
    assert _dispatched_finish(even, workers) <= bound


def test_nineteen_row_groups_and_a_small_one_on_two_workers() -> None:
    """The benchmark's file: row groups alone leave one worker a whole row group behind (10 against 9)."""
    names, groups, ends = _layout([[1_048_576] * 19 + [77_056]])
    units = whole_units(names, groups, ends, 2)
    even = balanced(units, group_sizes(names, groups, ends), 2)
    assert _finish(units, 2) - ends[-1] / 2 > 450_000
    assert _finish(even, 2) == -(-ends[-1] // 2)
    assert [u.rows for u in even if u.sliced] == [562_816, 281_408, 204_352]


def _by_count(held: list[list[tuple]], task: tuple) -> int | None:
    """The dispatch before balancing: the worker holding the fewest tasks, two at most."""
    w = min(range(len(held)), key=lambda i: len(held[i]))
    return w if len(held[w]) < AHEAD else None


def _dispatched_finish(units: list[Unit], workers: int, pick=pick_worker) -> int:
    """When the last worker finishes under the engines' dispatch (``plan.pick_worker``: tasks in input order,
    handed out while a worker may take the next); a row costs 1."""
    held: list[list[tuple]] = [[] for _ in range(workers)]
    left: list[list[int]] = [[] for _ in range(workers)]  # rows still to run of each held task
    clock, pending = 0, [("run", u) for u in units]
    while pending or any(left):
        while pending:
            w = pick(held, pending[0])
            if w is None:
                break
            held[w].append(pending[0])
            left[w].append(pending.pop(0)[1].rows)
        step = min(q[0] for q in left if q)
        clock += step
        for w in range(workers):
            if left[w]:
                left[w][0] -= step
                if left[w][0] == 0:
                    left[w].pop(0)
                    held[w].pop(0)
    return clock


def test_the_tail_goes_to_idle_workers_only() -> None:
    """Handed to the worker with the fewest tasks, two deep, the tail's slices land behind a busy worker (10.2M
    rows against 9.8M, measured); by rows to go, the tail to idle workers only, the finish is even."""
    names, groups, ends = _layout([[1_048_576] * 19 + [77_056]])
    even = balanced(whole_units(names, groups, ends, 2), group_sizes(names, groups, ends), 2)
    first_cut = next(i for i, u in enumerate(even) if u.sliced)
    assert [u.tail for u in even] == [i >= first_cut for i in range(len(even))]
    assert [queue_depth(("run", u)) for u in even] == [1 if u.tail else AHEAD for u in even]
    ideal = ends[-1] / 2
    assert _dispatched_finish(even, 2, _by_count) - ideal > 100_000
    assert _dispatched_finish(even, 2) - ideal < 2 * MIN_SLICE


def test_one_worker_and_small_inputs_are_left_whole() -> None:
    names, groups, ends = _layout([[1000] * 6])
    units = whole_units(names, groups, ends, 2)
    assert balanced(units, group_sizes(names, groups, ends), 2) == units
    assert balanced(units, group_sizes(names, groups, ends), 1) == units


def test_sliced_row_groups_give_datafusions_result_in_input_order(tmp_path: Path) -> None:
    import pickle

    from datafusion import col, lit

    data = write_sliced(tmp_path)
    expr = gil_udf()(col("a")) + lit(1)
    blob = tmp_path / "expr.pkl"
    blob.write_bytes(pickle.dumps(expr))
    want = SessionContext().read_parquet(data).select(col("a"), expr.alias("v")).to_pydict()
    r = run_cli("eval", str(blob), data, "--keep", "a", "--workers", "2", "-f", "csv", "-q")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()[1:]
    assert [tuple(int(x) for x in line.split(",")) for line in lines] == list(zip(want["a"], want["v"], strict=True))
    r = run_cli("eval", str(blob), data, "--workers", "2", "-o", str(tmp_path / "parts") + "/")
    assert r.exit_code == 0, r.stderr
    assert "2 row groups over 2 workers, results in input order (the last cut finer to finish together: 3 tasks)" in r.stderr
    parts = sorted((tmp_path / "parts").iterdir())
    assert len(parts) == 3
    got = [v for p in parts for v in pq.read_table(p).column(0).to_pylist()]
    assert got == want["v"]


def test_pick_worker() -> None:
    big, tiny = ("run", Unit("f", (0,), 1_000_000)), ("run", Unit("f", (1,), 10))
    tail = ("run", Unit("f", (2,), 100_000, tail=True))
    assert pick_worker([[tiny, tiny], [big]], big) == 0  # two tiny tasks are as good as none
    assert pick_worker([[big], [big, big]], big) == 0
    assert pick_worker([[big, big], [big, big]], big) is None
    assert pick_worker([[big], []], tail) == 1
    assert pick_worker([[big], [big]], tail) is None  # the tail waits for an idle worker
    assert pick_worker([[("reduce", 0)], []], ("reduce", 1)) == 1  # a bucket's size is unknown: it counts
    small = ("run", Unit("f", (3,), 5_000))
    # the least busy worker is full: wait for it rather than queue the task behind a longer one elsewhere
    assert pick_worker([[small, small], [big]], big) is None
