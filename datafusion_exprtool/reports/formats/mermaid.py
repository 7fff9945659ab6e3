"""A ``text.graph.Graph`` as a Mermaid flowchart: what GitHub draws in a job summary, an issue or a README.

Nodes keep datafusion's names (``canonical_name()`` / ``display_indent()`` text) in quoted labels with
Mermaid's entity codes for the characters its grammar reserves, so any expression text is a valid label.
A UDF call is marked by how it travels (``inline``: its code is in the blob; ``by_name``: the worker must
have it registered), the nodes a report points at (``failing``) are drawn in red, and children left out
past the graph's limit are one dashed box that counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datafusion_exprtool.text.graph import Graph, GraphNode

#: one style per mark; colours readable on GitHub's light and dark themes (the text colour is set)
CLASS_DEFS = {
    "inline": "fill:#fff4c2,stroke:#9a6700,color:#1f2328",
    "byname": "fill:#ece2ff,stroke:#6639ba,color:#1f2328",
    "failing": "fill:#ffd7d5,stroke:#cf222e,stroke-width:3px,color:#1f2328",
    "cut": "fill:#f6f8fa,stroke:#8c959f,stroke-dasharray:4 3,color:#57606a",
}
#: how each transport is named on a node (built-ins travel by name too, but every worker has them)
TRANSPORT_MARK = {"inline": ("inline", "inline UDF"), "by_name": ("byname", "by-name UDF")}
#: Mermaid entity codes for the characters a quoted label cannot hold as they are
_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;"}
_ESCAPE = str.maketrans(_ENTITIES)


def label_text(text: str) -> str:
    """``text`` as the inside of a quoted Mermaid label (entity codes; one line)."""
    return text.replace("\r", " ").replace("\n", " ").translate(_ESCAPE)


@dataclass
class Marks:
    """What to mark on a graph: the transport of each function by (name, kind), the nodes to draw red."""

    transports: dict[tuple[str, str], str] = field(default_factory=dict)  # (name, kind) -> "inline" | "by_name"
    failing: set[int] = field(default_factory=set)  # node indices


def node_marks(node: GraphNode, marks: Marks) -> list[tuple[str, str]]:
    """(class, words) for each UDF the node calls that travels inline or by name, in call order."""
    out = []
    for call in node.calls:
        transport = marks.transports.get((call.name, call.kind))
        if transport in TRANSPORT_MARK:
            cls, words = TRANSPORT_MARK[transport]
            out.append((cls, f"{words} {call.name}"))
    return out


def flowchart(graph: Graph, marks: Marks | None = None) -> str:
    """The Mermaid text (``flowchart TD``) of ``graph``, root at the top, edges from a node to its inputs."""
    marks = marks or Marks()
    lines = ["flowchart TD"]
    classes: dict[str, list[str]] = {name: [] for name in CLASS_DEFS}
    edges: list[str] = []
    for node in graph.nodes:
        nid = f"n{node.index}"
        found = node_marks(node, marks)
        extra = "".join(f"<br>{label_text(words)}" for _cls, words in found)
        lines.append(f'  {nid}["{label_text(node.label)}{extra}"]')
        if node.index in marks.failing:
            classes["failing"].append(nid)
        elif found:
            classes[found[0][0]].append(nid)
        if node.parent >= 0:
            arrow = " -. subquery .-> " if node.role == "subquery" else " --> "
            edges.append(f"  n{node.parent}{arrow}{nid}")
        if node.hidden:
            more = f"{nid}_more"
            lines.append(f'  {more}["… {node.hidden:,} more not drawn"]')
            edges.append(f"  {nid} -.-> {more}")
            classes["cut"].append(more)
    lines += edges
    for name, members in classes.items():
        if members:
            lines.append(f"  classDef {name} {CLASS_DEFS[name]}")
            lines.append(f"  class {','.join(members)} {name}")
    return "\n".join(lines)
