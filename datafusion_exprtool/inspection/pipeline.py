"""Static inspection: bytes in, an Inspection out; nothing in the blob is ever executed.

pickle VM -> Expr payloads -> protobuf scan -> function sites -> DFPY frame -> cloudpickle
-> Arrow IPC schemas, then the manifest, the safety report and the renderings.
"""

from __future__ import annotations

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.inspection.arrow_damage import arrow_damage
from datafusion_exprtool.inspection.functions import (
    build_manifest,
    classify_foreign_bytes,
    frame_overrun,
    python_mismatches,
    stray_sites,
)
from datafusion_exprtool.inspection.plan_scans import unresolved_columns
from datafusion_exprtool.inspection.verdict import safety_report
from datafusion_exprtool.layers.container import LoadedInput, load_bytes, load_input
from datafusion_exprtool.layers.pickle import (
    expr_payload as expr_pickle,
)
from datafusion_exprtool.layers.pickle import (
    expr_template,
)
from datafusion_exprtool.layers.pickle import (
    safety as pickle_safety,
)
from datafusion_exprtool.layers.pickle import (
    vm as pickle_vm,
)
from datafusion_exprtool.layers.proto import scan as proto_scan
from datafusion_exprtool.layers.proto import semantics
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.roots import ROOT_MESSAGES, resolve_message
from datafusion_exprtool.layers.proto.scan_facts import add_sensitive
from datafusion_exprtool.layers.proto.scan_result import ScanResult
from datafusion_exprtool.model import Finding, InputInfo, Inspection, Payload, Sensitive
from datafusion_exprtool.text.engine import UNDECODABLE, UNSUPPORTED, Gap, render_collecting

MAX_UNKNOWN_REPORTED = 50


def inspect_path(source: str, *, message: str | None = None) -> Inspection:
    """Inspect one file (or "-" for stdin)."""
    return inspect_loaded(load_input(source), message=message)


def inspect_bytes(data: bytes, info: InputInfo | None = None, *, message: str | None = None) -> Inspection:
    """Inspect a blob held in memory. ``data`` may be a pickle, protobuf, base64 or hex text."""
    if info is None:
        return inspect_loaded(load_bytes(data), message=message)
    return inspect_loaded(LoadedInput(info, data), message=message)


def inspect_loaded(loaded: LoadedInput, *, message: str | None = None) -> Inspection:
    info, data = loaded.info, loaded.data
    message = resolve_message(message)
    findings: list[Finding] = []
    warnings: list[Finding] = []
    complete = True
    blobs: list[tuple[bytes, int]] = []
    fast = expr_template.match(data) if info.container == "pickle" else None
    if fast is not None:  # the one stream pickle.dumps(expr) writes on protocols 4-5: nothing in it to judge
        info.pickle_protocol, payload = fast
        blobs.append((payload.data, payload.offset))
    elif info.container == "pickle":
        result = pickle_vm.run(data, 0, layer="pickle")
        info.pickle_protocol = result.protocol
        findings += pickle_safety.classify(result, "expr", "pickle")
        if result.frame_overrun is not None:
            warnings.append(frame_overrun(result.frame_overrun, len(data), "pickle"))
        found = expr_pickle.find_expr_payloads(result)
        if not found and not any(f.verdict == "suspicious" for f in findings):
            raise DecodeError(
                "pickle",
                None,
                "this pickle holds no datafusion Expr "
                "(no getattr(datafusion.expr.Expr, '_reconstruct') call)",
                "is it a pickle of something else? `python -m pickletools FILE` lists its opcodes",
            )
        for p in found:
            if p.via == "bytes" and p.offset is not None:
                blobs.append((p.data, p.offset))
                continue
            # protocols 0-2 carry the payload as latin-1 text: its bytes are not verbatim in the file
            blobs.append((p.data, 0))
            warnings.append(
                Finding(
                    id="relative-offsets",
                    severity="info",
                    layer="pickle",
                    offset=p.offset,
                    message=f"the payload at byte {p.offset} travels as text ({p.via}); offsets inside it "
                    "count from the start of the decoded payload, not of the file",
                )
            )
    else:
        blobs.append((data, 0))

    if any(f.verdict == "suspicious" for f in findings):  # a hostile pickle's payload need not decode: say both
        blobs, unread = _readable(blobs, message)
        if unread:
            complete = False
            warnings += unread
    payloads: list[Payload] = []
    sites: list = []
    sensitive = []
    unknown: list[Finding] = []
    for blob, origin in blobs:
        if message is not None:
            kind, scanned = message, proto_scan.scan(blob, message, origin)
        else:
            kind, scanned = proto_scan.detect_message(blob, origin)
        root = Msg(kind, blob, 0, len(blob), origin)
        problems = semantics.validate(root)
        # datafusion refuses (or cannot be told to accept) what the forced type reads this way; unknown fields
        # alone do not count: prost skips them. A pickle always carries an Expr: nothing to second-guess.
        doubtful = problems or scanned.opaque_count or not scanned.sensible
        if message is not None and doubtful and info.container != "pickle":
            note = _forced_elsewhere(blob, origin, message)
            if note is not None:  # what the bytes hold as their own type was not read: the reading is partial
                complete = False
                warnings.append(note)
        if problems and message is None:
            kind, scanned, root, problems, note = _reconsider(blob, origin, kind, scanned, root, problems)
            if note is not None:
                warnings.append(note)
        if kind == "PhysicalPlanNode":
            problems = [*problems, *unresolved_columns(root)]
        warnings += [
            Finding(
                id=p.id, severity="warning", layer=p.layer, offset=p.offset, datafusion_text=p.datafusion_text
            )
            for p in problems[:MAX_UNKNOWN_REPORTED]
        ]
        rendered, gaps = _render(root)
        payloads.append(
            Payload(message=kind, offset=origin, size=len(blob), rendered=rendered, depth=scanned.depth, root=root,
                    placeholders=scanned.placeholders)
        )
        gap = _first_gap(gaps)
        if gap is not None:  # e.g. a nested literal whose Arrow bytes are damaged: shown, not read
            complete = False
            shown = gap.text.partition(">")[0] + ">"  # the placeholder, quoted up to its first '>'
            warnings.append(
                Finding(
                    id="unrendered-part",
                    severity="warning",
                    layer=gap.layer,
                    offset=origin,
                    message=f"part of the payload could not be read and is shown as a placeholder: {shown}")
            )
        sites += scanned.functions
        strays = stray_sites(blob, origin, scanned.functions)
        if strays:  # payloads under nodes the tables do not expand: read and judged, and the reading is partial
            complete = False
            sites += strays
            warnings += [
                Finding(id="payload-under-unexpanded-node", severity="warning", layer="protobuf",
                        offset=site.payload_offset, function=site.name,
                        message=f"a {site.kind} UDF payload at byte {site.payload_offset} sits under a node the "
                        "field tables do not expand; it was read and judged, but the node around it was not")
                for site in strays
            ]
        _render_statistics(scanned)
        warnings += arrow_damage(scanned)  # nested literals and memory-table rows that do not read back
        sensitive += scanned.sensitive
        for where, offset, size in scanned.codec_payloads:
            complete = False
            warnings.append(
                Finding(
                    id="opaque-codec-bytes",
                    severity="warning",
                    layer="protobuf",
                    offset=offset,
                    message=f"{where}: {size} bytes written by an extension codec stay opaque; the receiver "
                    "needs that codec installed, and what it decodes was not read",
                )
            )
            findings += classify_foreign_bytes(blob[offset - origin : offset - origin + size], offset)
        for u in scanned.unknown[:MAX_UNKNOWN_REPORTED]:
            unknown.append(
                Finding(
                    id="unknown-field",
                    severity="warning",
                    layer="protobuf",
                    offset=u.offset,
                    message=f"{u.path or u.type}: unknown field {u.number} (wire type {u.wire}); "
                    "kept as raw bytes — a blob from another datafusion version?",
                )
            )
        if scanned.unknown:
            complete = False
        if scanned.exceeds_limit:
            warnings.append(
                Finding(
                    id="too-deep",
                    severity="error",
                    layer="protobuf",
                    offset=origin,
                    message=f"nesting depth {scanned.depth} exceeds datafusion's decode limit "
                    f"({proto_scan.DATAFUSION_DECODE_DEPTH_LIMIT} nested messages): datafusion will refuse "
                    "this blob with 'recursion limit reached'",
                )
            )

    manifest = build_manifest(sites)
    findings += manifest.findings
    warnings += manifest.warnings
    sensitive += manifest.sensitive
    complete = complete and manifest.complete
    for fn in python_mismatches(manifest.functions):
        warnings.append(
            Finding(
                id="python-mismatch",
                severity="warning",
                layer="dfpy",
                offset=fn.offset,
                message=f"{fn.kind} UDF '{fn.name}' was pickled on Python {fn.python}; this interpreter is "
                f"{_running()} — a worker on another minor version refuses it",
                function=fn.name,
            )
        )
    return Inspection(
        input=info,
        sensitive=_distinct(sensitive),
        payloads=payloads,
        functions=manifest.functions,
        safety=safety_report(findings, manifest.functions, complete=complete),
        warnings=warnings,
        unknown_fields=unknown,
    )


def _readable(blobs: list[tuple[bytes, int]], message: str | None) -> tuple[list[tuple[bytes, int]], list[Finding]]:
    """The payloads of a suspicious pickle that scan as protobuf, and a warning for each that does not."""
    kept, unread = [], []
    for blob, origin in blobs:
        try:
            proto_scan.scan(blob, message or "LogicalExprNode", origin)
        except DecodeError as err:
            unread.append(Finding(id="payload-unreadable", severity="warning", layer=err.layer, offset=err.offset,
                                  message=f"a payload of this suspicious pickle does not decode: {err.message}"))
            continue
        kept.append((blob, origin))
    return kept, unread


def _forced_elsewhere(blob: bytes, origin: int, forced: str) -> Finding | None:
    """--message named a type the bytes read badly as, while they read cleanly as another: the decoder for
    the forced type will refuse them or silently drop what it does not know."""
    try:
        other, alt = proto_scan.detect_message(blob, origin)
    except DecodeError:
        return None
    if other == forced or not alt.sensible or alt.unknown_count:
        return None
    if semantics.validate(Msg(other, blob, 0, len(blob), origin)):
        return None
    return Finding(
        id="message-forced-mismatch", severity="warning", layer="protobuf", offset=origin,
        message=f"read as a {forced} as asked, but these bytes are a {other} (they read as one cleanly): "
        f"{forced}'s decoder will refuse them or drop what it does not know; drop --message",
    )  # fmt: skip


def _reconsider(blob: bytes, origin: int, kind: str, scanned, root: Msg, problems: list) -> tuple:
    """A detected message datafusion would refuse: the guess is weak, say so (and name another root type
    that reads as well and is refused on nothing). The guess is kept: a damaged expression often scans
    cleanly as a plan, so switching would hide the damage. Returns (kind, scan, root, problems, warning)."""
    other = None
    for name in ROOT_MESSAGES:
        if name == kind:
            continue
        try:
            alt = proto_scan.scan(blob, name, origin, max_unknown=scanned.unknown_count)
        except DecodeError:
            continue
        if alt.sensible and not semantics.validate(Msg(name, blob, 0, len(blob), origin)):
            other = name
            break
    also = f"; it also reads as a {other}, which datafusion would accept" if other else ""
    note = Finding(
        id="message-guess-weak",
        severity="warning",
        layer="protobuf",
        offset=origin,
        message=f"the blob was taken for a {kind}, which datafusion would refuse{also}: the message type "
        "guess is weak; give --message (expr / logical / physical)",
    )
    return kind, scanned, root, problems, note


def _first_gap(gaps: list[Gap]) -> Gap | None:
    """The gap a warning names: the first undecodable part, else the first unsupported one."""
    return next((g for g in gaps if g.kind == UNDECODABLE), None) or next(
        (g for g in gaps if g.kind == UNSUPPORTED), None
    )


def _render_statistics(scanned: ScanResult) -> None:
    """The column statistics the scan found, as clear text (ScalarValue Debug), after what the walk kept."""
    if not scanned.statistics:
        return
    from datafusion_exprtool.text.scalar import scalar_debug  # only when statistics travel (a parquet scan)

    for stat in scanned.statistics:
        text = f"column {stat.label} = {scalar_debug(stat.value)}"
        add_sensitive(scanned, Sensitive("statistics", "protobuf", stat.offset, text))


def _distinct(items: list) -> list:
    """Clear-text items once each (a physical plan repeats paths and statistics per partition/stage)."""
    seen: set[tuple] = set()
    out = []
    for item in items:
        key = (item.kind, item.text, item.function)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _running() -> str:
    import sys

    return "{}.{}".format(*sys.version_info[:2])


def _render(root: Msg) -> tuple[str, list[Gap]]:
    """The payload's text and the parts of it shown as placeholders."""
    if root.type == "LogicalExprNode":  # an expression never pays for the plan renderers' import
        from datafusion_exprtool.text.canonical import render_expr

        return render_collecting(render_expr, root)
    from datafusion_exprtool.text.plan import render_plan

    return render_collecting(render_plan, root)
