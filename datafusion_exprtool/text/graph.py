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
from datafusion_exprtool.layers.proto.wire import LEN
from datafusion_exprtool.text.engine import render_with, reusing
from datafusion_exprtool.text.leaves import next_field, skip_entries

#: nodes drawn at most (a diagram past ~40 boxes is no longer read, only scrolled)
DEFAULT_LIMIT = 40
#: children drawn per node (a wide node must not take the whole diagram); the rest are counted
MAX_CHILDREN = 12
#: plan nodes counted past the drawing limit, for the note under a cut diagram
COUNT_LIMIT = 10_000
#: a label longer than this is cut (its full text is in the report's rendering)
LABEL_LIMIT = 90
#: messages read per node while looking for its function calls (a node with a million literals is not
#: walked to its end: its calls beyond this budget are not marked, and the graph says so)
CALL_BUDGET = 20_000
#: message types that hold no sub-expression and no function call: never descended into
_OPAQUE = frozenset({"ScalarValue", "ArrowType", "Schema", "DfSchema", "Statistics", "Constraints",
                     "TableParquetOptions", "CsvOptions", "JsonOptions", "EmptyMessage"})  # fmt: skip
_COUNTED: dict[tuple[str, tuple[str | None, ...]], frozenset[int]] = {}


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
    total: int | None = None  # nodes in the whole tree when known (a plan: counted up to COUNT_LIMIT)
    calls_incomplete: bool = False  # a node too large to search for function calls to its end

    @property
    def hidden(self) -> int:
        """Children of drawn nodes left out (their own subtrees are not counted here: see ``total``)."""
        return sum(n.hidden for n in self.nodes)

    def containing(self, offset: int) -> GraphNode | None:
        """The deepest drawn node whose bytes hold ``offset`` (None: outside every drawn node)."""
        best = None
        for node in self.nodes:
            if node.offset <= offset < node.end and (best is None or node.end - node.offset <= best.end - best.offset):
                best = node
        return best


def build_graph(root: Msg, limit: int = DEFAULT_LIMIT, max_children: int = MAX_CHILDREN) -> Graph:
    """The graph of a LogicalExprNode, LogicalPlanNode or PhysicalPlanNode (never raises on bad bytes:
    a node that does not read is drawn with the placeholder text the renderers give it).

    Breadth first, at most ``limit`` nodes and ``max_children`` children per node (a million-entry IN list
    draws its first arguments and counts the rest without reading them); a plan's nodes are counted past the
    limit too (``Graph.total``, up to COUNT_LIMIT), so a cut diagram can say how much it leaves out."""
    plan = root.type in PLAN_MESSAGES
    kind = {"LogicalPlanNode": "logical plan", "PhysicalPlanNode": "physical plan"}.get(root.type, "expression")
    graph = Graph(kind)
    queue: deque[tuple[Msg, int, str]] = deque([(root, -1, "input" if plan else "argument")])
    counted = 0  # plan nodes seen past the limit (children only, no label)
    drawn: list[Msg] = []  # each node's message, for the expressions' labels
    while queue:
        msg, parent, role = queue.popleft()
        if len(graph.nodes) >= limit:
            if parent >= 0:
                graph.nodes[parent].hidden += 1
            if plan and counted is not None:
                counted += 1
                if len(graph.nodes) + counted > COUNT_LIMIT:
                    counted = None  # more than COUNT_LIMIT: the total stays unknown
                else:
                    queue.extend((child, -1, r) for r, child in _plan_children(msg))
            continue
        node = GraphNode(len(graph.nodes), _label(msg) if plan else "", msg.offset, msg.origin + msg.end, parent, role)
        graph.nodes.append(node)
        drawn.append(msg)
        try:
            kids, more, node.calls, complete = _plan_parts(msg) if plan else _expression_parts(msg, max_children)
        except DecodeError:
            continue  # the label already shows the placeholder; nothing below it reads
        graph.calls_incomplete |= not complete
        if plan and len(kids) > max_children:
            more, kids = more + len(kids) - max_children, kids[:max_children]
        node.hidden += more
        queue.extend((child, node.index, child_role) for child_role, child in kids)
    if not plan:
        _label_expressions(graph, drawn)
    if plan and counted is not None:
        graph.total = len(graph.nodes) + counted
    elif not graph.hidden:
        graph.total = len(graph.nodes)
    return graph


def _plan_children(msg: Msg) -> list[tuple[str, Msg]]:
    from datafusion_exprtool.text.plan import node_children

    try:
        return node_children(msg)
    except DecodeError:
        return []


def _label(msg: Msg) -> str:
    from datafusion_exprtool.text.plan import node_line

    return _one_line(node_line(msg))


def _label_expressions(graph: Graph, drawn: list[Msg]) -> None:
    """Each drawn sub-expression's label, deepest first, rendered only to LABEL_LIMIT characters and reusing
    the texts of the sub-expressions drawn below it: the 40 labels of a 25k-deep chain are not 40 renderings
    of the whole chain (measured: 9.5 s against 0.8 s for the JSON report)."""
    from datafusion_exprtool.text.canonical import expr_gen
    from datafusion_exprtool.text.physical_expr import physical_gen

    known: dict[tuple[str, int], str] = {}
    with reusing(known):
        for node, msg in zip(reversed(graph.nodes), reversed(drawn), strict=True):
            text = render_with(expr_gen if msg.type == "LogicalExprNode" else physical_gen, msg, limit=LABEL_LIMIT)
            known[(msg.type, msg.origin + msg.start)] = text
            node.label = _one_line(text)


def _one_line(text: str) -> str:
    text = text.replace("\r", " ").replace("\n", " ")  # one line; datafusion's own spacing kept
    return text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1] + "…"


def _expression_parts(msg: Msg, max_children: int) -> tuple[list[tuple[str, Msg]], int, list[Call], bool]:
    """(sub-expressions, how many more there are, calls, searched to the end) of one expression node: the
    expressions of its own type reached without passing another (a scalar subquery's plan is no argument:
    the walk stops there too), and the function it calls when it is a function node."""
    calls: list[Call] = []
    found, more, complete = _walk(msg, stop=(msg.type, *PLAN_MESSAGES), keep=msg.type, calls=calls,
                                  max_found=max_children)
    return [("argument", m) for m in found], more, calls, complete


def _plan_parts(msg: Msg) -> tuple[list[tuple[str, Msg]], int, list[Call], bool]:
    """(children as display_indent lists them, 0, the functions the node's own expressions call, searched to
    the end) of one plan node."""
    calls: list[Call] = []
    _found, _more, complete = _walk(msg, stop=PLAN_MESSAGES, keep=None, calls=calls, max_found=0)
    return _plan_children(msg), 0, calls, complete


def _counted_tags(type_name: str, stop: tuple[str, ...]) -> frozenset[int]:
    """One-byte LEN tags of ``type_name``'s fields that hold a ``stop`` message: runs of them past the cap are
    counted by ``skip_entries`` without being read."""
    key = (type_name, stop)
    tags = _COUNTED.get(key)
    if tags is None:
        table = MESSAGES.get(type_name, {})
        tags = frozenset(n << 3 | LEN for n, spec in table.items()
                         if n < 16 and spec.kind == "message" and spec.type in stop)
        _COUNTED[key] = tags
    return tags


def _walk(msg: Msg, *, stop: tuple[str, ...], keep: str | None, calls: list[Call],
          max_found: int) -> tuple[list[Msg], int, bool]:
    """Depth-first through ``msg``'s body, in wire order: a message of a ``stop`` type is not entered (one of
    type ``keep`` is collected, up to ``max_found``, then only counted); a function node adds its Call.

    Returns (collected, counted past the cap, searched to the end: False when CALL_BUDGET ran out)."""
    found: list[Msg] = []
    claimed = more = seen = 0
    stack = [msg]
    first = True
    while stack:
        m = stack.pop()
        if not first and m.type in stop:
            if m.type == keep:
                found.append(m)
            continue
        first = False
        seen += 1
        if seen > CALL_BUDGET:
            return found, more, False
        table = MESSAGES.get(m.type)
        if table is None:
            continue
        site = SITE_NODES.get(m.type)
        skip = _counted_tags(m.type, (keep,)) if keep else frozenset()
        below: list[Msg] = []
        buf, pos, end, origin = m.buf, m.start, m.end, m.origin
        while pos < end:
            if claimed >= max_found and buf[pos] in skip:  # past the cap: count a run without reading it
                nxt, count = skip_entries(buf, pos, end, buf[pos])
                if count:
                    more, pos = more + count, nxt
                    continue
            number, wire, a, b, pos = next_field(buf, pos, end, origin)
            spec = table.get(number)
            if spec is None or wire != LEN:
                continue
            if site is not None and number in site[1] and spec.kind == "string":
                name = bytes(buf[a:b]).decode("utf-8", "replace")
                kind = "aggregate" if (m.type, number) in UDAF_AS_WINDOW else site[0]
                if name and all(c.name != name for c in calls):
                    calls.append(Call(name, kind))
            elif spec.kind == "message" and spec.type not in _OPAQUE:
                if spec.type == keep:
                    if claimed >= max_found:
                        more += 1
                        continue
                    claimed += 1
                below.append(Msg(spec.type or "?", buf, a, b, origin))
        stack.extend(reversed(below))  # wire order: a node's arguments in the order datafusion lists them
    return found, more, True
