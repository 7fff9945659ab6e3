"""Depth, size and robustness of the text/ renderers: deep nesting renders iteratively, huge IN lists stay
linear in time and memory, unknown or malformed bytes never raise. Ground truth is datafusion's text.
"""

from __future__ import annotations

import sys

from datafusion import col, lit
from datafusion import functions as F
from datafusion.expr import Expr
from support.text import rendered, root, varint_by_hand

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.canonical import render_expr
from datafusion_exprtool.text.tree import build_tree, tree_to_text

# --------------------------------------------------------------------------- depth, size, robustness


def _nested_abs(depth: int) -> Expr:
    e = col("a")
    for _ in range(depth):
        e = F.abs(e)
    return e


def test_depth_40_matches_datafusion() -> None:
    e = _nested_abs(40)
    assert rendered(e) == e.canonical_name()


def _abs_blob(depth: int) -> bytes:
    """``abs(abs(...(a)))`` encoded the way datafusion does (checked against it at depth 40 below).

    Building a 10,000-deep Expr in datafusion itself crashes the process, so the blob is assembled.
    """
    b = col("a").to_bytes()
    for _ in range(depth):
        udf = b"\x0a\x03abs\x12" + varint_by_hand(len(b)) + b
        b = b"\xa2\x01" + varint_by_hand(len(udf)) + udf
    return b


def test_assembled_abs_blob_is_datafusions() -> None:
    assert _abs_blob(40) == _nested_abs(40).to_bytes()


def test_depth_10000_renders_iteratively() -> None:
    b = _abs_blob(10_000)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # any Python recursion per level would blow up at once
    try:
        text = render_expr(root(b))
        tree_text = tree_to_text(build_tree(root(b)))
    finally:
        sys.setrecursionlimit(limit)
    want40 = _nested_abs(40).canonical_name()
    assert text == want40.replace("abs(" * 40, "abs(" * 10_000).replace(")" * 40, ")" * 10_000)
    assert "depth limit 200" in tree_text


def test_long_chain_matches_datafusion() -> None:
    e = col("a")
    for i in range(3000):
        e = e + lit(i)
    assert rendered(e) == e.canonical_name()


def test_in_list_5000_matches_datafusion() -> None:
    e = F.in_list(col("a"), [lit(i) for i in range(5_000)])
    assert rendered(e) == e.canonical_name()


def _million_in_list() -> bytes:
    """An InListNode with 1,000,000 entries, assembled from datafusion's own encoding of one entry."""
    one = F.in_list(col("a"), [lit(7)]).to_bytes()
    node = root(one).to_dict()["in_list"]
    d = node.to_dict()
    expr_b = d["expr"].raw()
    entry = d["list"][0].raw()
    body = bytearray(b"\x0a" + varint_by_hand(len(expr_b)) + expr_b)
    body += (b"\x12" + varint_by_hand(len(entry)) + entry) * 1_000_000
    return b"\x72" + varint_by_hand(len(body)) + bytes(body)


def test_million_in_list_renders_and_truncates_tree() -> None:
    b = _million_in_list()
    small = F.in_list(col("a"), [lit(7)] * 3).canonical_name()  # datafusion's text of the same shape
    text = render_expr(root(b))
    head, _, _ = small.partition("Int64(7), ")
    assert text.startswith(head) and text.endswith("Int64(7)])")
    assert text.count("Int64(7)") == 1_000_000
    tree = build_tree(root(b), max_children=50)
    assert len(tree.children) == 51
    assert tree.children[-1].label == "… 999,951 more"


def test_unknown_and_malformed_never_raise() -> None:
    good = (col("a") + lit(1)).to_bytes()
    unknown = b"\xaa\x06\x00"  # LogicalExprNode field 101, empty
    assert render_expr(root(unknown)) == "<unsupported LogicalExprNode field 101 @0>"
    assert render_expr(root(b"")) == "<empty LogicalExprNode @0>"
    truncated = good[:-3]
    out = render_expr(Msg("LogicalExprNode", truncated, 0, len(truncated)))
    assert "<undecodable" in out
    assert build_tree(root(truncated)).label.startswith(("binary", "<undecodable"))


def test_million_in_list_memory_and_tree_details() -> None:
    """Peak memory of the rendering stays near the size of the text; the tree counts without reading."""
    import tracemalloc

    b = _million_in_list()
    tracemalloc.start()
    try:
        text = render_expr(root(b))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(text)
    tree = build_tree(root(b), max_children=3)
    assert [c.label for c in tree.children] == [
        "column a",
        "literal Int64(7)",
        "literal Int64(7)",
        "… 999,998 more",
    ]
