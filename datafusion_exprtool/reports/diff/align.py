"""Structural alignment of two plan trees for ``diff``: an inserted node is one difference, not a cascade.

Comparing plan nodes child by child, by position, turns one extra Filter into "every node below it
changed". Here each plan is flattened to its pre-order sequence of nodes, and the sequences are
aligned by a longest common subsequence in two tiers: first on the node's whole outline line (kind
and fields, as ``text/plan.py`` prints it), then, inside the stretches left over, on its identity
key (kind plus table name, alias or scanned files) so a node whose fields changed pairs up as one
"changed" node. A pair is kept only if its nearest kept ancestors are paired with each other, so the
kept pairs form a valid tree mapping (ancestry preserved both ways). Unpaired nodes are "added" or
"removed" (a wholly new subtree is one difference); a removed subtree that reappears elsewhere
unchanged (a join's inputs swapped) is one "moved" difference. Everything is built with explicit
stacks and loops, so a plan thousands of nodes deep never meets Python's recursion limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.roots import PLAN_MESSAGES
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import iter_raw
from datafusion_exprtool.text.canonical import placeholder_text, table_reference
from datafusion_exprtool.text.engine import arm, children
from datafusion_exprtool.text.plan import LABELS, PHYSICAL_LABELS, drive_fields, subqueries
from datafusion_exprtool.text.tree import build_tree, tree_to_text

#: above this many cells (len(a) * len(b) of a stretch left after trimming the common prefix and suffix)
#: the stretch is paired position by position instead of by LCS, so pathological inputs stay fast
_LCS_BUDGET = 4_000_000
_ROUNDS = 4  # alignment rounds: each re-aligns the gaps left by pairs that broke the tree
_INPUT_ROLES = ("input", "inputs")
_EXPR_ID = re.compile(r"expr_id([ =])(\d+)")  # a tree label ("expr_id 7") or a detail ("expr_id=7")
_DETAIL_LINES = 3  # detail lines shown per side when only the fields the outline leaves out differ
_RUN = 4  # consecutive equal path segments from this many on are written ``Filter*298``


@dataclass
class PlanNode:
    label: str  # "Filter", "HashJoinExec"
    line: str  # the outline line: label and fields, inputs not included
    key: str  # label plus identity (table, alias, files): nodes of one key may be "changed" into each other
    detail: (
        str  # the node's own fields as a structural tree: what the line leaves out (file sizes, mtimes, …)
    )
    role: str  # the field that holds it in its parent: "input", "left", "right", "inputs", "subquery"
    parent: int  # pre-order index of the parent, -1 for the root
    children: list[int]
    ids: tuple[str, ...] = ()  # expr_id values in the detail as sent (the detail has them renumbered)
    size: int = 1  # nodes in its subtree, itself included
    digest: int = 0  # the subtree's outline lines and shape, for recognising a moved subtree


@dataclass
class NodeChange:
    path: str
    kind: str  # "changed" | "added" | "removed" | "moved"
    a: str | None
    b: str | None
    a_path: str | None
    b_path: str | None


@dataclass
class PlanDiff:
    changes: list[NodeChange] = field(default_factory=list)
    renumbered: int = 0  # paired nodes equal but for the values of their expr_ids


# ----------------------------------------------------------------------------------------------------------
# flattening


def flatten_plan(root: Msg) -> list[PlanNode]:
    """The plan nodes of a LogicalPlanNode / PhysicalPlanNode in pre-order (inputs, then subqueries)."""
    nodes: list[PlanNode] = []
    stack: list[tuple[Msg, str, int]] = [(root, "input", -1)]
    while stack:
        msg, role, parent = stack.pop()
        index = len(nodes)
        label, line, key, detail, below = _describe(msg)
        nodes.append(PlanNode(label, line, key, detail, role, parent, []))
        if parent >= 0:
            nodes[parent].children.append(index)
        for field_name, child in reversed(below):
            stack.append((child, field_name, index))
    renumbered: dict[
        str, str
    ] = {}  # expr_id: a per-process id; only which expressions share one means something
    for node in nodes:
        node.ids = tuple(m[2] for m in _EXPR_ID.finditer(node.detail))
        node.detail = _EXPR_ID.sub(
            lambda m: f"expr_id{m[1]}#" + renumbered.setdefault(m[2], str(len(renumbered))), node.detail
        )
    for node in reversed(nodes):  # children come after their parent in pre-order
        if node.parent >= 0:
            nodes[node.parent].size += node.size
        node.digest = hash((node.line, node.detail, tuple(nodes[c].digest for c in node.children)))
    return nodes


def _describe(msg: Msg) -> tuple[str, str, str, str, list[tuple[str, Msg]]]:
    """(label, outline line, identity key, detail, [(role, child plan)]) of one plan node."""
    name, value, number = arm(msg)
    if name is None or not isinstance(value, Msg):
        text = placeholder_text(msg.type, msg, number, value)
        return text, text, text, "", []
    labels = LABELS if msg.type == "LogicalPlanNode" else PHYSICAL_LABELS
    label = labels.get(name, name)
    if not value.known:
        text = f"{label} <{value.type}, {value.end - value.start} B, not expanded>"
        return label, text, label, value.raw().hex()[:2000], []
    parts = drive_fields(value)
    identity = _identity(value)
    below = _inputs(value) + [("subquery", sub) for sub in subqueries(value)]
    line = label + (": " + parts if parts else "")
    return label, line, label + (f" {identity}" if identity else ""), _detail(value), below


def _detail(body: Msg) -> str:
    """The node's fields without its inputs, as build_tree text (schemas and options hidden as there):
    the line is an outline and leaves out fields such as a scan's file sizes and projection exprs."""
    table = MESSAGES.get(body.type, {})
    kept = bytearray()
    for n, _wire, _a, end, tag in iter_raw(body.buf, body.start, body.end, body.origin):
        spec = table.get(n)
        if spec is None or spec.type not in PLAN_MESSAGES:
            kept += body.buf[tag:end]
    return tree_to_text(build_tree(Msg(body.type, bytes(kept), 0, len(kept))))


def _inputs(body: Msg) -> list[tuple[str, Msg]]:
    """(field name, plan) of the node's input fields, in wire order."""
    table = MESSAGES.get(body.type, {})
    return [
        (f.name, f.value)
        for f in body.fields()
        if f.name is not None and table[f.number].type in PLAN_MESSAGES and isinstance(f.value, Msg)
    ]


def _identity(body: Msg) -> str:
    """What a node reads or names: a scan of another table is another node, not a changed one."""
    parts: list[str] = []
    for f in body.fields():
        if not isinstance(f.value, Msg):
            continue
        if f.name in ("table_name", "alias") and f.value.type == "TableReference":
            parts.append(table_reference(f.value))
        elif f.value.type == "FileScanExecConf":
            for group in children(f.value, 1, "FileGroup"):
                parts += [str(next((x.value for x in p.fields() if x.name == "path"), "?"))
                          for p in children(group, 1, "PartitionedFile")]  # fmt: skip
    return ", ".join(parts)


# ----------------------------------------------------------------------------------------------------------
# alignment


def align(a: list[PlanNode], b: list[PlanNode]) -> list[tuple[int, int]]:
    """Pairs (index in a, index in b), increasing in both and forming a tree mapping: LCS on lines, then
    on keys in the gaps; pairs that break the tree are dropped and their gaps aligned again."""
    ids: dict[str, int] = {}
    lines_a = [ids.setdefault(n.line + "\0" + n.detail, len(ids)) for n in a]
    lines_b = [ids.setdefault(n.line + "\0" + n.detail, len(ids)) for n in b]
    keys_a = [ids.setdefault("\0" + n.key, len(ids)) for n in a]
    keys_b = [ids.setdefault("\0" + n.key, len(ids)) for n in b]
    # the roots correspond unless they are of other kinds: a node wrapped around the old root is added
    kept: list[tuple[int, int]] = [(0, 0)] if a and b and keys_a[0] == keys_b[0] else []
    for _round in range(_ROUNDS):
        proposed: list[tuple[int, int]] = []
        prev_a = prev_b = 0
        for i, j in [*kept, (len(a), len(b))]:
            if i > prev_a and j > prev_b:
                proposed += _two_tier(lines_a, lines_b, keys_a, keys_b, prev_a, i, prev_b, j)
            prev_a, prev_b = i + 1, j + 1
        if not proposed:
            break
        more = _keep_tree_mapping(a, b, sorted(kept + proposed))
        if len(more) <= len(kept):
            break
        kept = more
    return kept


def _two_tier(
    lines_a: list[int],
    lines_b: list[int],
    keys_a: list[int],
    keys_b: list[int],
    la: int,
    ha: int,
    lb: int,
    hb: int,
) -> list[tuple[int, int]]:
    """LCS on whole lines in a[la:ha] / b[lb:hb], then LCS on identity keys in the stretches between."""
    exact = _lcs(lines_a, lines_b, la, ha, lb, hb)
    pairs: list[tuple[int, int]] = []
    prev_a, prev_b = la, lb
    for i, j in [*exact, (ha, hb)]:
        if i > prev_a and j > prev_b:
            pairs += _lcs(keys_a, keys_b, prev_a, i, prev_b, j)
        if i < ha:
            pairs.append((i, j))
        prev_a, prev_b = i + 1, j + 1
    return pairs


def _lcs(xs: list[int], ys: list[int], la: int, ha: int, lb: int, hb: int) -> list[tuple[int, int]]:
    """Increasing pairs of equal tokens in xs[la:ha] and ys[lb:hb]. difflib (without its "popular element"
    heuristic) takes the longest contiguous run first, which in pre-order keeps subtrees together; only
    past the budget is the common prefix and suffix trimmed first (that can pair a node with a lookalike
    elsewhere) and a still huge middle paired by position."""
    head: list[tuple[int, int]] = []
    while (ha - la) * (hb - lb) > _LCS_BUDGET and la < ha and lb < hb and xs[la] == ys[lb]:
        head.append((la, lb))
        la, lb = la + 1, lb + 1
    tail: list[tuple[int, int]] = []
    while (ha - la) * (hb - lb) > _LCS_BUDGET and la < ha and lb < hb and xs[ha - 1] == ys[hb - 1]:
        ha, hb = ha - 1, hb - 1
        tail.append((ha, hb))
    middle: list[tuple[int, int]] = []
    if la < ha and lb < hb:
        if (ha - la) * (hb - lb) > _LCS_BUDGET:
            middle = [(i, j) for i, j in zip(range(la, ha), range(lb, hb), strict=False) if xs[i] == ys[j]]
        else:
            matcher = SequenceMatcher(None, xs[la:ha], ys[lb:hb], autojunk=False)
            for block in matcher.get_matching_blocks():
                middle += [(la + block.a + k, lb + block.b + k) for k in range(block.size)]
    return head + middle + tail[::-1]


def _keep_tree_mapping(
    a: list[PlanNode], b: list[PlanNode], pairs: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The pairs whose nearest kept ancestors are paired with each other. Pairs come in pre-order of
    both trees, so every ancestor's fate is settled before its descendants are looked at."""
    near_a, near_b = [-1] * len(a), [-1] * len(b)  # nearest kept ancestor, filled in pre-order
    mate_a: dict[int, int] = {}
    kept_b: set[int] = set()
    kept: list[tuple[int, int]] = []
    done_a = done_b = 0
    for i, j in pairs:
        for k in range(done_a, i + 1):
            p = a[k].parent
            near_a[k] = -1 if p < 0 else p if p in mate_a else near_a[p]
        for k in range(done_b, j + 1):
            p = b[k].parent
            near_b[k] = -1 if p < 0 else p if p in kept_b else near_b[p]
        done_a, done_b = i + 1, j + 1
        if mate_a.get(near_a[i], -1) == near_b[j]:
            mate_a[i] = j
            kept_b.add(j)
            kept.append((i, j))
    return kept


# ----------------------------------------------------------------------------------------------------------
# differences


def diff_plan_trees(ra: Msg, rb: Msg, prefix: str = "tree") -> PlanDiff:
    """The plan nodes added, removed, changed or moved from plan ``ra`` to plan ``rb``, in plan order."""
    a, b = flatten_plan(ra), flatten_plan(rb)
    pairs = align(a, b)
    mate_a = dict(pairs)
    mate_b = {j: i for i, j in pairs}
    whole_a, whole_b = _wholly_unpaired(a, mate_a), _wholly_unpaired(b, mate_b)
    out: list[NodeChange] = []
    renumbered = 0
    gone: dict[int, list[int]] = {}  # digest -> positions in out of removed whole subtrees
    new: list[tuple[int, int]] = []  # (digest, position in out) of added whole subtrees
    i = j = 0
    while i < len(a) or j < len(b):
        if i < len(a) and i not in mate_a:
            if not _inside(a, i, whole_a):
                path = _path(a, i, prefix)
                if whole_a[i]:
                    gone.setdefault(a[i].digest, []).append(len(out))
                out.append(NodeChange(path, "removed", _text(a, i, whole_a), None, path, None))
            i += 1
        elif j < len(b) and j not in mate_b:
            if not _inside(b, j, whole_b):
                path = _path(b, j, prefix)
                if whole_b[j]:
                    new.append((b[j].digest, len(out)))
                out.append(NodeChange(path, "added", None, _text(b, j, whole_b), None, path))
            j += 1
        else:
            if a[i].line != b[j].line or a[i].detail != b[j].detail:
                path = _path(b, j, prefix)
                x, y = _changed_text(a[i], b[j])
                out.append(NodeChange(path, "changed", x, y, _path(a, i, prefix), path))
            elif a[i].ids != b[j].ids:
                renumbered += 1
            i, j = i + 1, j + 1
    dropped: set[int] = set()
    for digest, k in new:  # a removed subtree added back unchanged elsewhere: one "moved" at its new place
        if gone.get(digest):
            r = gone[digest].pop(0)
            dropped.add(r)
            out[k] = NodeChange(out[k].path, "moved", out[r].a, out[k].b, out[r].a_path, out[k].b_path)
    return PlanDiff([c for k, c in enumerate(out) if k not in dropped], renumbered)


def _changed_text(x: PlanNode, y: PlanNode) -> tuple[str, str]:
    """The two lines; when only the detail differs, the lines plus the detail lines one side lacks."""
    if x.line != y.line:
        return x.line, y.line
    dx, dy = x.detail.splitlines(), y.detail.splitlines()
    sx, sy = set(dx), set(dy)
    only_x = [t.lstrip(" │├└─") for t in dx if t not in sy][:_DETAIL_LINES]
    only_y = [t.lstrip(" │├└─") for t in dy if t not in sx][:_DETAIL_LINES]
    return f"{x.line} [{'; '.join(only_x)}]", f"{y.line} [{'; '.join(only_y)}]"


def _wholly_unpaired(nodes: list[PlanNode], mate: dict[int, int]) -> list[bool]:
    whole = [k not in mate for k in range(len(nodes))]
    for k in range(len(nodes) - 1, -1, -1):
        if not whole[k] and nodes[k].parent >= 0:
            whole[nodes[k].parent] = False
    return whole


def _inside(nodes: list[PlanNode], k: int, whole: list[bool]) -> bool:
    """Part of a wholly unpaired subtree that is reported at its top."""
    p = nodes[k].parent
    return p >= 0 and whole[p]


def _text(nodes: list[PlanNode], k: int, whole: list[bool]) -> str:
    below = nodes[k].size - 1
    return nodes[k].line + (
        f" (+{below} plan node{'s' if below != 1 else ''} below)" if whole[k] and below else ""
    )


def _path(nodes: list[PlanNode], k: int, prefix: str) -> str:
    """``prefix/Projection/Join/TableScan[left]``: the labels from the root, a role when it is not the
    plain input, a sibling index when siblings share a label; runs of one segment as ``Filter*298``."""
    segments: list[str] = []
    while k >= 0:
        node = nodes[k]
        seg = node.label
        if node.role not in _INPUT_ROLES:
            seg = f"{seg}[{node.role}]"
        elif node.parent >= 0:
            same = [c for c in nodes[node.parent].children if nodes[c].label == node.label
                    and nodes[c].role in _INPUT_ROLES]  # fmt: skip
            if len(same) > 1:
                seg = f"{seg}[{same.index(k)}]"
        segments.append(seg)
        k = node.parent
    segments.reverse()
    runs: list[str] = []
    start = 0
    for end in range(1, len(segments) + 1):
        if end == len(segments) or segments[end] != segments[start]:
            n = end - start
            runs += [f"{segments[start]}*{n}"] if n >= _RUN else segments[start:end]
            start = end
    return "/".join([prefix, *runs])
