"""A dynamic filter (``PhysicalDynamicFilterNode``) as datafusion 55 displays it.

A TopK sort, a hash join or a MIN/MAX aggregate creates a filter it updates while it runs and pushes it into the scan
below (the scan's predicate holds it; the producer keeps its own copy). Its bytes hold the predicate as it stood when
the plan was serialized (``inner_expr``), how often it was updated (``generation``: 1 until the first update), and
the columns it was built over (``children``) with, in a copy pushed through a projection, the scan's columns for them
(``remapped_children``). datafusion shows:

* ``DynamicFilter [ empty ]`` while ``generation`` is 1, whatever ``inner_expr`` holds (a planned plan: ``true``);
* else ``DynamicFilter [ <inner_expr> ]``, each node of ``inner_expr`` equal to ``children[i]`` shown as
  ``remapped_children[i]`` (``DynamicFilterPhysicalExpr::current``), e.g. ``a@0 IS NULL OR a@0 > 95`` after a run;
* a TopK ``SortExec`` adds ``, filter=[<current>]`` unless its copy's current predicate is the literal ``true``,
  whatever its generation;
* a Parquet scan whose predicate holds a dynamic filter adds ``, dynamic_rg_pruning=eligible`` (measured on every
  plan shape tried: TopK, joins on columns and computed keys, partition columns, MIN/MAX, with pruning, page index,
  statistics and filter pushdown on or off).

Nodes are matched by their bytes (datafusion compares the expressions): datafusion serializes an expression the same
way wherever it occurs. datafusion replaces bottom-up; replacing the first node from the top that matches gives the
same text unless one child contains another child that is remapped differently, which no planner writes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.canonical import singles
from datafusion_exprtool.text.engine import Gen, arm, children

#: the replacements in force while a dynamic filter's predicate is rendered: by body length, (a child's bytes, its
#: remapped node) in the children's order (a node's bytes are copied only when its length is a child's: linear)
_REMAP: ContextVar[dict[int, list[tuple[bytes, Msg]]] | None] = ContextVar("exprtool_dynamic_filter_remap", default=None)
#: PhysicalExprNode's oneof arm of a dynamic filter
ARM = "dynamic_filter"


def remapped(msg: Msg) -> Msg | None:
    """The node datafusion shows in place of the PhysicalExprNode ``msg`` inside the dynamic filter being rendered
    (one of its ``remapped_children``), or None."""
    table = _REMAP.get()
    candidates = None if table is None else table.get(msg.end - msg.start)
    if not candidates:
        return None
    raw = msg.raw()
    return next((target for child, target in candidates if child == raw), None)  # datafusion takes the first match


def unmapped_gen(msg: Msg, expr_gen: Callable[[Msg], Gen]) -> Gen:
    """``msg`` rendered with no replacement in force: a remapped child is shown as it is (datafusion does not
    replace inside what it put in)."""
    token = _REMAP.set(None)
    try:
        yield expr_gen(msg)
    finally:
        _REMAP.reset(token)


def _remap_table(m: Msg) -> dict[int, list[tuple[bytes, Msg]]] | None:
    remapped_children = list(children(m, 2, "PhysicalExprNode"))
    if not remapped_children:
        return None
    table: dict[int, list[tuple[bytes, Msg]]] = {}
    for child, target in zip(children(m, 1, "PhysicalExprNode"), remapped_children, strict=False):
        table.setdefault(child.end - child.start, []).append((child.raw(), target))
    return table


def current_gen(m: Msg, expr_gen: Callable[[Msg], Gen]) -> Gen:
    """The filter's current predicate (``inner_expr`` over the remapped children) of a PhysicalDynamicFilterNode."""
    inner = singles(m).get("inner_expr")
    if not isinstance(inner, Msg):  # datafusion refuses it: "Missing inner_expr in PhysicalDynamicFilterNode"
        yield "<missing inner_expr>"
        return
    token = _REMAP.set(_remap_table(m))
    try:
        yield expr_gen(inner)
    finally:
        _REMAP.reset(token)


def dynamic_filter_gen(m: Msg, expr_gen: Callable[[Msg], Gen]) -> Gen:
    """``DynamicFilter [ empty ]`` or ``DynamicFilter [ <current predicate> ]`` of a PhysicalDynamicFilterNode."""
    if singles(m).get("generation") == 1:
        yield "DynamicFilter [ empty ]"
        return
    yield "DynamicFilter [ "
    yield current_gen(m, expr_gen)
    yield " ]"


def _is_literal_true(expr: Msg) -> bool:
    name, value, _n = arm(expr)
    if name != "literal" or not isinstance(value, Msg):
        return False
    scalar, flag, _n = arm(value)
    return scalar == "bool_value" and flag is True


def sort_filter_gen(node: Msg | None, expr_gen: Callable[[Msg], Gen]) -> Gen:
    """``, filter=[<current>]`` of a TopK SortExec's dynamic filter (SortExecNode.dynamic_filter, a PhysicalExprNode),
    "" while it is the literal ``true`` (a planned plan) or absent."""
    if node is None:
        return
    name, value, _n = arm(node)
    if name != ARM or not isinstance(value, Msg):
        return
    inner = singles(value).get("inner_expr")
    if isinstance(inner, Msg) and _is_literal_true(inner):
        return
    yield ", filter=["
    yield current_gen(value, expr_gen)
    yield "]"


def holds_dynamic_filter(expr: Msg) -> bool:
    """Whether a PhysicalExprNode is, or holds somewhere inside it, a dynamic filter (an explicit stack: bounded by
    the blob, never recursive). Bytes that do not read are no dynamic filter (the predicate's text shows them)."""
    stack = [expr]
    try:
        while stack:
            m = stack.pop()
            for f in m.fields():
                if f.name == ARM and m.type == "PhysicalExprNode":
                    return True
                if isinstance(f.value, Msg):
                    stack.append(f.value)
    except DecodeError:
        return False
    return False
