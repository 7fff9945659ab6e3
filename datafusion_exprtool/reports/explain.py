"""Turn a datafusion serialization error, as it reached the user, into its cause and fix.

``explain`` reads the text with the catalog's matcher (``catalog.match.match_text``: it sees through
process-pool wrappers, PyErr nesting, escaped quotes and colour codes); ``explain_with_blob`` then ties each
explanation to the blob: which function, how it travels, where the bytes end, and which of two failures
datafusion words alike it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.catalog import CATALOG
from datafusion_exprtool.catalog.entry import CatalogEntry, Filled
from datafusion_exprtool.catalog.match import DECODER_CALLS, TextMatch, match_text
from datafusion_exprtool.layers.proto.truncation import declared_end
from datafusion_exprtool.model import FunctionInfo, Inspection


@dataclass
class Explanation(Filled):
    """A catalog entry seen in an error text: the entry itself, what the text said, what the blob showed."""

    entry: CatalogEntry
    excerpt: str  # the matched text, normalized, shortened in the middle when long
    fields: dict[str, str]  # what the text names: function, kind, module, versions, codec_id, ...
    wrappers: list[str] = field(default_factory=list)  # multiprocessing, ray, pyerr, ...
    wrapper_hints: list[str] = field(default_factory=list)
    occurrences: int = 1
    position: int = 0  # where in the normalized text it was first seen
    blob: list[str] = field(default_factory=list)  # facts from the blob (explain_with_blob)
    functions: list[dict[str, Any]] = field(default_factory=list)  # the blob's functions it concerns
    offset: int | None = None  # byte offset in the blob, when the failure has one
    confirmed: bool = False  # the blob confirmed what the text alone only makes likely

    @classmethod
    def of(cls, found: TextMatch) -> Explanation:
        return cls(
            entry=found.entry,
            excerpt=found.excerpt,
            fields=found.fields,
            wrappers=[w.id for w in found.wrappers],
            wrapper_hints=[w.hint for w in found.wrappers],
            occurrences=found.occurrences,
            position=found.position,
        )

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def title(self) -> str:
        return self.entry.title

    @property
    def layer(self) -> str:
        return self.entry.layer

    @property
    def confidence(self) -> str:  # "certain" | "likely"
        return "certain" if self.confirmed else self.entry.confidence

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``explain --json``."""
        return {
            "id": self.id,
            "title": self.title,
            "cause": self.cause,
            "fix": self.fix,
            "excerpt": self.excerpt,
            "fields": dict(self.fields),
            "confidence": self.confidence,
            "layer": self.layer,
            "wrappers": list(self.wrappers),
            "wrapper_hints": list(self.wrapper_hints),
            "occurrences": self.occurrences,
            "position": self.position,
            "blob": list(self.blob),
            "functions": [dict(f) for f in self.functions],
            "offset": self.offset,
        }


def explain(text: str) -> list[Explanation]:
    """Every catalogued failure in ``text``, in the order they appear; [] when nothing matched."""
    return [Explanation.of(found) for found in match_text(text)]


# --------------------------------------------------------------------------------------- with the blob


def _function_dict(fn: FunctionInfo) -> dict[str, Any]:
    keys = (
        "name",
        "kind",
        "transport",
        "node",
        "offset",
        "payload_size",
        "python",
        "wire_version",
        "codec_id",
        "envelope_version",
        "imports",
    )
    d = {k: getattr(fn, k) for k in keys}
    if fn.callable is not None:
        d["callable"] = {
            "by_value": fn.callable.by_value,
            "module": fn.callable.module,
            "qualname": fn.callable.qualname,
            "filename": fn.callable.filename,
        }
    return d


def _needs_module(fn: FunctionInfo, module: str) -> bool:
    top = module.split(".")[0]
    names = set(fn.imports)
    if fn.callable is not None:
        c = fn.callable
        names |= {m.split(".")[0] for m in (c.subimports + c.code_imports + ([c.module] if c.module else []))}
        names |= {r.split(".")[0] for r in c.references}
    return top in names or module in names


def _related(ex: Explanation, fns: list[FunctionInfo]) -> list[FunctionInfo]:
    f = ex.fields
    kind = f.get("kind")
    kind_ok = [
        fn for fn in fns if kind is None or kind not in ("scalar", "aggregate", "window") or fn.kind == kind
    ]
    if "function" in f:
        return [fn for fn in fns if fn.name == f["function"]]
    if ex.id == "python-minor-mismatch":
        return [fn for fn in kind_ok if fn.python == f.get("sender_python")]
    if ex.id == "wire-version-unsupported":
        return [fn for fn in kind_ok if str(fn.wire_version) == f.get("version")]
    if ex.id in ("module-missing", "module-attribute-missing"):
        return [fn for fn in fns if _needs_module(fn, f.get("module", ""))]
    if ex.id == "codec-not-installed":
        return [fn for fn in fns if fn.codec_id == f.get("codec_id")]
    if ex.id == "envelope-version-unsupported":
        return [
            fn
            for fn in fns
            if fn.envelope_version is not None and str(fn.envelope_version) == f.get("version")
        ]
    if ex.entry.ties_to == "payload":  # damage inside an inline payload: the text names no function
        return [fn for fn in kind_ok if fn.transport == "inline"]
    return []


def _function_notes(ex: Explanation, fns: list[FunctionInfo], all_fns: list[FunctionInfo]) -> list[str]:
    name = ex.fields.get("function")
    if name and not fns:
        have = ", ".join(sorted({fn.name for fn in all_fns})) or "none"
        return [
            f"this blob does not call '{name}' (its functions: {have}): the failing worker decoded another blob"
        ]
    notes = []
    for fn in fns:
        how = {
            "inline": f"inline ({fn.payload_size} B of pickled Python"
            + (f", pickled on Python {fn.python}" if fn.python else "")
            + ")",
            "by_name": "by name only (no code in the blob)",
            "builtin": "as a datafusion built-in",
        }.get(fn.transport, fn.transport)
        where = f" at byte {fn.offset}" if fn.offset is not None else ""
        notes.append(f"{fn.kind} function '{fn.name}' travels {how}{where}")
        if fn.codec_id:
            notes.append(f"'{fn.name}' is wrapped by extension codec '{fn.codec_id}'")
        if fn.imports:
            notes.append(f"'{fn.name}' needs these modules on the worker: {', '.join(fn.imports)}")
        if ex.id == "by-name-not-registered" and fn.transport == "inline":
            notes.append(
                f"but this blob carries '{fn.name}' inline: the worker got a copy re-encoded with "
                "inlining off, or one whose payload was stripped"
            )
        if ex.id == "by-name-not-registered" and fn.transport == "builtin":
            notes.append(
                f"'{fn.name}' is a built-in of this datafusion: the worker's datafusion version lacks it"
            )
    return notes


def explain_with_blob(
    text: str, inspection: Inspection | None = None, *, data: bytes | None = None
) -> list[Explanation]:
    """``explain`` plus what the blob says: the function named in the error and how it travels, the
    Python stamp and imports, or, for truncation, the blob's size against where its data should end.

    Give the static ``inspection`` (``inspection.inspect_bytes``), the raw ``data``, or both; with only
    ``data`` the blob is inspected here, and a blob that cannot be inspected still yields its size facts.
    """
    exps = explain(text)
    decode_error = None
    if inspection is None and data is not None:
        try:
            from datafusion_exprtool.inspection.pipeline import inspect_bytes

            inspection = inspect_bytes(data)
        except Exception as exc:  # a truncated/garbage blob: DecodeError (or a layer not written yet)
            decode_error = exc
    fns = inspection.functions if inspection is not None else []
    for ex in exps:
        if ex.id == "literal-value-corrupt" and inspection is not None:
            _rows_not_literal(ex, inspection)
        if ex.id == "plan-placeholder-unbound" and inspection is not None:
            _placeholders(ex, inspection)
        if ex.entry.names_function and inspection is not None:
            related = _related(ex, fns)
            _family_mismatch(ex, inspection, related)
            ex.functions = [_function_dict(fn) for fn in related]
            ex.blob += _function_notes(ex, related, fns)
            if len(related) == 1 and "function" not in ex.fields:
                ex.fields["function"] = related[0].name
            if related and related[0].offset is not None:
                ex.offset = related[0].offset
        _blob_facts(ex, inspection, data, decode_error)
    return exps


def _family_mismatch(ex: Explanation, ins: Inspection, related: list[FunctionInfo]) -> None:
    """datafusion words a payload of the wrong UDF kind like a missing registration; the blob tells them apart."""
    if ex.id != CATALOG["family-mismatch"].refines:
        return
    names = {fn.name for fn in related if fn.transport == "inline"}
    frame = next((w for w in ins.warnings if w.id == "dfpy-family-mismatch" and w.function in names), None)
    if frame is None:
        return
    _relabel(ex, "family-mismatch", None, f"{frame.message} (byte {frame.offset})")


def _placeholders(ex: Explanation, ins: Inspection) -> None:
    """datafusion words an unbound placeholder alike in a plan and in an expression; the blob says which, and
    where its placeholders are."""
    found = [(pid, offset) for p in ins.payloads for pid, offset in p.placeholders]
    if not found:
        ex.blob.append("this blob holds no placeholder: the worker ran another one (or a plan built around it)")
        return
    ids = ", ".join(dict.fromkeys(pid for pid, _offset in found))
    what = "expression" if ins.message == "LogicalExprNode" else "plan"
    note = f"the blob is {'an' if what == 'expression' else 'a'} {what} holding {ids} (first at byte {found[0][1]})"
    if what == "expression":
        _relabel(ex, "expr-placeholder-unbound", found[0][1], note)
        return
    ex.offset = found[0][1]
    ex.blob.append(note)


def _rows_not_literal(ex: Explanation, ins: Inspection) -> None:
    """arrow-rs's buffer-slice panic reads the same for a damaged nested literal and damaged memory-table rows
    in a physical plan; the blob says which (the check of each, no decoding)."""
    if ins.message != "PhysicalPlanNode":
        return
    from datafusion_exprtool.reports.check.damage import memory_partitions, nested_literals

    rows = memory_partitions(ins)
    if not rows or nested_literals(ins):
        return
    note = f"the plan's memory-table rows are damaged: {rows[0].datafusion_text} (byte {rows[0].offset})"
    _relabel(ex, "table-rows-corrupt", rows[0].offset, note)


def _relabel(ex: Explanation, entry_id: str, offset: int | None, note: str) -> None:
    """The blob showed which of two failures datafusion words alike: ``ex`` becomes catalog entry ``entry_id``
    (its fields kept), pointing at ``offset``, with ``note`` saying what the blob showed."""
    ex.entry, ex.confirmed = CATALOG[entry_id], False
    if offset is not None:
        ex.offset = offset
    ex.blob.append(note)


def _blob_facts(ex: Explanation, ins: Inspection | None, data: bytes | None, err: Exception | None) -> None:
    size = ins.input.size if ins is not None else (len(data) if data is not None else None)
    if err is not None:
        where = getattr(err, "offset", None)
        ex.blob.append(f"the blob here does not decode either: {err}")
        if where is not None and ex.offset is None:
            ex.offset = where
    if ex.id == "protobuf-truncated":
        cut = declared_end(data) if data is not None and data[:1] != b"\x80" else None
        if cut is not None:
            ex.offset = cut["size"]
            ex.blob.append(
                f"the blob is {cut['size']} bytes but the field at byte {cut['tag_offset']} declares data up to "
                f"byte {cut['declared_end']}: {cut['missing']} byte(s) missing, cut at byte {cut['size']}"
            )
        elif ins is not None:
            ex.blob.append(
                f"this blob is complete ({size} bytes, decodes here): the copy the worker decoded "
                "was shorter; compare len() on both sides"
            )
    elif ex.entry.ties_to == "payload" and ins is not None:
        ex.blob.append(
            f"this blob's UDF payloads read cleanly ({size} bytes): the worker's copy was damaged in transit"
            if not ins.warnings
            else f"blob warnings: {'; '.join(w.sentence for w in ins.warnings)}"
        )
    elif ex.id == "plan-file-missing" and ins is not None:
        _plan_file(ex, ins)
    elif ex.id == "too-deep" and ins is not None:
        ex.blob.append(f"this blob nests {ins.depth} messages deep; datafusion decodes at most 100")
    elif ex.id == "empty-blob" and size is not None:
        ex.blob.append(
            f"the blob is {size} bytes"
            + (" — confirmed empty" if size == 0 else ": not empty here, so the worker received nothing")
        )
    elif ex.id == "wrong-message-type" and ins is not None:
        expected = ex.fields.get("expected_message")
        actual = ins.message
        if _empty_plan_node(ex, ins):
            return
        if expected and actual and expected != actual:
            ex.confirmed = True
            ex.blob.append(
                f"the blob is a {actual}, but it was given to {DECODER_CALLS.get(expected, expected)} "
                f"(which reads {expected}); use {DECODER_CALLS.get(actual, actual)}"
            )
        elif actual:
            ex.blob.append(f"the blob is a {actual}")
    elif ex.id == "pickle-given-to-from-bytes" and ins is not None:
        if ins.input.container == "pickle":
            ex.confirmed = True
            ex.blob.append(
                "confirmed: the blob is a pickle (protocol "
                f"{ins.input.pickle_protocol}); load it with pickle.loads, not Expr.from_bytes"
            )
        else:
            ex.blob.append(
                f"the blob is {ins.input.container}, not a pickle: it is corrupted, not mis-routed"
            )


def _plan_file(ex: Explanation, ins: Inspection) -> None:
    """The scan of the blob that names the file datafusion did not find (a file of it, or its directory)."""
    from datafusion_exprtool.inspection.plan_scans import local_path, plan_scans

    path = ex.fields.get("path", "")
    for payload in ins.payloads:
        if payload.root is None or payload.message == "LogicalExprNode":
            continue
        for scan in plan_scans(payload.root):
            names = [local_path(url) or url for url in scan.files]
            if any(path == n or (n.endswith("/") and path.startswith(n)) for n in names):
                name = scan.names[0] if scan.names else "NAME"
                ex.offset, ex.confirmed = scan.offset, True
                ex.blob.append(
                    f"{scan.label} at byte {scan.offset} names {path}; replay the plan on data you have with "
                    f"`exprtool eval BLOB --table {name}=PATH`"
                )
                return
    ex.blob.append(f"no scan of this blob names {path}: the worker that failed ran another plan")


def _empty_plan_node(ex: Explanation, ins: Inspection) -> bool:
    """datafusion's text for a plan node with nothing set is the one an Expr given to LogicalPlan.from_bytes
    produces; a plan blob with such a node inside is the damaged plan, not a mis-routed blob."""
    empty = next((w for w in ins.warnings if w.id == "empty-plan-node"), None)
    if empty is None or ins.message not in ("LogicalPlanNode", "PhysicalPlanNode"):
        return False
    m = next((p.search(ex.excerpt) for p in CATALOG["empty-plan-node"].compiled if p.search(ex.excerpt)), None)
    if m is not None:
        ex.fields.update({k: v for k, v in m.groupdict().items() if v is not None})
    note = f"the blob is a {ins.message} with an empty plan node at byte {empty.offset}"
    _relabel(ex, "empty-plan-node", empty.offset, note)
    return True

