"""A structural tree of an expression or plan: the shape that ``canonical_name()`` flattens away.

``a - (b - c)`` and ``a - b - c`` print alike; here the first is a ``-`` node whose second child is
another ``-`` node, the second one n-ary ``-`` node (datafusion's flattened left spine). Built
iteratively with per-node child limits and a depth limit, so a million-entry IN list or a 10,000-deep
chain yields a small tree with visible truncation markers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import DecodeError
from ..proto.msg import Msg
from ..proto.tables import ENUMS, MESSAGES
from ..proto.wire import I32, I64, LEN, VARINT, iter_raw
from .canonical import OPERATORS, render_sort, table_reference
from .scalar import arm, datatype_display, scalar_debug


@dataclass
class TreeNode:
    label: str
    children: list[TreeNode] = field(default_factory=list)
    offset: int = 0
    note: str | None = None


# oneof wrappers: the node shows the arm, the arm's body gives details and children
_WRAPPERS = {"LogicalExprNode", "PhysicalExprNode", "LogicalPlanNode", "PhysicalPlanNode"}
# bodies that become one leaf with a rendered label
_LEAVES = {
    "ScalarValue": lambda m: scalar_debug(m),
    "ArrowType": lambda m: datatype_display(m),
    "TableReference": lambda m: table_reference(m),
    "SortExprNode": lambda m: render_sort(m),
}
_HIDDEN = {"Schema", "DfSchema", "TableParquetOptions", "CsvOptions", "JsonOptions", "Statistics", "Constraints",
           "ParquetFormat", "CsvFormat", "NdJsonFormat", "EmptyMessage"}  # fmt: skip
_STRUCTURAL = {"SortExprNode"}  # rendered as a leaf but keeps its expression below
_SCALAR_NOTE_LIMIT = 60


def _lazy_fields(m: Msg) -> Iterator[tuple[str | None, str, str | None, Any, int]]:
    """(name, kind, type, value, offset) per field, without building a list: a huge repeated field
    is read one entry at a time."""
    table = MESSAGES.get(m.type, {})
    buf, origin = m.buf, m.origin
    for n, wire, a, b, tag in iter_raw(buf, m.start, m.end, origin):
        spec = table.get(n)
        if spec is None:
            yield None, "unknown", None, n, origin + tag
            continue
        name, kind, type_name = spec[0], spec[1], spec[2]
        if wire == LEN and kind == "message":
            yield name, kind, type_name, Msg(type_name or "?", buf, a, b, origin), origin + tag
        elif wire == LEN and kind == "string":
            yield name, kind, type_name, bytes(buf[a:b]).decode("utf-8", "replace"), origin + tag
        elif wire == LEN and kind == "bytes":
            yield name, kind, type_name, f"<{b - a} bytes>", origin + tag
        elif wire == VARINT:
            value: Any = a != 0 if kind == "bool" else a
            if kind == "enum" and type_name in ENUMS:
                value = ENUMS[type_name].get(a, a)
            yield name, kind, type_name, value, origin + tag
        elif wire in (I32, I64) or wire == LEN:
            yield name, kind, type_name, f"<{kind}>", origin + tag


def _describe(m: Msg) -> tuple[str, Msg | None]:
    """Label of a node and the body whose fields become details and children."""
    if m.type in _WRAPPERS:
        name, value, number = arm(m)
        if name is None:
            return f"<unsupported {m.type} field {number}>", None
        if isinstance(value, Msg):
            if value.type == "Column":
                return f"column {_column_text(value)}", None
            if value.type in _LEAVES:
                return f"{name} {_LEAVES[value.type](value)}", None
            if value.type in ("BinaryExprNode", "PhysicalBinaryExprNode"):
                op = next((v for k, _kd, _t, v, _o in _lazy_fields(value) if k == "op"), "?")
                return f"binary {OPERATORS.get(op, (op, 0))[0]}", value
            return name, value if value.known else None
        return f"{name} {value}", None
    if m.type in _LEAVES:
        return _LEAVES[m.type](m), (m if m.type in _STRUCTURAL else None)
    return m.type, m


def _column_text(m: Msg) -> str:
    name = rel = ""
    for k, _kind, _t, v, _o in _lazy_fields(m):
        if k == "name":
            name = v
        elif k == "relation":
            rel = next((x for kk, _a, _b, x, _c in _lazy_fields(v) if kk == "relation"), "")
    return f"{rel}.{name}" if rel else name


def build_tree(msg: Msg, max_children: int = 50, max_depth: int = 200) -> TreeNode:
    """The structural tree of a LogicalExprNode, PhysicalExprNode or plan node (never raises on bad bytes)."""
    top = TreeNode("root", [], msg.offset)
    stack: list[tuple[Msg, str | None, TreeNode, int]] = [(msg, None, top, 0)]
    markers: list[tuple[TreeNode, TreeNode]] = []
    while stack:
        m, role, parent, depth = stack.pop()
        try:
            label, body = _describe(m)
        except DecodeError as e:
            parent.children.append(TreeNode(f"<undecodable: {e.message}>", [], e.offset or m.offset))
            continue
        node = TreeNode(f"{role}: {label}" if role else label, [], m.offset)
        parent.children.append(node)
        if body is None:
            continue
        if depth >= max_depth:
            node.note = f"depth limit {max_depth} reached: deeper levels not shown"
            continue
        details, kids, extra = [], [], 0
        try:
            for name, kind, type_name, value, offset in _lazy_fields(body):
                if name is None:
                    details.append(f"?field{value}@{offset}")
                elif kind == "message" and type_name not in _HIDDEN:
                    if len(kids) < max_children:
                        kids.append((value, None if name in ("operands", "args", "list", "expr") else name))
                    else:
                        extra += 1
                elif kind != "message" and name != "op":
                    text = repr(value) if isinstance(value, str) else str(value)
                    details.append(f"{name}={text[:_SCALAR_NOTE_LIMIT]}")
        except DecodeError as e:
            node.note = f"undecodable at byte {e.offset}: {e.message}"
        if details:
            node.label += " (" + ", ".join(details[:8]) + (", …" if len(details) > 8 else "") + ")"
        for child, child_role in reversed(kids):
            stack.append((child, child_role, node, depth + 1))
        if extra:  # attached after the loop, behind the real children that arrive later
            markers.append((node, TreeNode(f"… {extra:,} more", [], body.offset, "truncated")))
    for node, marker in markers:
        node.children.append(marker)
    return top.children[0] if top.children else TreeNode("<empty>", [], msg.offset)


def tree_to_text(node: TreeNode) -> str:
    """Plain box-drawing text of a tree, one line per node (no rich needed)."""
    lines: list[str] = []
    stack: list[tuple[TreeNode, str, str]] = [(node, "", "")]
    while stack:
        n, lead, child_lead = stack.pop()
        note = f"  [{n.note}]" if n.note else ""
        lines.append(f"{lead}{n.label}{note}")
        last = len(n.children) - 1
        for i in range(last, -1, -1):
            c = n.children[i]
            branch, cont = ("└── ", "    ") if i == last else ("├── ", "│   ")
            stack.append((c, child_lead + branch, child_lead + cont))
    return "\n".join(lines)
