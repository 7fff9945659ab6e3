"""text/tree: the structure a canonical text loses (associativity, negation), offsets into the blob,
and long lists counted without reading every entry.
"""

from __future__ import annotations

import pyarrow as pa
from datafusion import col, lit
from datafusion import functions as F
from datafusion.expr import Expr
from support.text import S, root

from datafusion_exprtool.text.tree import build_tree, tree_to_text

# --------------------------------------------------------------------------- tree structure


def _tree_text(e: Expr) -> str:
    return tree_to_text(build_tree(root(e.to_bytes())))


def test_tree_shows_what_canonical_text_loses() -> None:
    right = col("a") - (col("b") - col("c"))
    left = col("a") - col("b") - col("c")
    assert right.canonical_name() == left.canonical_name()
    assert _tree_text(right) != _tree_text(left)
    assert _tree_text(right).count("binary -") == 2
    assert _tree_text(left).count("binary -") == 1
    neg_and = ~((col("x") > lit(1)) & (col("y") > lit(2)))
    tree = build_tree(root(neg_and.to_bytes()))
    assert tree.label == "not_expr" and tree.children[0].label == "binary AND"


def test_tree_offsets_point_into_blob() -> None:
    e = F.abs(col("a")) + lit(1)
    b = e.to_bytes()
    tree = build_tree(root(b))
    stack = [tree]
    while stack:
        n = stack.pop()
        assert 0 <= n.offset < len(b)
        stack.extend(n.children)


def test_tree_counts_mixed_entries_and_keeps_later_details() -> None:
    items = [lit(i) for i in range(0, 3000, 7)] + [
        col("a"),
        lit("x"),
        col("a") + lit(1),
        lit(S(1, pa.int8())),
    ]
    e = F.in_list(col("z"), items, negated=True)
    tree = build_tree(root(e.to_bytes()), max_children=10)
    assert tree.label == "in_list (negated=True)"
    assert [c.label for c in tree.children][:2] == ["column z", "literal Int64(0)"]
    assert tree.children[-1].label == f"… {len(items) + 1 - 10:,} more"
    full = build_tree(root(e.to_bytes()), max_children=10_000)
    assert len(full.children) == len(items) + 1 and full.children[-2].label == "binary +"


def test_tree_message_field_with_wrong_wire_type_never_raises() -> None:
    blob = b"\x72\x02\x10\x01"  # InListNode.list (a message) sent as a varint
    tree = build_tree(root(blob))
    assert tree.label.startswith("in_list") and "?field2@2" in tree.label and not tree.children


def test_physical_tree_labels_expressions_and_signed_fields(tmp_path) -> None:
    """A PhysicalExprNode is labelled by its oneof arm, with expr_id beside it (not as the label), and an
    int64 fetch of -1 (no limit) reads -1, as datafusion's own plan text has it."""
    import pyarrow.parquet as pq
    from datafusion import SessionContext

    from datafusion_exprtool.layers.proto.msg import Msg

    pq.write_table(pa.table({"a": [3, 1, 2], "s": ["x", "y", "z"]}), tmp_path / "t.parquet")
    ctx = SessionContext()
    ctx.register_parquet("t", str(tmp_path / "t.parquet"))
    ctx.register_parquet("u", str(tmp_path / "t.parquet"))
    plan = ctx.sql("select t.a, u.s from t join u on t.a = u.a order by t.a").execution_plan()
    text = tree_to_text(build_tree(Msg("PhysicalPlanNode", plan.to_bytes(), 0, len(plan.to_bytes()))))
    assert "expr_id " not in text  # never a label
    labelled = [line for line in text.splitlines() if "(expr_id=" in line]
    assert labelled and all("expr_id=" not in line.split("(expr_id=")[0] for line in labelled)
    assert "dynamic_filter (expr_id=" in text  # the scan's predicate and the join share one filter
    assert text.splitlines()[0] == "sort (fetch=-1)"  # SortExecNode.fetch is an int64; -1: no limit
