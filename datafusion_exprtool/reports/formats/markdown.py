"""GitHub-flavoured Markdown summaries of every report: what a CI job writes to ``$GITHUB_STEP_SUMMARY``.

Built from the structured reports (``Inspection``, ``CheckReport``, ``DiffResult``, ``EvalFailure``), never
from rendered text. Each summary is compact and in one order: the verdict on the first line, findings as a
table, the functions and how they travel, what the worker needs (modules to import, functions to register),
then the expression or plan as a Mermaid flowchart (``formats.mermaid``) with UDF calls marked and, for
``check`` and a failed ``eval``, the failing node in red. Long parts (the full rendering, clear-text values,
the reasoning behind each finding) sit in ``<details>`` so the page stays one screen.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

from datafusion_exprtool.model import Finding, FunctionInfo, Inspection, Payload
from datafusion_exprtool.reports.formats.mermaid import Marks, flowchart, node_marks

#: payloads drawn per inspection (a pickle may hold many Exprs; the rest are listed, not drawn)
MAX_DIAGRAMS = 3
#: a rendering longer than this moves into <details> (the verdict and the tables stay on top)
SHORT_RENDERING = 160
#: a rendering in <details> is cut here: GitHub keeps at most 1 MiB of a step's summary
RENDERING_LIMIT = 20_000
#: rows of a findings table (a suspicious blob can have hundreds; `--json` lists all)
MAX_ROWS = 50
#: table cells are cut here: a summary is read, the JSON is for the whole value
CELL_LIMIT = 300
#: clear-text items listed (the JSON lists all)
MAX_SENSITIVE = 20
VERDICT_ICON = {"data": "🟢", "code": "🟡", "suspicious": "🔴"}
SEVERITY_ICON = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}
DIFF_MARK = {"changed": "~", "added": "+", "removed": "−", "moved": ">"}
#: the legend under a diagram: one entry per mark the diagram uses
LEGEND = {
    "inline": "🟨 inline UDF: its code travels in the blob",
    "byname": "🟪 by-name UDF: the worker must have it registered",
    "failing": "🟥 where it fails",
}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")
_CODE_SPAN = re.compile(r"`([^`]+)`")


# ----------------------------------------------------------------------------------------------------------
# text pieces


def text(value: object, limit: int = CELL_LIMIT) -> str:
    """Plain text safe in a table cell or a line: Markdown and HTML characters escaped, one line, cut."""
    s = " ".join(str(value).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return _escaped(s)


def prose(value: object, limit: int = 1000) -> str:
    """exprtool's own sentences (a fix, a reason): `backticked` parts stay code spans, the rest is ``text``."""
    s = " ".join(str(value).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    out, last = [], 0
    for m in _CODE_SPAN.finditer(s):
        out.append(_escaped(s[last : m.start()]) + code(m.group(1), limit))
        last = m.end()
    out.append(_escaped(s[last:]))
    return "".join(out)


def _escaped(s: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", s.replace("&", "&amp;"))


def fix_cell(fix: str) -> str:
    """A fix in a table cell: a fix with code lines (a worker initializer) shows its first line there and
    the whole text, lines kept, in a <details> below the table."""
    first, _, rest = fix.strip().partition("\n")
    return prose(first) + (" (the code is below the table)" if rest.strip() else "")


def code(value: object, limit: int = CELL_LIMIT) -> str:
    """An inline code span holding ``value`` verbatim (one line, cut; a pipe escaped for GFM tables)."""
    s = " ".join(str(value).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    ticks = "`" * (max((len(r) for r in re.findall("`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{ticks}{pad}{s.replace('|', chr(92) + '|')}{pad}{ticks}"


def fence(body: str, info: str = "text") -> str:
    """A fenced block that no line of ``body`` can close early."""
    longest = max((len(r) for r in re.findall("`{3,}", body)), default=2)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{body}\n{ticks}"


def table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def details(summary: str, body: str, *, open_: bool = False) -> str:
    """A collapsible section: ``summary`` is plain text (HTML-escaped here: Markdown is not read inside the
    tag), ``body`` Markdown (a blank line after <summary> so GitHub renders it)."""
    head = html.escape(" ".join(summary.split()), quote=False)
    return f"<details{' open' if open_ else ''}><summary>{head}</summary>\n\n{body}\n\n</details>"


def _where(f: Finding) -> str:
    return f"{f.layer} @ {f.offset}" if f.offset is not None else f.layer


# ----------------------------------------------------------------------------------------------------------
# the parts every summary shares


def travel(f: FunctionInfo) -> str:
    """How a function travels, in words a reviewer acts on."""
    if f.transport == "inline":
        stamp = f" {f.family} v{f.wire_version}" if f.family else ""
        python = f", pickled on Python {f.python}" if f.python else ""
        codec = f", codec {f.codec_id}" if f.codec_id else ""
        return f"inline ({(stamp.strip() or 'code in the blob')}{python}{codec})"
    if f.transport == "by_name":
        return "by name: the worker must have it registered"
    return "built-in (by name; every datafusion has it)"


def functions_section(insp: Inspection) -> str:
    """The UDFs as a table (built-ins on one line): kind, how each travels, its callable, what it imports."""
    udfs = [f for f in insp.functions if f.transport != "builtin"]
    builtins = sorted({f.name for f in insp.functions if f.transport == "builtin"})
    parts = []
    if udfs:
        rows = []
        for f in udfs:
            c = f.callable
            if c is None:
                callable_ = "—"
            elif c.by_value:
                callable_ = f"{text(c.kind)} {code(c.qualname or '?')} by value"
            else:
                callable_ = f"{code(f'{c.module}.{c.qualname}')} by reference"
            count = f" ×{f.occurrences}" if f.occurrences > 1 else ""
            imports = ", ".join(code(m) for m in f.imports) or "—"
            rows.append([code(f.name) + count, text(f.kind), text(travel(f)), callable_, imports])
        parts.append(table(["function", "kind", "travels", "callable", "worker imports"], rows))
    if builtins:
        parts.append("Built-ins: " + ", ".join(code(n) for n in builtins))
    return "\n\n".join(parts) if parts else "No functions: nothing to register or import on the worker."


def needs_section(insp: Inspection) -> str:
    """What the worker must provide: modules to import, functions to register, the Python minor to run."""
    imports = sorted({m for f in insp.functions for m in f.imports})
    named = [f for f in insp.functions if f.transport == "by_name"]
    pythons = sorted({f.python for f in insp.functions if f.python})
    lines = []
    if imports:
        lines.append("- **import**: " + ", ".join(code(m) for m in imports))
    if named:
        lines.append("- **register** (`datafusion.ipc.set_worker_ctx`): "
                     + ", ".join(f"{code(f.name)} ({text(f.kind)})" for f in named))
    if pythons:
        lines.append("- **Python** " + ", ".join(code(p) for p in pythons) + " (inline payloads are stamped with it)")
    if not lines:
        return "The worker needs nothing beyond datafusion itself."
    return "\n".join(lines)


def marks_for(insp: Inspection) -> Marks:
    return Marks(transports={(f.name, f.kind): f.transport for f in insp.functions})


def failing_nodes(graph: Any, payload: Payload, findings: Iterable[Finding]) -> set[int]:  # noqa: ANN401
    """The nodes the error findings point at: a function's call nodes, else the node holding the offset."""
    out: set[int] = set()
    for f in findings:
        if f.severity != "error":
            continue
        by_name = [n.index for n in graph.nodes if f.function and any(c.name == f.function for c in n.calls)]
        if by_name:
            out.update(by_name)
        elif f.offset is not None and payload.offset <= f.offset < payload.offset + payload.size:
            node = graph.containing(f.offset)
            if node is not None:
                out.add(node.index)
    return out


def diagrams(insp: Inspection, findings: Iterable[Finding] = ()) -> str:
    """One Mermaid flowchart per payload (up to MAX_DIAGRAMS), UDFs marked, failing nodes red, cuts noted."""
    from datafusion_exprtool.text.graph import MAX_CHILDREN, build_graph

    findings = list(findings)
    blocks = []
    drawn = [p for p in insp.payloads if p.root is not None][:MAX_DIAGRAMS]
    used: set[str] = set()
    for i, payload in enumerate(drawn):
        graph = build_graph(payload.root)
        marks = marks_for(insp)
        marks.failing = failing_nodes(graph, payload, findings)
        used |= {"failing"} if marks.failing else set()
        used |= {cls for node in graph.nodes for cls, _words in node_marks(node, marks)}
        title = graph.kind.capitalize() + (f" {i + 1} of {len(insp.payloads)}" if len(insp.payloads) > 1 else "")
        block = [f"**{title}** ({len(graph.nodes)} node{'s' if len(graph.nodes) != 1 else ''})", "",
                 fence(flowchart(graph, marks), "mermaid")]
        if graph.hidden:
            of = f" of {graph.total:,}" if graph.total else ""
            block.append(f"> Cut: {len(graph.nodes)}{of} nodes drawn, breadth first, at most {MAX_CHILDREN} "
                         f"children a node; a dashed box counts the children left out ({graph.hidden:,} in all, "
                         "their own subtrees not counted). The full text is in the rendering above.")
        if graph.calls_incomplete:
            block.append("> A node too large to search to its end: UDF calls beyond its first "
                         "thousands of sub-messages are not marked.")
        blocks.append("\n".join(block))
    if len(insp.payloads) > len(drawn):
        blocks.append(f"> {len(insp.payloads) - len(drawn)} more payload(s) not drawn.")
    if not blocks:
        return ""
    legend = " · ".join(words for cls, words in LEGEND.items() if cls in used)
    return "\n\n".join(blocks) + (f"\n\n<sub>{legend}</sub>" if legend else "")


def rendering_section(insp: Inspection) -> str:
    """The expression(s) or plan as datafusion prints them: inline when short, else in <details>."""
    rendered = insp.rendered
    if not rendered:
        return "No datafusion payload (the pickle holds no Expr; reported for its safety)."
    plan = insp.message != "LogicalExprNode"
    what, how = ("Plan", "display_indent()") if plan else ("Expression", "canonical_name()")
    if "\n" not in rendered and len(rendered) <= SHORT_RENDERING:
        return f"{what} (`{how}`): {code(rendered, SHORT_RENDERING)}"
    lines = rendered.count("\n") + 1
    shown = rendered if len(rendered) <= RENDERING_LIMIT else rendered[:RENDERING_LIMIT] + "\n…"
    cut = "" if shown is rendered else (f"\n\nThe first {RENDERING_LIMIT:,} characters: `exprtool inspect --json` "
                                        "prints all of it.")
    return details(f"{what} as {how} prints it: {lines:,} line{'s' if lines != 1 else ''}, "
                   f"{len(rendered):,} characters", fence(shown) + cut)


def findings_table(findings: list[Finding]) -> str:
    rows = [[SEVERITY_ICON.get(f.severity, "") + " " + text(f.severity), code(f.id),
             code(f.function) if f.function else "—", text(_where(f)), prose(f.sentence)]
            for f in findings[:MAX_ROWS]]
    more = f"\n\n… {len(findings) - MAX_ROWS} more (`--json` lists all)" if len(findings) > MAX_ROWS else ""
    return table(["", "id", "function", "layer @ byte", "what"], rows) + more


def sensitive_section(insp: Inspection) -> str:
    if not insp.sensitive:
        return ""
    items = [f"- {text(s.kind)}{' (' + code(s.function) + ')' if s.function else ''}: {code(s.text, 200)}"
             for s in insp.sensitive[:MAX_SENSITIVE]]
    if len(insp.sensitive) > MAX_SENSITIVE:
        items.append(f"- … {len(insp.sensitive) - MAX_SENSITIVE} more (`--json` lists all)")
    return details(f"Travels in clear text ({len(insp.sensitive)})", "\n".join(items))


def _join(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p) + "\n"


# ----------------------------------------------------------------------------------------------------------
# one document per report


def inspection_markdown(insp: Inspection) -> str:
    """``exprtool inspect --format markdown``: verdict, findings, functions, worker needs, the tree."""
    i, s = insp.input, insp.safety
    container = i.container + (f" (protocol {i.pickle_protocol})" if i.pickle_protocol is not None else "")
    if i.text_encoding:
        container = f"{i.text_encoding} text → {container}"
    head = (f"### {VERDICT_ICON.get(s.verdict, '')} exprtool inspect {code(i.path)}: verdict **{s.verdict}**"
            f" ({s.status} reading)")
    facts = f"{text(insp.message or 'no datafusion payload')} · {i.size:,} B {text(container)} · depth {insp.depth}"
    notes = insp.warnings + insp.unknown_fields
    parts = [head, facts, rendering_section(insp)]
    if s.findings:
        parts.append(findings_table(s.findings))
    if notes:
        body = findings_table(notes)
        parts.append(body if len(notes) <= 3 else details(f"Warnings ({len(notes)})", body))
    if insp.damage:
        first = insp.damage[0]
        parts.append(f"> ❌ Damaged: the {text(first.layer)} layer could not be read"
                     f"{'' if first.offset is None else f' at byte {first.offset}'}; datafusion refuses this blob.")
    parts += ["#### Functions and how they travel", functions_section(insp),
              "#### What the worker needs", needs_section(insp), diagrams(insp), sensitive_section(insp)]
    return _join(*parts)


def check_markdown(report: Any) -> str:  # noqa: ANN401 - a reports.check.findings.CheckReport
    """``exprtool check --format markdown``: the prediction, findings, functions, worker needs, the failing node."""
    t = report.target
    where = f"{t['source']} (Python {t['python']}, datafusion {t['datafusion']}{', strict' if t['strict'] else ''})"
    errors, warnings = len(report.errors), len(report.warnings)
    if errors:
        icon, verdict = "❌", f"**{errors} error{'s' if errors != 1 else ''}**, {warnings} warning{'s' if warnings != 1 else ''}"
    elif warnings:
        icon, verdict = "⚠️", f"no errors, **{warnings} warning{'s' if warnings != 1 else ''}**"
    else:
        icon, verdict = "✅", "no failures predicted"
    parts = [f"### {icon} exprtool check {code(report.path)}: {verdict}", f"Target: {text(where)}"]
    if report.findings:
        rows = [[SEVERITY_ICON.get(f.severity, "") + " " + text(f.severity), code(f.id),
                 code(f.function) if f.function else "—", text(_where(f)),
                 code(f.datafusion_text) if f.datafusion_text else "—", fix_cell(f.fix)]
                for f in report.findings[:MAX_ROWS]]
        parts.append(table(["", "id", "function", "layer @ byte", "datafusion will raise", "fix"], rows))
        if len(report.findings) > MAX_ROWS:
            parts.append(f"… {len(report.findings) - MAX_ROWS} more findings (`--format json` lists all)")
        parts += [details(f"Fix for {f.id}" + (f" ({f.function})" if f.function else ""), fence(f.fix))
                  for f in report.findings if "\n" in f.fix.strip()]
        why = [f"- {code(f.id)}: {prose(f.message)}" for f in report.findings if f.message]
        if why:
            parts.append(details("Why (what check compared)", "\n".join(why)))
    insp = report.inspection
    if insp is not None:
        parts += [rendering_section(insp), "#### Functions and how they travel", functions_section(insp),
                  "#### What the worker needs", needs_section(insp), diagrams(insp, report.findings)]
    return _join(*parts)


def diff_markdown(result: Any, a: Inspection | None = None, b: Inspection | None = None) -> str:  # noqa: ANN401
    """``exprtool diff --format markdown``: equal or not, each difference as a row, both trees."""
    n = len(result.differences)
    icon, verdict = ("✅", "**equal**") if result.equal else ("❌", f"**{n} difference{'s' if n != 1 else ''}**")
    parts = [f"### {icon} exprtool diff {code(result.a)} → {code(result.b)}: {verdict}"]
    if result.differences:
        rows = []
        for d in result.differences:
            at = code(d.path) + (f" (in a: {code(d.a_path)})" if d.a_path and d.a_path != d.path else "")
            rows.append([DIFF_MARK.get(d.kind, "?") + " " + text(d.kind), at,
                         "—" if d.a is None else code(d.a), "—" if d.b is None else code(d.b)])
        parts.append(table(["", "where", "a", "b"], rows))
    parts += [f"> note: {text(note, 1000)}" for note in result.notes]
    for label, insp in (("a", a), ("b", b)):
        if insp is None:
            continue
        body = _join(rendering_section(insp), functions_section(insp), diagrams(insp)).rstrip("\n")
        parts.append(details(f"{label}: {insp.input.path}", body, open_=label == "b" and not result.equal))
    return _join(*parts)


def eval_failure_markdown(failure: Any, blob: str, insp: Inspection | None = None) -> str:  # noqa: ANN401
    """A failed ``exprtool eval`` (an ``EvalFailure``): stage, function, cause and fix, datafusion's words,
    and, when the blob was read, its functions and tree with the failing function in red."""
    where = f" in function {code(failure.function)}" if failure.function else ""
    parts = [f"### ❌ exprtool eval {code(blob)}: failed at stage {code(failure.stage)}{where}"]
    rows = [["stage", code(failure.stage)], ["exit status", str(int(failure.exit_code))]]
    if failure.cause:
        rows.append(["cause", text(failure.cause) + " (`exprtool explain` says more)"])
    if failure.file:
        rows.append(["where", code(failure.file)])
    if failure.hint:
        rows.append(["fix", fix_cell(failure.hint)])
    parts.append(table(["", ""], rows))
    if failure.hint and "\n" in failure.hint.strip():
        parts.append(details("Fix", fence(failure.hint)))
    said = failure.original or failure.message
    parts.append("datafusion said:\n\n" + fence(said))
    if failure.details:
        parts.append(details("Details", fence("\n".join(failure.details))))
    if insp is not None:
        pointed = [Finding(id="eval-failure", severity="error", layer="plan", function=failure.function)]
        parts += [rendering_section(insp), "#### Functions and how they travel", functions_section(insp),
                  "#### What the worker needs", needs_section(insp), diagrams(insp, pointed)]
    return _join(*parts)


def eval_success_markdown(blob: str, rows: int, timings: dict[str, float], output: str | None = None) -> str:
    """A passing ``exprtool eval``: one line for the job summary."""
    took = " · ".join(f"{stage} {seconds:.3f}s" for stage, seconds in timings.items())
    wrote = f" · wrote {code(output)}" if output else ""
    return f"### ✅ exprtool eval {code(blob)}: {rows:,} row{'s' if rows != 1 else ''}\n\n{took}{wrote}\n"


def undecodable_markdown(path: str, layer: str, offset: int | None, message: str) -> str:
    """An input no reader could decode (exit 3): the layer and byte offset, as the one-line error says."""
    at = "" if offset is None else f" at byte {offset}"
    return f"### ❌ exprtool: {code(path)} cannot be decoded\n\nThe {text(layer)} layer{at}: {text(message, 1000)}\n"
