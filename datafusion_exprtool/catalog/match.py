"""Which catalog entries a datafusion error text shows: the matcher ``explain`` and ``eval`` share.

Failures surface on a worker far from their cause, wrapped by multiprocessing, Ray, concurrent.futures,
Dask or joblib, nested in Rust ``PyErr { … }`` reprs, with escaped quotes and colour codes. ``normalize``
undoes all that so one regex fits every wrapper; ``match_text`` finds every catalogued failure in the text,
with the facts its named groups capture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from datafusion_exprtool.catalog import ENTRIES, deep_target
from datafusion_exprtool.catalog.entry import CatalogEntry, Filled

_ANSI = re.compile(r"(?:\x1b|\\x1b|\\u001b|\\033|\\e)\[[0-9;?]*[ -/]*[@-~]")
_DECODER = re.compile(r"Unable to decode (?P<what>expression|expr|logical node|physical node)")
_DECODER_MESSAGES = {
    "expression": "LogicalExprNode",
    "expr": "LogicalExprNode",
    "logical node": "LogicalPlanNode",
    "physical node": "PhysicalPlanNode",
}
DECODER_CALLS = {
    "LogicalExprNode": "Expr.from_bytes / pickle.loads",
    "LogicalPlanNode": "LogicalPlan.from_bytes",
    "PhysicalPlanNode": "ExecutionPlan.from_bytes",
}
MAX_EXCERPT = 400
MAX_FIELD = 200


@dataclass(frozen=True)
class Wrapper:
    """A way a failure reaches the user far from its cause; recognised so the hint can say where to look."""

    id: str
    pattern: str
    hint: str


WRAPPERS: tuple[Wrapper, ...] = (
    Wrapper(
        "multiprocessing",
        r"multiprocessing\.pool\.RemoteTraceback|^RemoteTraceback",
        "raised in a multiprocessing worker; the worker-side traceback is the quoted block",
    ),
    Wrapper(
        "multiprocessing-result",
        r"MaybeEncodingError|Error sending result:",
        "the worker's *return value* could not be pickled back to the parent",
    ),
    Wrapper(
        "concurrent.futures",
        r"concurrent\.futures\.process\._RemoteTraceback|_RemoteTraceback",
        "raised in a ProcessPoolExecutor worker",
    ),
    Wrapper(
        "broken-process-pool",
        r"BrokenProcessPool",
        "a worker died or its initializer failed; the first error above is the cause",
    ),
    Wrapper(
        "ray",
        r"RayTaskError|ray\.exceptions\.|\bray::",
        "raised inside a Ray task/actor while it decoded its arguments",
    ),
    Wrapper("dask", r"distributed\.|dask\.", "re-raised by Dask from a worker"),
    Wrapper("joblib", r"joblib\.|loky\.", "re-raised by joblib/loky from a worker"),
    Wrapper("pyerr", r"PyErr \{ type:", "a Python exception raised inside datafusion's Rust code (PyErr)"),
)


@dataclass
class TextMatch(Filled):
    """One catalog entry seen in an error text, with what the text says about it."""

    entry: CatalogEntry
    fields: dict[str, str]  # what the text names: function, kind, module, versions, codec_id, ...
    excerpt: str  # the matched text, normalized, shortened in the middle when long
    position: int  # where in the normalized text it was first seen
    wrappers: list[Wrapper] = field(default_factory=list)  # what it was re-raised through
    occurrences: int = 1


def normalize(text: str) -> str:
    """Strip colour codes and undo quote escaping (any depth) so one regex fits every wrapper."""
    text = _ANSI.sub("", text)
    if "\n" not in text and "\\n" in text:  # a traceback logged as one JSON/repr line
        text = text.replace("\\n", "\n")
    for _ in range(8):
        new = text.replace('\\"', '"').replace("\\'", "'").replace("\\\\", "\\")
        if new == text:
            break
        text = new
    return text


def shorten(s: str, limit: int) -> str:
    if len(s) <= limit:
        return s
    half = (limit - 3) // 2
    return f"{s[:half]} … {s[-half:]}"


def _context(norm: str, start: int) -> dict[str, str]:
    """Which decoder failed, from the text before the match on the same line."""
    line_start = norm.rfind("\n", 0, start) + 1
    found = None
    for m in _DECODER.finditer(norm, line_start, start + 1):
        found = m
    if found is None:
        line_end = norm.find("\n", start)
        line = norm[line_start : line_end if line_end >= 0 else len(norm)]
        if "logical_plan::from_proto" in line or "Unsupported logical plan" in line:
            return {"expected_message": "LogicalPlanNode", "decoder": DECODER_CALLS["LogicalPlanNode"]}
        return {}
    msg = _DECODER_MESSAGES[found.group("what")]
    return {"expected_message": msg, "decoder": DECODER_CALLS[msg]}


def _fields(entry_id: str, m: re.Match[str], norm: str) -> dict[str, str]:
    fields = {k: v.strip() for k, v in m.groupdict().items() if v is not None}
    if "path" in fields:
        segments = [s.rstrip(":") for s in fields["path"].split(": ") if s.rstrip(":")]
        fields["path"] = shorten(": ".join(segments), MAX_FIELD)
        if entry_id == "too-deep":
            nested = sum(1 for s in segments if s.startswith(("LogicalExprNode.", "LogicalPlanNode.")))
            fields["nesting"] = str(len(segments))
            fields["levels"] = str(nested)
            # prost lists the path innermost first: the last segment is the blob's root message
            roots = [s.split(".")[0] for s in segments]
            plans = sum(1 for r in roots if r in ("LogicalPlanNode", "PhysicalPlanNode"))
            exprs = sum(1 for r in roots if r in ("LogicalExprNode", "PhysicalExprNode"))
            fields["target"] = deep_target(roots[-1] if roots else "", plans, exprs)
    fields = {k: shorten(v, MAX_FIELD) for k, v in fields.items()}
    for k, v in _context(norm, m.start()).items():
        fields.setdefault(k, v)
    return fields


def match_text(text: str) -> list[TextMatch]:
    """Every catalogued failure in ``text``, in the order they appear; [] when nothing matched."""
    norm = normalize(text)
    wrappers = [w for w in WRAPPERS if re.search(w.pattern, norm, re.MULTILINE)]
    hits: list[tuple[int, int, int, re.Match[str]]] = []
    for rank, entry in enumerate(ENTRIES):
        if not entry.explained:
            continue
        for pattern in entry.compiled:
            for m in pattern.finditer(norm):
                hits.append((rank, m.start(), m.end(), m))
    taken: list[tuple[int, int]] = []
    kept: list[tuple[int, re.Match[str]]] = []
    for rank, start, end, m in sorted(hits, key=lambda h: (h[0], h[1])):
        if any(start < e and s < end for s, e in taken):
            continue  # an earlier (more specific) entry already explains this text
        taken.append((start, end))
        kept.append((rank, m))
    out: dict[tuple, TextMatch] = {}
    for rank, m in sorted(kept, key=lambda k: k[1].start()):
        entry = ENTRIES[rank]
        fields = _fields(entry.id, m, norm)
        key = (entry.id, tuple(sorted((k, v) for k, v in fields.items() if k not in ("decoder",))))
        if key in out:
            out[key].occurrences += 1
            continue
        out[key] = TextMatch(
            entry=entry,
            fields=fields,
            excerpt=shorten(m.group(0), MAX_EXCERPT),
            position=m.start(),
            wrappers=list(wrappers),
        )
    return _merge_same_failure(list(out.values()))


def _merge_same_failure(found: list[TextMatch]) -> list[TextMatch]:
    """The same error printed by the worker and re-raised by the parent differs only in context fields."""
    merged: list[TextMatch] = []
    for ex in found:
        core = {k: v for k, v in ex.fields.items() if k not in ("expected_message", "decoder")}
        for prev in merged:
            pcore = {k: v for k, v in prev.fields.items() if k not in ("expected_message", "decoder")}
            if prev.entry.id == ex.entry.id and pcore == core:
                prev.occurrences += ex.occurrences
                for k, v in ex.fields.items():
                    prev.fields.setdefault(k, v)
                break
        else:
            merged.append(ex)
    return merged
