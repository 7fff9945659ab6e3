"""Indented outlines of LogicalPlanNode / PhysicalPlanNode, and physical expression text.

One line per plan node: its kind and key fields, with expressions rendered on the same engine as
``canonical_name`` (engine.drive), inputs indented below. Field handling is table-driven: a field's
proto type decides how it prints, so a plan node kind the code never names still gets a useful line.
"""

from __future__ import annotations

from typing import Any

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.roots import PLAN_MESSAGES
from datafusion_exprtool.layers.proto.tables import ENUMS, MESSAGES
from datafusion_exprtool.text.canonical import (
    column_gen,
    expr_gen,
    placeholder_text,
    singles,
    sort_gen,
    table_reference,
)
from datafusion_exprtool.text.engine import Gen, arm, children, render_with, separated
from datafusion_exprtool.text.logical_plan import LINES as LOGICAL_LINES
from datafusion_exprtool.text.logical_plan import NO_CHILDREN as LOGICAL_NO_CHILDREN
from datafusion_exprtool.text.logical_plan import NOT_CHILDREN as LOGICAL_NOT_CHILDREN
from datafusion_exprtool.text.physical_expr import (
    physical_gen,
    physical_sort_gen,
    window_expr_gen,
)
from datafusion_exprtool.text.physical_plan import LINES as PHYSICAL_LINES
from datafusion_exprtool.text.scalar import scalar_gen, type_gen

# datafusion's display names for plan node arms (others print their arm name)
LABELS = {
    "listing_scan": "TableScan", "custom_scan": "TableScan", "view_scan": "TableScan",
    "empty_table_scan": "TableScan", "projection": "Projection", "selection": "Filter", "limit": "Limit",
    "aggregate": "Aggregate", "join": "Join", "sort": "Sort", "repartition": "Repartition",
    "empty_relation": "EmptyRelation", "explain": "Explain", "window": "WindowAggr", "analyze": "Analyze",
    "cross_join": "CrossJoin", "values": "Values", "extension": "Extension", "union": "Union",
    "subquery_alias": "SubqueryAlias", "distinct": "Distinct", "distinct_on": "DistinctOn", "copy_to": "CopyTo",
    "unnest": "Unnest", "recursive_query": "RecursiveQuery", "cte_work_table_scan": "CteWorkTableScan",
}  # fmt: skip
PHYSICAL_LABELS = {
    "parquet_scan": "ParquetExec", "csv_scan": "CsvExec", "json_scan": "JsonExec", "empty": "EmptyExec",
    "projection": "ProjectionExec", "global_limit": "GlobalLimitExec", "local_limit": "LocalLimitExec",
    "aggregate": "AggregateExec", "hash_join": "HashJoinExec", "sort": "SortExec",
    "coalesce_batches": "CoalesceBatchesExec", "filter": "FilterExec", "merge": "CoalescePartitionsExec",
    "repartition": "RepartitionExec", "window": "WindowAggExec", "cross_join": "CrossJoinExec",
    "union": "UnionExec", "sort_preserving_merge": "SortPreservingMergeExec",
    "nested_loop_join": "NestedLoopJoinExec", "placeholder_row": "PlaceholderRowExec",
    "memory_scan": "MemoryExec", "cooperative": "CooperativeExec",
}  # fmt: skip
_SKIP = {"schema", "input_schema", "options", "parquet_options", "statistics", "constraints", "fun_definition",
         "file_type", "custom_table_data", "partitions", "human_display"}  # fmt: skip


def _value_gen(kind: str, type_name: str | None, value: Any) -> Gen:
    """How one field value prints on a plan line, chosen by its proto type."""
    if type_name == "LogicalExprNode":
        yield expr_gen(value)
    elif type_name == "SortExprNode":
        yield sort_gen(value)
    elif type_name == "PhysicalExprNode":
        yield physical_gen(value)
    elif type_name == "PhysicalSortExprNode":
        yield physical_sort_gen(value)
    elif type_name == "PhysicalWindowExprNode":
        yield window_expr_gen(value)
    elif type_name == "TableReference":
        yield table_reference(value)
    elif type_name == "ArrowType":
        yield type_gen(value)
    elif type_name == "ScalarValue":
        yield scalar_gen(value)
    elif type_name == "Column":
        yield column_gen("", value)
    elif type_name == "JoinOn":
        d = singles(value)
        yield "("
        yield physical_gen(d["left"]) if "left" in d else "?"
        yield ", "
        yield physical_gen(d["right"]) if "right" in d else "?"
        yield ")"
    elif type_name in ("MaybeFilter", "JoinFilter"):
        d = singles(value)
        key = "expr" if type_name == "MaybeFilter" else "expression"
        yield physical_gen(d[key]) if key in d else "None"
    elif type_name == "FileScanExecConf":
        yield "files=["
        first = True
        for group in children(value, 1, "FileGroup"):
            for f in children(group, 1, "PartitionedFile"):
                yield "" if first else ", "
                first = False
                yield str(singles(f).get("path", "?"))
        yield "]"
        proj = [f.value for f in value.fields() if f.name == "projection"]
        if proj:
            yield f", projection={proj}"
        exprs = singles(value).get("projection_exprs")
        if isinstance(exprs, Msg):  # what the scan computes (datafusion 55 writes this beside or instead of indices)
            items = []
            for p in children(exprs, 1, "ProjectionExpr"):
                d = singles(p)
                text = render_with(physical_gen, d["expr"]) if "expr" in d else "?"
                alias = d.get("alias")
                if not alias:
                    items.append(text)
                else:  # datafusion's display: a column under its own name is just the name
                    items.append(alias if text == f"{alias}@{text.rpartition('@')[2]}" else f"{text} as {alias}")
            yield f", projection=[{', '.join(items)}]"
    elif type_name in ("ProjectionColumns", "LogicalExprList", "PhysicalSortExprNodeCollection",
                       "SortExprNodeCollection", "ProjectionExprs", "PhysicalHashRepartition",
                       "HashRepartition", "Partitioning", "ProjectionExpr"):  # fmt: skip
        yield "["
        yield _fields_gen(value, ", ")
        yield "]"
    elif kind == "message":
        yield f"<{type_name}>"
    elif kind == "enum":
        yield str(value)
    elif isinstance(value, bytes):
        yield f"<{len(value)} bytes>"  # raw bytes say nothing on a plan line (the tree shows where they sit)
    else:
        yield repr(value) if isinstance(value, str) else str(value)


def _fields_gen(m: Msg, sep: str) -> Gen:
    """Every non-input field as ``name=value`` (repeated fields as ``name=[a, b]``), inputs skipped."""
    table = MESSAGES.get(m.type, {})
    groups: dict[str, list[Any]] = {}
    for f in m.fields():
        if f.name is None or f.name in _SKIP:
            continue
        if table[f.number].type in PLAN_MESSAGES:
            continue
        groups.setdefault(f.name, []).append(f.value)
    for i, (name, values) in enumerate(groups.items()):
        _name, kind, type_name, repeated, _oneof = next(s for s in table.values() if s.name == name)
        if kind == "enum" and type_name in ENUMS:
            values = [ENUMS[type_name].get(v, v) for v in values]
        yield sep if i else ""
        yield f"{name}="
        if repeated:
            yield "["
            yield from separated(iter(values), lambda v, k=kind, t=type_name: _value_gen(k, t, v))
            yield "]"
        else:
            yield _value_gen(kind, type_name, values[-1])


def _inputs(m: Msg, skipped: frozenset[str] = frozenset()) -> list[Msg]:
    table = MESSAGES.get(m.type, {})
    return [
        f.value
        for f in m.fields()
        if f.name is not None and f.name not in skipped and table[f.number].type in PLAN_MESSAGES
    ]


def plan_gen(msg: Msg, depth: int = 0) -> Gen:
    """Expander of a LogicalPlanNode / PhysicalPlanNode: its line, then its inputs one level deeper."""
    name, value, number = arm(msg)
    indent = "  " * depth
    yield from _line_gen(msg, name, value, number, indent)
    if name is None:
        return
    for sub in subqueries(value) if value.known else ():
        yield f"{indent}  Subquery:\n"
        yield plan_gen(sub, depth + 2)
    for child in _node_inputs(msg, name, value):
        yield plan_gen(child, depth + 1)


def _line_gen(msg: Msg, name: str | None, value: Any, number: int, indent: str) -> Gen:
    """One plan node's line (newline included): as display_indent() shows it, else the wire-level outline."""
    if name is None:
        yield f"{indent}{placeholder_text(msg.type, msg, number, value)}\n"
        return
    line = (LOGICAL_LINES if msg.type == "LogicalPlanNode" else PHYSICAL_LINES).get(name)
    if line is not None and value.known:  # the node as datafusion's display_indent() shows it
        yield indent
        yield line(value)
        yield "\n"
    else:
        yield from _outline_line(msg.type, name, value, indent)


def _node_inputs(msg: Msg, name: str, value: Msg) -> list[Msg]:
    if not value.known or (msg.type == "LogicalPlanNode" and name in LOGICAL_NO_CHILDREN):
        return []  # logical: a view's plan is no child
    skipped = LOGICAL_NOT_CHILDREN.get(name, frozenset()) if msg.type == "LogicalPlanNode" else frozenset()
    return _inputs(value, skipped)  # a Dml's target table is named on its line, not a child


def node_line(msg: Msg) -> str:
    """One plan node's line as ``display_indent()`` shows it, without its inputs (a diagram's node label)."""
    name, value, number = arm(msg)
    return render_with(lambda m: _line_gen(m, name, value, number, ""), msg).rstrip("\n")


def node_children(msg: Msg) -> list[tuple[str, Msg]]:
    """A plan node's children as display_indent() lists them: ("subquery", plan) first, then ("input", plan)."""
    name, value, _number = arm(msg)
    if name is None or not isinstance(value, Msg) or not value.known:
        return []
    found = [("subquery", sub) for sub in subqueries(value)]
    return found + [("input", child) for child in _node_inputs(msg, name, value)]


def _outline_line(plan_type: str, name: str, value: Msg, indent: str) -> Gen:
    """The wire-level line of a node datafusion's display is not rebuilt for: its label and its fields."""
    labels = LABELS if plan_type == "LogicalPlanNode" else PHYSICAL_LABELS
    yield f"{indent}{labels.get(name, name)}"
    if not value.known:
        yield f" <{value.type}, {value.end - value.start} B, not expanded>\n"
        return
    parts = drive_fields(value)
    yield (": " + parts if parts else "") + "\n"


def subqueries(node: Msg) -> list[Msg]:
    """Plans of the scalar subqueries inside a plan node's own expressions (not inside its inputs)."""
    found: list[Msg] = []
    stack, pending = [node], []
    while stack:
        m = stack.pop()
        table = MESSAGES.get(m.type, {})
        for f in m.fields():
            if f.name is None or not isinstance(f.value, Msg) or table[f.number].type in PLAN_MESSAGES:
                continue
            if f.value.type == "SubqueryNode":
                sub = singles(f.value).get("subquery")
                if sub is not None:
                    found.append(sub)
            elif f.value.type not in ("ScalarValue", "ArrowType", "Schema", "DfSchema") and f.value.known:
                pending.append(f.value)
        stack.extend(reversed(pending))  # in the order of the expressions, as datafusion lists them
        pending.clear()
    return found


def drive_fields(value: Msg) -> str:
    return render_with(lambda m: _fields_gen(m, ", "), value)


def render_plan(msg: Msg) -> str:
    """An indented outline of a LogicalPlanNode or PhysicalPlanNode, one line per plan node."""
    return render_with(plan_gen, msg).rstrip("\n")


def deepest_chain(root: Msg) -> list[str]:
    """The plan nodes on the longest chain from ``root`` down to a leaf, root first, named as display_indent()
    names them (Union, Projection, HashJoinExec…): what stacks when a plan nests past datafusion's decode limit, where each plan
    node costs two nested messages (the node and its arm) however many inputs it has. Iterative: the plans
    this is asked about are the deepest there are."""
    below: dict[int, tuple[int, int | None]] = {}  # node offset -> (nodes on its longest chain, next node)
    nodes: dict[int, Msg] = {}
    stack: list[tuple[Msg, bool]] = [(root, False)]
    while stack:
        msg, done = stack.pop()
        kids = [child for _role, child in node_children(msg)]
        if not done:
            stack.append((msg, True))
            stack.extend((child, False) for child in kids if child.offset not in below)
            continue
        best = max(kids, key=lambda child: below[child.offset][0], default=None)
        below[msg.offset] = (1 + (below[best.offset][0] if best else 0), best.offset if best else None)
        nodes[msg.offset] = msg
    chain: list[str] = []
    at: int | None = root.offset
    while at is not None:
        chain.append(node_line(nodes[at]).partition(":")[0].strip() or nodes[at].type)  # the name display_indent() shows
        at = below[at][1]
    return chain
