"""`exprtool diff` on plans built by datafusion 55: nodes are aligned structurally, not by position.

The ground truth for "which node was inserted" is datafusion's own plan display (``display_indent``):
the two displays differ by exactly the lines of the inserted nodes.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from datafusion import DataFrame, SessionConfig, SessionContext, col, lit
from support.cli import run_cli

from datafusion_exprtool.reports.diff.compare import Difference, diff_paths


@pytest.fixture(scope="module")
def ctx(small_parquet: Path) -> SessionContext:
    c = SessionContext(SessionConfig().with_target_partitions(1))  # no RepartitionExec: layout not per-CPU
    c.register_parquet("t", str(small_parquet))
    c.register_parquet("u", str(small_parquet))
    return c


def _write(tmp_path: Path, name: str, df: DataFrame, stage: str) -> Path:
    plan = df.logical_plan() if stage == "logical" else df.execution_plan()
    path = tmp_path / f"{name}.{stage}.bin"
    path.write_bytes(plan.to_bytes())
    return path


def _display(df: DataFrame, stage: str) -> list[str]:
    plan = df.logical_plan() if stage == "logical" else df.execution_plan()
    return [line for line in plan.display_indent().splitlines() if line.strip()]


def _tree_diffs(a: Path, b: Path) -> list[Difference]:
    result = diff_paths(str(a), str(b))
    assert not result.equal
    return [d for d in result.differences if d.path.startswith("tree")]


def _inserted(shorter: list[str], longer: list[str]) -> list[str]:
    """The display lines only the longer plan has (datafusion's answer to "what was inserted")."""
    extra = Counter(line.strip() for line in longer) - Counter(line.strip() for line in shorter)
    return list(extra.elements())


def test_extra_filter_is_one_added_node(ctx: SessionContext, tmp_path: Path) -> None:
    base = ctx.table("t").filter(col("a") > lit(1))
    plain = base.select(col("a"), col("s"))
    extra = base.filter(col("s") == lit("x")).select(col("a"), col("s"))
    truth = _inserted(_display(plain, "logical"), _display(extra, "logical"))
    assert len(truth) == 1 and truth[0].startswith("Filter:") and "x" in truth[0]
    depth = next(i for i, line in enumerate(_display(extra, "logical")) if line.strip() == truth[0])
    a, b = _write(tmp_path, "plain", plain, "logical"), _write(tmp_path, "extra", extra, "logical")

    (added,) = _tree_diffs(a, b)  # the Projection above and the Filter and TableScan below stay equal
    assert added.kind == "added" and added.a is None and added.a_path is None
    assert added.b == "Filter: expr=" + truth[0].split(": ", 1)[1]  # datafusion's text of the node
    assert added.path == added.b_path == "tree/" + "/".join(["Projection", "Filter", "Filter"][: depth + 1])
    (removed,) = _tree_diffs(b, a)
    assert removed.kind == "removed" and removed.a == added.b and removed.a_path == added.path

    res = run_cli("diff", str(a), str(b))
    assert res.exit_code == 1
    assert f"+ {added.path}" in res.stdout
    doc = json.loads(run_cli("diff", "--json", str(a), str(b)).stdout)
    (node,) = [d for d in doc["differences"] if d["path"].startswith("tree")]
    assert node == {"path": added.path, "kind": "added", "a": None, "b": added.b, "a_path": None,
                    "b_path": added.path}  # fmt: skip
    assert set(doc["differences"][0]) == {"path", "kind", "a", "b"}  # "expr": no plan-node keys


def test_changed_predicate_is_one_changed_node(ctx: SessionContext, tmp_path: Path) -> None:
    one = ctx.table("t").filter(col("a") > lit(1)).select(col("a"))
    two = ctx.table("t").filter(col("a") > lit(2)).select(col("a"))
    (changed,) = _tree_diffs(_write(tmp_path, "one", one, "logical"), _write(tmp_path, "two", two, "logical"))
    filters = [
        next(line.strip() for line in _display(df, "logical") if line.strip().startswith("Filter:"))
        for df in (one, two)
    ]
    assert changed.kind == "changed" and changed.path == changed.a_path == "tree/Projection/Filter"
    assert [changed.a, changed.b] == ["Filter: expr=" + f.split(": ", 1)[1] for f in filters]


def test_physical_sort_is_one_added_node(ctx: SessionContext, tmp_path: Path) -> None:
    plain = ctx.sql("select a, s from t where a > 1")
    sorted_ = ctx.sql("select a, s from t where a > 1 order by s")
    truth = _inserted(_display(plain, "physical"), _display(sorted_, "physical"))
    assert len(truth) == 1 and truth[0].startswith("SortExec:")
    a, b = _write(tmp_path, "plain", plain, "physical"), _write(tmp_path, "sorted", sorted_, "physical")
    (added,) = _tree_diffs(a, b)
    assert (added.kind, added.path) == ("added", "tree/SortExec")
    assert added.b.startswith("SortExec: expr=[s@1 ASC NULLS LAST]")


def test_added_union_branch_is_found_by_fields_the_outline_leaves_out(
    ctx: SessionContext, tmp_path: Path
) -> None:
    """The new scan's line equals its siblings' (the outline shows no projection exprs): the fields tell."""
    two = ctx.sql("select a from t union all select a from u")
    three = ctx.sql("select a from t union all select a + 1 from t union all select a from u")
    shown = _display(three, "physical")
    assert Counter(line.strip() for line in _display(two, "physical")) == Counter(
        line.strip() for line in shown if "a@0 + 1" not in line
    )
    new = [i for i, line in enumerate(shown[1:]) if "a@0 + 1" in line]  # its index among the union's inputs
    a, b = _write(tmp_path, "two", two, "physical"), _write(tmp_path, "three", three, "physical")
    (added,) = _tree_diffs(a, b)
    assert (added.kind, added.path) == ("added", f"tree/UnionExec/ParquetExec[{new[0]}]")


def test_swapped_join_inputs_are_one_move(ctx: SessionContext, tmp_path: Path) -> None:
    tu = ctx.sql("select t.a, u.s from t join u on t.a = u.a")
    ut = ctx.sql("select t.a, u.s from u join t on t.a = u.a")
    shown_tu, shown_ut = _display(tu, "logical"), _display(ut, "logical")
    assert shown_tu != shown_ut and sorted(shown_tu) == sorted(shown_ut)  # same nodes, other order
    a, b = _write(tmp_path, "tu", tu, "logical"), _write(tmp_path, "ut", ut, "logical")
    (moved,) = _tree_diffs(a, b)
    assert moved.kind == "moved" and moved.a == moved.b
    assert {moved.a_path, moved.b_path} == {
        "tree/Projection/Join/TableScan[left]",
        "tree/Projection/Join/TableScan[right]",
    }
    table = "u" if moved.b_path.endswith("[left]") else "t"
    assert moved.b.startswith("TableScan: ") and moved.b.endswith(f"table_name={table}")
    res = run_cli("diff", str(a), str(b))
    assert res.exit_code == 1 and f"> {moved.path}" in res.stdout and f"from: {moved.a_path}" in res.stdout


def test_same_query_planned_twice_is_equal(ctx: SessionContext, tmp_path: Path) -> None:
    """Each planning gives the shared dynamic filter a fresh expr_id: that alone is no difference."""
    q = "select t.a, u.s from t join u on t.a = u.a"
    a, b = (
        _write(tmp_path, "first", ctx.sql(q), "physical"),
        _write(tmp_path, "second", ctx.sql(q), "physical"),
    )
    assert a.read_bytes() != b.read_bytes()
    result = diff_paths(str(a), str(b))
    assert result.equal, result.differences
    assert any("expr_id" in note for note in result.notes)


def test_deep_plan_is_aligned_without_recursion(small_parquet: Path, tmp_path: Path) -> None:
    """400 nested Filters, one more inserted half-way: one added node, under a recursion limit far
    below the plan's depth (anything recursive per plan level would raise RecursionError)."""
    df = SessionContext().read_parquet(str(small_parquet))
    n, at = 400, 200

    def chain(extra: bool) -> DataFrame:
        out = df
        for i in range(n):
            if extra and i == at:
                out = out.filter(col("b") < lit(10**6))
            out = out.filter(col("a") > lit(-i))
        return out

    plain, extra = chain(False), chain(True)
    truth = _inserted(_display(plain, "logical"), _display(extra, "logical"))
    assert len(truth) == 1 and "1000000" in truth[0]
    a, b = _write(tmp_path, "plain", plain, "logical"), _write(tmp_path, "extra", extra, "logical")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(_stack_depth()) + 100)
    try:
        result = diff_paths(str(a), str(b))
    finally:
        sys.setrecursionlimit(limit)
    (added,) = [d for d in result.differences if d.path.startswith("tree")]
    assert added.kind == "added" and "1000000" in added.b
    assert added.path == f"tree/Filter*{n - at + 1}"  # the filters added last sit on top


def _stack_depth() -> list[object]:
    import inspect

    return inspect.stack(0)
