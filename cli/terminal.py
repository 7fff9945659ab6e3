"""Rich rendering of an Inspection. The model knows nothing of the console; this module only reads it."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text
from rich.tree import Tree

from datafusion_exprtool.model import Inspection

VERDICT_STYLE = {"data": "bold green", "code": "bold yellow", "suspicious": "bold red"}
SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "error": "red"}
MAX_RENDERED = 4000


def _header(insp: Inspection) -> Text:
    i = insp.input
    container = i.container + (f" (protocol {i.pickle_protocol})" if i.pickle_protocol is not None else "")
    if i.text_encoding:
        container = f"{i.text_encoding} text → {container}"
    t = Text()
    t.append(i.path, style="bold")
    t.append(f"  {i.size:,} B  {container}  ", style="dim")
    t.append(insp.message or "no datafusion payload", style="bold")
    t.append(f"  depth {insp.depth}  sha256 {i.sha256[:16]}…", style="dim")
    return t


def _rendered(text: str) -> Text:
    if len(text) > MAX_RENDERED:
        more = len(text) - MAX_RENDERED
        return Text(text[:MAX_RENDERED]) + Text(f" … ({more:,} more characters; --json prints all)", style="dim")
    return Text(text)


def _tree(root) -> Tree:
    from datafusion_exprtool.text.tree import build_tree

    node = build_tree(root)
    tree = Tree(Text(node.label), guide_style="dim")
    stack = [(tree, c) for c in reversed(node.children)]
    while stack:
        parent, n = stack.pop()
        label = Text(n.label)
        if n.note:
            label.append(f"  {n.note}", style="dim")
        branch = parent.add(label)
        stack.extend((branch, c) for c in reversed(n.children))
    return tree


def _functions(insp: Inspection) -> Group:
    """One block per function: a headline, then the facts a worker needs (narrow terminals stay readable)."""
    lines: list[Text] = [Text("Functions", style="bold")]
    for f in insp.functions:
        style = {"inline": "yellow", "by_name": "magenta", "builtin": "green"}[f.transport]
        head = Text("  ")
        head.append(f.name, style="bold")
        if f.occurrences > 1:
            head.append(f" ×{f.occurrences}", style="dim")
        head.append(f"  {f.kind} · ")
        head.append(f.transport, style=style)
        if f.family:
            head.append(f" ({f.family} v{f.wire_version}, Python {f.python})", style="dim")
        if f.codec_id:
            head.append(f" via codec {f.codec_id}", style="dim")
        if f.volatility:
            head.append(f" · {f.volatility}")
        lines.append(head)

        def fact(label: str, value: str) -> None:
            lines.append(Text.assemble(("      " + label.ljust(15), "dim"), value))

        if f.transport == "by_name":
            fact("receiver", "must have it registered (datafusion.ipc.set_worker_ctx)")
        if f.input_types is not None:
            fact("types", f"({', '.join(f.input_types)}) → {f.return_type}")
        if f.state_types:
            fact("state", ", ".join(f.state_types))
        c = f.callable
        if c is not None:
            if c.by_value:
                where = f"{c.filename}:{c.firstlineno}" if c.filename else f"line {c.firstlineno}"
                fact("callable", f"{c.kind} {c.qualname} by value ({where})")
            else:
                fact("callable", f"{c.module}.{c.qualname} by reference")
            if c.closure:
                fact("closes over", ", ".join(f"{v.name or '?'}: {v.type}" for v in c.closure))
            if c.references:
                fact("references", ", ".join(c.references))
        if f.imports:
            fact("worker imports", ", ".join(f.imports))
        if f.payload_size:
            fact("payload", f"{f.payload_size:,} B at byte {f.offset}")
    return Group(*lines)


def print_inspection(insp: Inspection, *, show_tree: bool = True, console: Console | None = None) -> None:
    if console is None:
        from .common import console as make_console

        console = make_console()
    console.print()
    console.print(_header(insp))
    many = len(insp.payloads) > 1
    for i, p in enumerate(insp.payloads, 1):
        title = "Expression" if p.message == "LogicalExprNode" else "Plan"
        if many:
            title += f" {i} of {len(insp.payloads)} (byte {p.offset}, depth {p.depth})"
        console.print(Panel(_rendered(p.rendered), title=title, title_align="left", expand=False))
        if show_tree and p.root is not None:
            console.print(Panel(_tree(p.root), title="Tree", title_align="left", expand=False))
    if insp.functions:
        console.print(_functions(insp))
    s = insp.safety
    lines = [Text.assemble(("Safety: ", "bold"), (s.verdict, VERDICT_STYLE[s.verdict]), f"  ({s.status} reading)")]
    for f in s.findings:
        where = f"{f.layer}" + (f" @{f.offset}" if f.offset is not None else "")
        lines.append(Text.assemble(("  • ", "dim"), (f"[{f.id}] ", SEVERITY_STYLE.get(f.severity, "")), f.sentence,
                                   (f"  ({where})", "dim")))
    for line in lines:  # one print per line: off a terminal each stays one line (PipeAwareConsole)
        console.print(line)
    notes = insp.warnings + insp.unknown_fields
    if notes:
        console.print(Text("Warnings", style="bold"))
        for f in notes:
            where = f"{f.layer}" + (f" @{f.offset}" if f.offset is not None else "")
            console.print(Text.assemble(("  • ", "dim"), (f"[{f.id}] ", SEVERITY_STYLE.get(f.severity, "")), f.sentence,
                                        (f"  ({where})", "dim")))
    if insp.sensitive:
        console.print(Text("Travels in clear text", style="bold"))
        for item in insp.sensitive[:50]:
            fn = f" [{item.function}]" if item.function else ""
            console.print(Text.assemble(("  • ", "dim"), (f"{item.kind}{fn}: ", "magenta"), item.text[:200]))
        if len(insp.sensitive) > 50:
            console.print(Text(f"  … {len(insp.sensitive) - 50} more (--json lists all)", style="dim"))
