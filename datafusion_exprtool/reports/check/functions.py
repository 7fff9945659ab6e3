"""Per-function findings of ``check``: what a receiver meets decoding each UDF a blob carries.

A function travels inline (a DFPY frame, maybe in a DFPYCHN envelope) or by name, and each is checked in
datafusion's own order (codec envelope, wire version, Python stamp, strict receiver, cloudpickle imports)
against the ``Target``.
"""

from __future__ import annotations

from datafusion_exprtool.catalog import CATALOG
from datafusion_exprtool.layers import dfpy
from datafusion_exprtool.model import Finding, FunctionInfo
from datafusion_exprtool.reports.check.findings import catalog_text as _catalog
from datafusion_exprtool.reports.check.target import Target, parse_python, py_text

POOL_NOTE = (
    " Note: `datafusion.ipc.set_sender_ctx` is thread-local and multiprocessing.Pool pickles task arguments "
    "in its task-handler thread, so a sender ctx set in the driver's main thread is silently ignored by Pool: "
    "serialize explicitly (`expr.to_bytes(ctx)`, or `pickle.dumps` inside `set_sender_ctx` in the calling "
    "thread) and ship the bytes."
)


def _at(fn: FunctionInfo, cid: str, severity: str, layer: str, said: str, fix: str, why: str) -> Finding:
    """A finding about function ``fn``, at its offset: ``said`` is what datafusion raises, ``why`` check's words."""
    return Finding(
        id=cid,
        severity=severity,
        layer=layer,
        offset=fn.offset,
        function=fn.name,
        datafusion_text=said,
        fix=fix,
        message=why,
    )


def inline_findings(
    fn: FunctionInfo, t: Target, problems: list, physical: bool, broken: list[Finding]
) -> list[Finding]:
    """datafusion's order: envelope codec, wire version, Python stamp, strict receiver, cloudpickle imports.

    Past the first failure the later ones are still listed: they are what the receiver meets once the
    first is fixed (a Python mismatch does not hide a strict receiver).
    """
    out: list[Finding] = []
    kind = fn.kind
    installed = t.physical_codec_ids if physical else t.codec_ids
    if any(p.id == "dfpy-envelope-codec-id" for p in problems):  # datafusion stops at the unreadable id
        return out + [dfpy_finding(p, fn.name) for p in problems] + broken
    if fn.codec_id is not None and fn.envelope_version in dfpy.SUPPORTED_ENVELOPE_VERSIONS:
        _, fix = _catalog("codec-not-installed", codec_id=fn.codec_id)
        if installed is None:
            why = "the target's installed codecs are unknown (a fingerprint records none); pass --worker-ctx"
            text = f"was encoded by extension codec '{fn.codec_id}'"
            out.append(_at(fn, "codec-not-installed", "warning", "dfpy", text, fix, why))
        elif fn.codec_id not in installed:
            text = dfpy.codec_missing_message(kind, fn.codec_id, list(installed))
            why = f"{dfpy.kind_label(kind)} '{fn.name}' sits in a DFPYCHN envelope of codec '{fn.codec_id}'"
            out.append(_at(fn, "codec-not-installed", "error", "dfpy", text, fix, why))
            # datafusion stops at the envelope
            return out + [dfpy_finding(p, fn.name) for p in problems] + broken
    mismatch = next((p for p in problems if p.id == "dfpy-family-mismatch"), None)
    if mismatch is not None:  # the node's codec does not read another family's frame: nothing else is reached
        codec = "Physical" if physical or fn.node.startswith("Physical") else "Logical"
        text, fix = _catalog("family-mismatch", codec=codec, kind=kind, function=fn.name)
        why = (
            f"{mismatch.message}: datafusion's {kind} codec does not read that frame and falls back to a codec "
            "that has none (registering the function on the worker does not help)"
        )
        return out + [
            Finding(
                id="family-mismatch",
                severity="error",
                layer="dfpy",
                offset=mismatch.offset,
                function=fn.name,
                datafusion_text=text,
                fix=fix,
                message=why,
            )
        ]
    out += [dfpy_finding(p, fn.name) for p in problems]
    if fn.family is None and fn.codec_id is None and not problems:
        return out + _foreign(fn, installed, physical)
    if any(p.id in ("dfpy-wire-version", "dfpy-envelope-version") for p in problems) or fn.python is None:
        return out + broken  # datafusion stops before the Python stamp
    sent = parse_python(fn.python)
    if sent != t.python:
        _, fix = _catalog("python-minor-mismatch")
        text = dfpy.python_mismatch_message(kind, sent, t.python)
        why = f"stamp {fn.python} in the DFPY header; {t.source} runs Python {py_text(t.python)}"
        out.append(_at(fn, "python-minor-mismatch", "error", "dfpy", text, fix + POOL_NOTE, why))
    if t.strict and fn.codec_id is None:
        text, fix = _catalog("inlining-disabled", kind=kind, function=fn.name)
        why = "the receiver is strict (with_python_udf_inlining(enabled=False)) and this UDF travels as code"
        return out + [_at(fn, "inlining-disabled", "error", "dfpy", text.rstrip("."), fix + POOL_NOTE, why)]
    if t.strict:
        fix = (
            f"Make sure the session installed as codec '{fn.codec_id}' on the worker allows inlining, or send "
            f"'{fn.name}' by name and register it." + POOL_NOTE
        )
        why = f"the payload is decoded by codec '{fn.codec_id}': it is refused if that codec's session is strict"
        out.append(_at(fn, "inlining-disabled", "warning", "dfpy", "", fix, why))
    return out + (broken or _modules(fn, t) + unshipped_globals(fn))


def unshipped_globals(fn: FunctionInfo) -> list[Finding]:
    """Globals the by-value code loads that did not travel: decoding succeeds, the first call raises NameError."""
    out: list[Finding] = []
    for name in fn.callable.unshipped_globals if fn.callable is not None else []:
        text, fix = _catalog("global-not-shipped", name=name)
        why = (f"the by-value code of '{fn.name}' loads the global '{name}', which is neither in the globals that "
               "travel with it nor a builtin: the worker decodes it, and the first call fails")
        out.append(_at(fn, "global-not-shipped", "warning", "cloudpickle", text, fix, why))
    return out


def _foreign(fn: FunctionInfo, installed: tuple[str, ...] | None, physical: bool) -> list[Finding]:
    """A payload that is no DFPY frame and no envelope: only an installed extension codec reads it."""
    codec = "Physical" if physical or fn.node.startswith("Physical") else "Logical"
    text, fix = _catalog("by-name-not-registered", codec=codec, kind=fn.kind, function=fn.name)
    why = (
        f"the {fn.payload_size} payload bytes of '{fn.name}' are neither a DFPY frame nor a DFPYCHN envelope"
    )
    if installed == ():
        why += "; the target installs no extension codec, so datafusion hands them to none and fails"
        return [_at(fn, "by-name-not-registered", "error", "dfpy", text, fix, why)]
    why += "; an extension codec on the target must read them (not checked)"
    return [_at(fn, "opaque-payload", "warning", "dfpy", "", fix, why)]


def _decode_time_modules(fn: FunctionInfo) -> tuple[list[str], list[str]]:
    """(modules unpickling imports, modules only the function body imports when it runs)."""
    c = fn.callable
    if c is None:
        return list(fn.imports), []
    now: list[str] = []
    for name in [*c.subimports, *c.references, *([c.module] if not c.by_value and c.module else [])]:
        top = name.split(".")[0]
        if top in fn.imports and top not in now:
            now.append(top)
    later = [m for m in fn.imports if m not in now]
    return now, later


def _modules(fn: FunctionInfo, t: Target) -> list[Finding]:
    out: list[Finding] = []
    now, later = _decode_time_modules(fn)
    for module, at_decode in [(m, True) for m in now] + [(m, False) for m in later]:
        ok = t.importable(module)
        if ok:
            continue
        _, fix = _catalog("module-missing", module=module)
        text = f"No module named '{module}'"
        if ok is None:
            why = f"'{fn.name}' needs module '{module}'; {t.source} did not record whether it is importable"
            out.append(_at(fn, "module-missing", "warning", "cloudpickle", "", fix, why))
        elif at_decode:
            why = f"'{fn.name}' refers to '{module}' by reference; unpickling it on {t.source} imports it"
            out.append(_at(fn, "module-missing", "error", "cloudpickle", text, fix, why))
        else:
            why = f"the body of '{fn.name}' imports '{module}': decoding succeeds, the first call fails"
            out.append(_at(fn, "module-missing-at-call", "warning", "cloudpickle", text, fix, why))
    return out


def named_findings(fn: FunctionInfo, t: Target, physical: bool) -> list[Finding]:
    if t.has_function(fn.name, fn.kind):
        return []
    codec = "Physical" if physical or fn.node.startswith("Physical") else "Logical"
    text, fix = _catalog("by-name-not-registered", codec=codec, kind=fn.kind, function=fn.name)
    fix += (
        " Register it in the pool initializer with `datafusion.ipc.set_worker_ctx(ctx)`; then run "
        "`exprtool check --worker-ctx module:factory BLOB` to confirm."
    )
    if t.functions is not None:
        where = "the worker ctx does not register it"
    else:
        where = "it is not a datafusion built-in and no --worker-ctx was given to show where it is registered"
    why = f"{fn.kind} function '{fn.name}' travels by name only; {where}"
    return [_at(fn, "by-name-not-registered", "error", "plan", text, fix, why)]


def dfpy_finding(w: Finding, function: str | None) -> Finding:
    """A DFPY framing problem (an inspection warning the dfpy layer gave its catalog id) as check reports it."""
    cid = w.catalog_id or w.id
    entry = CATALOG.get(cid)
    fix = (
        entry.fix
        if entry
        else ("Ship the bytes unchanged and pin the same datafusion version on sender and receiver.")
    )
    return Finding(
        id=cid,
        severity="error",
        layer=w.layer,
        offset=w.offset,
        function=w.function or function,
        datafusion_text=w.datafusion_text,
        fix=fix,
        message=f"read from the DFPY framing ({w.id})",
    )
