"""A structural tree of an expression or plan: the shape that ``canonical_name()`` flattens away.

``a - (b - c)`` and ``a - b - c`` print alike; here the first is a ``-`` node whose second child is
another ``-`` node, the second one n-ary ``-`` node (datafusion's flattened left spine). Built
iteratively with per-node child limits and a depth limit, so a million-entry IN list or a 10,000-deep
chain yields a small tree with visible truncation markers. Past the child limit, entries are only
counted (``skip_entries``: tag and length bytes, equal-length stretches in one regex match).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.roots import ROOT_MESSAGES
from datafusion_exprtool.layers.proto.tables import ENUMS, MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, SGROUP, VARINT
from datafusion_exprtool.text.canonical import OPERATORS, render_sort, table_reference
from datafusion_exprtool.text.engine import UNSUPPORTED, arm, placeholder, varint_value
from datafusion_exprtool.text.leaves import next_field, skip_entries
from datafusion_exprtool.text.scalar import datatype_display, scalar_debug


@dataclass
class TreeNode:
    label: str
    children: list[TreeNode] = field(default_factory=list)
    offset: int = 0
    note: str | None = None


# oneof wrappers: the node shows the arm, the arm's body gives details and children
_WRAPPERS = {*ROOT_MESSAGES, "PhysicalExprNode"}
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
_COUNTED: dict[str, frozenset[int]] = {}
_NONE: frozenset[int] = frozenset()


_Field = tuple[str | None, str, str | None, Any, int]  # (name, kind, type, value, offset)


def _field_at(m: Msg, pos: int) -> tuple[_Field, int]:
    """The field at ``pos`` of ``m`` and the position after it. A group, or a message field with another
    wire type, is shown as unknown (a message sent as a varint must not become a child)."""
    buf, origin = m.buf, m.origin
    n, wire, a, b, nxt = next_field(buf, pos, m.end, origin)
    spec = MESSAGES.get(m.type, {}).get(n)
    offset = origin + pos
    if spec is None or wire == SGROUP or (spec.kind == "message" and wire != LEN):
        return (None, "unknown", None, n, offset), nxt
    name, kind, type_name = spec.name, spec.kind, spec.type
    value: Any = f"<{kind}>"
    if kind == "message":
        value = Msg(type_name or "?", buf, a, b, origin)
    elif kind == "string" and wire == LEN:
        value = bytes(buf[a:b]).decode("utf-8", "replace")
    elif kind == "bytes" and wire == LEN:
        value = f"<{b - a} bytes>"
    elif wire == VARINT:
        value = varint_value(kind, a)  # int64 -1 is -1, not 2**64 - 1
        if kind == "enum" and type_name in ENUMS:
            value = ENUMS[type_name].get(value, value)
    return (name, kind, type_name, value, offset), nxt


def _step(m: Msg, pos: int, skip: frozenset[int]) -> tuple[_Field | None, int, int]:
    """(field at ``pos``, 0, next) or, at entries whose one-byte tag is in ``skip``, (None, how many
    were stepped over unread, next)."""
    if m.buf[pos] in skip:
        nxt, count = skip_entries(m.buf, pos, m.end, m.buf[pos])
        if count:
            return None, count, nxt
    field, nxt = _field_at(m, pos)
    return field, 0, nxt


def _lazy_fields(m: Msg, skip: frozenset[int] = _NONE) -> Iterator[_Field]:
    """The fields of ``m`` in wire order without building a list (entries tagged in ``skip`` unread)."""
    pos = m.start
    while pos < m.end:
        field, _count, pos = _step(m, pos, skip)
        if field is not None:
            yield field


def _counted_tags(type_name: str) -> frozenset[int]:
    """One-byte LEN tags of the fields that become children: past the child limit they are only counted."""
    tags = _COUNTED.get(type_name)
    if tags is None:
        table = MESSAGES.get(type_name, {})
        tags = frozenset(
            n << 3 | LEN for n, s in table.items() if n < 16 and s.kind == "message" and s.type not in _HIDDEN
        )
        _COUNTED[type_name] = tags
    return tags


def _describe(m: Msg) -> tuple[str, Msg | None]:
    """Label of a node and the body whose fields become details and children."""
    if m.type in _WRAPPERS:
        label, body = _describe_arm(m)
        return label + _beside_oneof(m), body
    if m.type in _LEAVES:
        return _LEAVES[m.type](m), (m if m.type in _STRUCTURAL else None)
    return m.type, m


def _beside_oneof(m: Msg) -> str:
    """A wrapper's scalar fields outside its oneof (PhysicalExprNode.expr_id: which expressions datafusion
    shares, e.g. one dynamic filter), as " (name=value)"; "" when it has none."""
    outside = {s.name for s in MESSAGES.get(m.type, {}).values() if s.oneof is None and s.kind != "message"}
    if not outside:
        return ""
    extra = [f"{name}={value}" for name, _k, _t, value, _o in _lazy_fields(m) if name in outside]
    return f" ({', '.join(extra)})" if extra else ""


def _describe_arm(m: Msg) -> tuple[str, Msg | None]:
    name, value, number = arm(m)
    if name is None:
        return placeholder(UNSUPPORTED, "protobuf", m.offset, f"<unsupported {m.type} field {number}>"), None
    if isinstance(value, Msg):
        if value.type == "Column":
            return f"column {_column_text(value)}", None
        if value.type in _LEAVES:
            return f"{name} {_LEAVES[value.type](value)}", None
        if value.type in ("BinaryExprNode", "PhysicalBinaryExprNode"):
            fields = _lazy_fields(value, _counted_tags(value.type))  # op follows the operands
            op = next((v for k, _kd, _t, v, _o in fields if k == "op"), "?")
            return f"binary {OPERATORS.get(op, (op, 0))[0]}", value
        return name, value if value.known else None
    return f"{name} {value}", None


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
        pos, counted = body.start, _counted_tags(body.type)
        try:
            while pos < body.end:
                field, count, pos = _step(body, pos, counted if len(kids) >= max_children else _NONE)
                if field is None:
                    extra += count
                    continue
                name, kind, type_name, value, offset = field
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
