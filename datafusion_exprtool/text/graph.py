"""An expression or a plan as a small graph of nodes named as datafusion names them: what a diagram draws.

A sub-expression is labelled with its ``canonical_name()`` (``triple(a)``, ``a + Int64(1)``), a plan node
with its ``display_indent()`` line (``Projection: t.a``). Each node also says which functions it calls
itself (a UDF call node, or a plan node whose own expressions call one), read from the function nodes of
the fact sheet (``scan_facts.SITE_NODES``), and the byte range it covers, so a report can mark the node a
finding points at.

Bounded, breadth first: at most ``limit`` nodes; a node whose children were left out counts them
(``hidden``), so a diagram of a 300-node plan or a million-entry IN list stays readable and says what it
cut. Iterative throughout (explicit stacks and queues), like every walk over blob-controlled structure.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.roots import PLAN_MESSAGES
from datafusion_exprtool.layers.proto.scan_facts import SITE_NODES, UDAF_AS_WINDOW
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, iter_raw
from datafusion_exprtool.text.engine import render_with

#: nodes drawn at most (a diagram past ~40 boxes is no longer read, only scrolled)
DEFAULT_LIMIT = 40
#: a label longer than this is cut (its full text is in the report's rendering)
LABEL_LIMIT = 90
#: messages read per node while looking for its function calls (a node with a million literals is not
#: walked to its end: its calls beyond this budget are not marked, and the graph says so)
CALL_BUDGET = 20_000
#: message types that hold no sub-expression and no function call: never descended into
_OPAQUE = frozenset({"ScalarValue", "ArrowType", "Schema", "DfSchema", "Statistics", "Constraints",
                     "TableParquetOptions", "CsvOptions", "JsonOptions", "EmptyMessage"})  # fmt: skip
EXPRESSION_TYPES = ("LogicalExprNode", "PhysicalExprNode")


@dataclass
class Call:
    """A function a node calls itself: its name and kind as the function manifest lists them."""

    name: str
    kind: str  # "scalar" | "aggregate" | "window"


@dataclass
class GraphNode:
    index: int
    label: str  # as datafusion names it (cut at LABEL_LIMIT characters)
    offset: int  # absolute offset of the node's message body
    end: int  # absolute offset after it
    parent: int  # index of the parent node, -1 for the root
    role: str = "input"  # plan nodes: "input" or "subquery"; expressions: "argument"
    calls: list[Call] = field(default_factory=list)
    hidden: int = 0  # children not drawn (the limit was reached)


@dataclass
class Graph:
    kind: str  # "expression" | "logical plan" | "physical plan"
    nodes: list[GraphNode] = field(default_factory=list)
    calls_incomplete: bool = False  # a node too large to search for function calls to its end

    @property
    def hidden(self) -> int:
        """Nodes left out of the graph (children of drawn nodes; their own subtrees are not counted)."""
        return sum(n.hidden for n in self.nodes)

    def containing(self, offset: int) -> GraphNode | None:
        """The deepest drawn node whose bytes hold ``offset`` (None: outside every drawn node)."""
        best = None
        for node in self.nodes:
            if node.offset <= offset < node.end and (best is None or node.end - node.offset <= best.end - best.offset):
                best = node
        return best


def build_graph(root: Msg, limit: int = DEFAULT_LIMIT) -> Graph:
    """The graph of a LogicalExprNode, LogicalPlanNode or PhysicalPlanNode (never raises on bad bytes:
    a node that does not read is drawn with datafusion-free placeholder text)."""
    plan = root.type in PLAN_MESSAGES
    kind = {"LogicalPlanNode": "logical plan", "PhysicalPlanNode": "physical plan"}.get(root.type, "expression")
    graph = Graph(kind)
    queue: deque[tuple[Msg, int, str]] = deque([(root, -1, "input" if plan else "argument")])
    while queue:
        msg, parent, role = queue.popleft()
        if len(graph.nodes) >= limit:
            graph.nodes[parent].hidden += 1
            continue
        node = GraphNode(len(graph.nodes), _label(msg, plan), msg.offset, msg.origin + msg.end, parent, role)
        graph.nodes.append(node)
        try:
            kids, node.calls, complete = _plan_parts(msg) if plan else _expression_parts(msg)
        except DecodeError:
            continue  # the label already shows the placeholder; nothing below it reads
        graph.calls_incomplete |= not complete
        queue.extend((child, node.index, child_role) for child_role, child in kids)
    return graph


def _label(msg: Msg, plan: bool) -> str:
    if plan:
        from datafusion_exprtool.text.plan import node_line

        text = node_line(msg)
    elif msg.type == "LogicalExprNode":
        from datafusion_exprtool.text.canonical import render_expr

        text = render_expr(msg)
    else:
        from datafusion_exprtool.text.physical_expr import physical_gen

        text = render_with(physical_gen, msg)
    text = text.replace("\r", " ").replace("\n", " ")  # one line; datafusion's own spacing kept
    return text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1] + "…"


def _expression_parts(msg: Msg) -> tuple[list[tuple[str, Msg]], list[Call], bool]:
    """(sub-expressions, calls, searched to the end) of one expression node: the expressions of its own
    type reached without passing another, and the function node it is (if any)."""
    kids: list[tuple[str, Msg]] = []
    calls: list[Call] = []
    def found(m: Msg) -> None:
        if m.type == msg.type:  # a scalar subquery's plan is no argument (the plan's own report draws it)
            kids.append(("argument", m))

    complete = _walk(msg, stop=(msg.type, *PLAN_MESSAGES), found=found, calls=calls)
    return kids, calls, complete


def _plan_parts(msg: Msg) -> tuple[list[tuple[str, Msg]], list[Call], bool]:
    """(children as display_indent lists them, the functions the node's own expressions call, searched to
    the end) of one plan node."""
    from datafusion_exprtool.text.plan import node_children

    calls: list[Call] = []
    complete = _walk(msg, stop=PLAN_MESSAGES, found=lambda m: None, calls=calls)
    return node_children(msg), calls, complete


def _walk(msg: Msg, *, stop: tuple[str, ...], found, calls: list[Call]) -> bool:  # noqa: ANN001 - a callback
    """Depth-first through ``msg``'s body: a message of a ``stop`` type is handed to ``found`` and not entered;
    a function node adds its Call. False when the budget ran out before the end."""
    stack = [msg]
    seen = 0
    first = True
    while stack:
        m = stack.pop()
        if not first and m.type in stop:
            found(m)
            continue
        first = False
        seen += 1
        if seen > CALL_BUDGET:
            return False
        table = MESSAGES.get(m.type)
        if table is None:
            continue
        site = SITE_NODES.get(m.type)
        below: list[Msg] = []
        for number, wire, a, b, _tag in iter_raw(m.buf, m.start, m.end, m.origin):
            spec = table.get(number)
            if spec is None or wire != LEN:
                continue
            if site is not None and number in site[1] and spec.kind == "string":
                name = bytes(m.buf[a:b]).decode("utf-8", "replace")
                kind = "aggregate" if (m.type, number) in UDAF_AS_WINDOW else site[0]
                if name and all(c.name != name for c in calls):
                    calls.append(Call(name, kind))
            elif spec.kind == "message" and spec.type not in _OPAQUE:
                below.append(Msg(spec.type or "?", m.buf, a, b, m.origin))
        stack.extend(reversed(below))  # wire order: a node's arguments in the order datafusion lists them
    return True
