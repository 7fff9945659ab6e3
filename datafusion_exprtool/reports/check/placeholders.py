"""Placeholders ($1, $name) the blob carries with no value: what the receiver's planner refuses.

The scan records every ``PlaceholderNode`` id (``Payload.placeholders``). A logical plan serialized from
``ctx.sql(query)`` without ``param_values`` keeps them, and datafusion-python 55 binds no value in a decoded
plan, so no receiver can run it: an error. An expression keeps them too; ``exprtool eval --param`` binds them
for a replay, and so may whoever runs it, but run as shipped it fails alike: a warning naming both fixes.

When the blob holds several distinct placeholders, datafusion names the one its physical planner meets first,
and which one that is depends on how it orders a node's inputs (measured: the last input of a Union first,
the left side of a Join first, after the optimizer moved filters): the text check quotes is then the part
that does not depend on it.
"""

from __future__ import annotations

from datafusion_exprtool.model import Finding, Inspection
from datafusion_exprtool.reports.check.findings import catalog_text

#: the part of datafusion's text that does not name the placeholder
COMMON_TEXT = "was not provided a value for execution"
#: payload message -> (the catalog entry, severity, what the blob is, the finding's layer)
KINDS = {
    "LogicalPlanNode": ("plan-placeholder-unbound", "error", "plan", "plan"),
    "LogicalExprNode": ("expr-placeholder-unbound", "warning", "expression", "protobuf"),
}


def placeholder_findings(insp: Inspection) -> list[Finding]:
    """One finding per payload that holds placeholders (a physical plan cannot: its planner refused them)."""
    out: list[Finding] = []
    for payload in insp.payloads:
        kind = KINDS.get(payload.message)
        if kind is None or not payload.placeholders:
            continue
        cid, severity, what, layer = kind
        ids = list(dict.fromkeys(pid for pid, _offset in payload.placeholders))
        first = payload.placeholders[0][1]
        text, fix = catalog_text(cid, placeholder=ids[0])
        listed = ", ".join(ids)
        them = "it" if len(ids) == 1 else "them"
        if severity == "error":
            why = (
                f"the plan holds placeholder{'s' if len(ids) > 1 else ''} {listed} (first at byte {first}) and no "
                f"value for {them}: a plan carries none, and datafusion-python 55 binds none in a decoded plan, "
                "so the receiver's planner refuses it (unless its optimizer drops the expression that holds "
                f"{them}, as under LIMIT 0)"
            )
        else:
            why = (
                f"the expression holds placeholder{'s' if len(ids) > 1 else ''} {listed} (first at byte {first}): "
                f"whoever runs it must bind a value to each first (`exprtool eval --param` does; "
                "datafusion-python 55 has no call for it), or its planner refuses it"
            )
        if len(ids) > 1:
            why += f"; datafusion names one of {them} (which one depends on how its planner orders the inputs)"
            text = COMMON_TEXT
        out.append(
            Finding(
                id=cid, severity=severity, layer=layer, offset=first, datafusion_text=text, fix=fix, message=why
            )
        )
    return out
