"""Pre-flight check: every failure a receiver would hit decoding this blob, predicted without running it.

``check_inspection(insp, target)`` compares a static ``Inspection`` with a ``Target`` (the receiving
interpreter and worker context) and returns one ``CheckFinding`` per problem, each carrying the text
datafusion 55 would raise (built by ``dfpy``'s message builders and ``error_catalog`` templates), the
catalog id ``explain`` gives that text, and the fix. Nothing in the blob is executed; only building a
Target from a worker ctx imports datafusion (and the user's factory module).

Findings are listed per payload in the order a receiver meets them: protobuf decoding first (a blob too
deep or cut short fails before any function is looked at), then each function by byte offset, each in
datafusion's own order (codec envelope, wire version, Python stamp, strict receiver, cloudpickle imports).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from . import dfpy
from .builtin_functions import DATAFUSION_VERSION, is_builtin
from .error_catalog import CATALOG, render
from .errors import DecodeError
from .inspection import SEMANTIC_PREFIX
from .model import FunctionInfo, Inspection
from .proto.scan import DATAFUSION_DECODE_DEPTH_LIMIT
from .proto.semantics import IDS as SEMANTIC_IDS

SEVERITIES = ("info", "warning", "error")
KINDS = ("scalar", "aggregate", "window")
#: information_schema.routines function_type -> FunctionInfo.kind
ROUTINE_KINDS = {"SCALAR": "scalar", "AGGREGATE": "aggregate", "WINDOW": "window"}
#: the oneof prost names in its error path for each top-level message
TOP_ONEOF = {
    "LogicalExprNode": "expr_type",
    "LogicalPlanNode": "logical_plan_type",
    "PhysicalPlanNode": "physical_plan_type",
}
#: dfpy framing problems (inspection warnings) -> catalog id; the rest keep their dfpy id
DFPY_IDS = {
    "dfpy-wire-version": "wire-version-unsupported",
    "dfpy-envelope-version": "envelope-version-unsupported",
    "dfpy-truncated": "header-truncated",
    "dfpy-envelope-truncated": "envelope-truncated",
    "dfpy-envelope-codec-id": "envelope-codec-id-invalid",
    "dfpy-family-mismatch": "family-mismatch",
}
#: inspection warnings whose static reader failed where the receiver's decoder fails too
LAYER_ERROR_IDS = ("layer-error", "udf-tuple-shape", "udf-schema-not-bytes")
SEMANTIC_FIX = (
    "The blob was altered in transit (a flipped bit, a text conversion) or written by another datafusion "
    "version: re-create it on the sender and ship raw bytes; `exprtool inspect BLOB` shows the node."
)
SUSPICIOUS_FIX = (
    "Do not decode it: the receiver would execute it. Find out who produced it and how it reached you "
    "(`exprtool inspect BLOB` lists every global and call); re-create the blob from a trusted sender."
)
#: protocol 0-2 pickles name Python 2 modules; the unpickler maps them (fix_imports) before importing
PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
#: top-level packages whose submodules check may look up with find_spec (it imports the parent)
TRUSTED_PARENTS = ("datafusion", "pyarrow", "cloudpickle")
#: sensitive kinds reported as warnings (literals and version strings are in nearly every blob)
SENSITIVE_KINDS = {
    "path": "an absolute path",
    "captured-value": "a value captured by a UDF (closure / global)",
    "table-rows": "table rows",
    "statistics": "column statistics (min/max values)",
}
#: the part of prost's too-deep error that does not depend on the path (the path repeats per level)
DEEP_TEXT = "recursion limit reached"
POOL_NOTE = (
    " Note: `datafusion.ipc.set_sender_ctx` is thread-local and multiprocessing.Pool pickles task arguments "
    "in its task-handler thread, so a sender ctx set in the driver's main thread is silently ignored by Pool: "
    "serialize explicitly (`expr.to_bytes(ctx)`, or `pickle.dumps` inside `set_sender_ctx` in the calling "
    "thread) and ship the bytes."
)


@dataclass
class CheckFinding:
    """One failure (error) or risk (warning) a receiver would meet."""

    id: str  # error_catalog id when datafusion has a message for it (explain maps the text to the same id)
    severity: str  # "error" | "warning" | "info"
    layer: str
    offset: int | None  # absolute byte offset in the decoded input
    function: str | None
    message: (
        str  # what datafusion would raise: a substring of its error text (empty for warnings it never raises)
    )
    fix: str
    detail: str = ""  # check's own words: why, and what it compared


# check_damage builds CheckFindings: imported once the class exists
from .check_damage import (  # noqa: E402, F401  (re-exported: check's public surface)
    _CUT_PICKLE,
    DATAFUSION_MARK,
    broken_pickle_finding,
    frame_findings,
    layer_error,
    memory_partitions,
)


@dataclass
class CheckReport:
    path: str
    target: dict[str, Any]  # Target.describe()
    findings: list[CheckFinding] = field(default_factory=list)

    @property
    def errors(self) -> list[CheckFinding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[CheckFinding]:
        return [f for f in self.findings if f.severity == "warning"]

    def fails(self, fail_on: str = "error") -> bool:
        """True when a finding is at least ``fail_on`` ("error" or "warning")."""
        floor = SEVERITIES.index(fail_on)
        return any(SEVERITIES.index(f.severity) >= floor for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "target": self.target, "findings": [asdict(f) for f in self.findings]}


def _find_spec(module: str) -> bool:
    top = module.split(".")[0]  # find_spec on a dotted name imports the parents: stay at the top
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


@dataclass
class Target:
    """The receiver: its interpreter, what it can import, what its worker ctx registers and installs."""

    python: tuple[int, int] = tuple(sys.version_info[:2])  # type: ignore[assignment]
    importable: Callable[[str], bool | None] = (
        _find_spec  # None: unknown (a fingerprint that did not record it)
    )
    functions: dict[str, frozenset[str]] | None = None  # kind -> names; None: only the built-ins are known
    codec_ids: tuple[str, ...] | None = ()  # logical extension codecs; None: unknown
    physical_codec_ids: tuple[str, ...] | None = ()
    strict: bool = False  # with_python_udf_inlining(enabled=False)
    datafusion: str = DATAFUSION_VERSION
    source: str = "this interpreter"

    def has_function(self, name: str, kind: str) -> bool:
        if self.functions is None:
            return is_builtin(name, kind)
        return name in self.functions.get(kind, frozenset())

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "python": py_text(self.python),
            "datafusion": self.datafusion,
            "strict": self.strict,
            "worker_ctx": self.functions is not None,
            "codec_ids": list(self.codec_ids) if self.codec_ids is not None else None,
            "physical_codec_ids": list(self.physical_codec_ids)
            if self.physical_codec_ids is not None
            else None,
        }


def py_text(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def parse_python(text: str) -> tuple[int, int]:
    """``"3.12"`` -> (3, 12); ValueError otherwise."""
    major, sep, minor = text.strip().partition(".")
    if not sep or not major.isdigit() or not minor.split(".")[0].isdigit():
        raise ValueError(f"--python {text!r} is not X.Y (e.g. 3.12)")
    return int(major), int(minor.split(".")[0])


def ctx_functions(ctx: Any) -> dict[str, frozenset[str]]:
    """Every function ``ctx`` resolves by name, by kind: built-ins (minus any deregistered) and registered UDFs.

    Read from ``information_schema.routines``, switched on for this ctx with SET (it only adds the
    information_schema catalog).
    """
    ctx.sql("SET datafusion.catalog.information_schema = true").collect()
    table = ctx.sql(
        "SELECT DISTINCT routine_name, function_type FROM information_schema.routines"
    ).to_pydict()
    out: dict[str, set[str]] = {k: set() for k in KINDS}
    for name, ftype in zip(table["routine_name"], table["function_type"], strict=True):
        kind = ROUTINE_KINDS.get(str(ftype).upper())
        if kind is not None:
            out[kind].add(name)
    return {k: frozenset(v) for k, v in out.items()}


def target_from_ctx(
    ctx: Any, *, python: tuple[int, int] | None = None, strict: bool = False, source: str = "worker ctx"
) -> Target:
    """A Target whose functions and codecs are what ``ctx`` actually registers and installs."""
    import datafusion

    return Target(
        python=python or tuple(sys.version_info[:2]),  # type: ignore[arg-type]
        functions=ctx_functions(ctx),
        codec_ids=tuple(ctx.logical_extension_codec_ids()),
        physical_codec_ids=tuple(ctx.physical_extension_codec_ids()),
        strict=strict,
        datafusion=datafusion.__version__,
        source=source,
    )


def target_from_fingerprint(
    doc: dict[str, Any], base: Target | None = None, source: str = "fingerprint"
) -> Target:
    """Python, datafusion version and module importability from a ``capture`` fingerprint.

    Modules the fingerprint did not record are unknown (importable -> None). A fingerprint records no
    codec ids, so those stay as ``base`` has them (a --worker-ctx), else unknown.
    """
    base = base or Target()
    minor = str(doc.get("python", {}).get("minor") or doc.get("python", {}).get("version", ""))
    modules = doc.get("modules", {}) or {}

    def importable(module: str) -> bool | None:
        entry = modules.get(module) or modules.get(module.split(".")[0])
        return None if entry is None else bool(entry.get("importable"))

    has_ctx = base.functions is not None
    return Target(
        python=parse_python(minor) if minor else base.python,
        importable=importable,
        functions=base.functions,
        codec_ids=base.codec_ids if has_ctx else None,
        physical_codec_ids=base.physical_codec_ids if has_ctx else None,
        strict=base.strict,
        datafusion=str((doc.get("packages") or {}).get("datafusion") or "unknown"),
        source=source,
    )


# --------------------------------------------------------------------------------------------- the check


def _catalog(cid: str, **fields: str | None) -> tuple[str, str]:
    """(datafusion text, fix) of catalog entry ``cid`` filled with ``fields``."""
    entry = CATALOG[cid]
    return render(entry.datafusion_text, fields), render(entry.fix, fields)


def _at(
    fn: FunctionInfo, cid: str, severity: str, layer: str, message: str, fix: str, why: str
) -> CheckFinding:
    """A finding about function ``fn``, at its offset."""
    return CheckFinding(cid, severity, layer, fn.offset, fn.name, message, fix, why)


def check_inspection(
    insp: Inspection, target: Target, *, pickle_globals: list[tuple[str, int]] | None = None
) -> CheckReport:
    """Every failure ``target`` would hit decoding the inspected blob, in the order it would meet them.

    ``pickle_globals``: (module, offset) of every global the outer pickle imports (``check_loaded`` reads
    them): a module the target cannot import fails ``pickle.loads`` before datafusion runs.
    """
    report = CheckReport(path=insp.input.path, target=target.describe())
    out = report.findings
    major = DATAFUSION_VERSION.split(".")[0]
    if target.datafusion.split(".")[0] != major:
        fix = f"Install datafusion {major}.x on the target: wire-format and built-in checks are datafusion {major}'s."
        why = f"the target runs datafusion {target.datafusion}; this check knows datafusion {DATAFUSION_VERSION}"
        out.append(
            CheckFinding("datafusion-version-differs", "warning", "container", None, None, "", fix, why)
        )
    out += _suspicious(insp)
    out += _outer_modules(pickle_globals or [], target)
    for w in insp.warnings:
        if w.id == "too-deep":
            text, fix = _catalog("too-deep")
            why = (
                f"nesting depth {insp.depth} exceeds datafusion's decode limit ({DATAFUSION_DECODE_DEPTH_LIMIT} "
                f"nested messages); datafusion says: {text}"
            )
            out.append(CheckFinding("too-deep", "error", "protobuf", w.offset, None, DEEP_TEXT, fix, why))
    out += _semantic(insp)
    dfpy_problems: dict[str | None, list] = {}
    broken: dict[str | None, list[CheckFinding]] = {}
    for w in insp.warnings:
        if w.id in DFPY_IDS:
            dfpy_problems.setdefault(w.function, []).append(w)
        elif w.id in LAYER_ERROR_IDS:
            broken.setdefault(w.function, []).append(layer_error(w))
    for f in insp.safety.findings:  # a stream the reader gave up on without a layer-error warning
        if f.id == "unreadable-payload" and not any(b.offset == f.offset for b in broken.get(f.function, [])):
            broken.setdefault(f.function, []).append(layer_error(f))
    physical = any(p.message == "PhysicalPlanNode" for p in insp.payloads)
    for fn in sorted(insp.functions, key=lambda f: (f.offset is None, f.offset or 0)):
        if fn.transport == "inline":
            problems = dfpy_problems.pop(fn.name, [])
            out += _inline(fn, target, problems, physical, broken.pop(fn.name, []))
        else:
            out += _named(fn, target, physical)
    for problems in dfpy_problems.values():  # problems of functions the manifest did not list
        out += [_dfpy(p, None) for p in problems]
    for findings in broken.values():
        out += findings
    out += memory_partitions(insp)
    out += _sensitive(insp)
    return report


def _semantic(insp: Inspection) -> list[CheckFinding]:
    """What datafusion's from_proto refuses though prost reads it (inspection's semantics warnings)."""
    out: list[CheckFinding] = []
    for w in insp.warnings:
        if w.id in SEMANTIC_IDS:
            text = w.message.removeprefix(SEMANTIC_PREFIX)
            why = f"the protobuf decodes, but the node at byte {w.offset} is one datafusion refuses: {text}"
            out.append(CheckFinding(w.id, "error", "protobuf", w.offset, None, text, SEMANTIC_FIX, why))
        elif w.id == "message-guess-weak":
            fix = "Give the message type: `exprtool check --message expr|logical|physical BLOB`."
            out.append(CheckFinding(w.id, "warning", "protobuf", w.offset, None, "", fix, w.message))
    return out


def _suspicious(insp: Inspection) -> list[CheckFinding]:
    """A suspicious safety verdict is an error: the receiver would run it, and nothing would fail."""
    out: list[CheckFinding] = []
    for f in insp.safety.findings:
        if f.verdict != "suspicious":
            continue
        where = f"{f.layer} layer" + (f", byte {f.offset}" if f.offset is not None else "")
        why = (
            f"found: {f.message} ({where}); datafusion and cloudpickle never write this; a receiver "
            "would import and call what it names while decoding"
        )
        out.append(
            CheckFinding(
                "suspicious-payload", "error", f.layer, f.offset, f.function, "", SUSPICIOUS_FIX, why
            )
        )
    return out


def _outer_modules(pickle_globals: list[tuple[str, int]], t: Target) -> list[CheckFinding]:
    """Modules ``pickle.loads`` imports for the outer pickle's globals, that the target lacks."""
    out: list[CheckFinding] = []
    seen: set[str] = set()
    for module, offset in pickle_globals:
        module = PY2_MODULES.get(module, module)
        if module in seen:
            continue
        seen.add(module)
        top = module.split(".")[0]
        ok = t.importable(module)
        if ok and "." in module and top in TRUSTED_PARENTS and t.importable is _find_spec:
            ok = _find_submodule(module)
        if ok is None or ok:
            continue
        missing = top if not t.importable(top) else module
        fix = (
            f"`pickle.loads` imports '{module}' before datafusion runs. An Expr pickle imports only builtins, "
            "copyreg, _codecs and datafusion.expr: a misspelt name means damaged bytes (re-create the blob and "
            f"ship it raw); otherwise install '{missing}' on the receiver."
        )
        why = f"the outer pickle imports '{module}' at byte {offset}; {t.source} cannot import it"
        text = f"No module named '{missing}'"
        out.append(CheckFinding("module-missing", "error", "pickle", offset, None, text, fix, why))
    return out


def _find_submodule(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _inline(
    fn: FunctionInfo, t: Target, problems: list, physical: bool, broken: list[CheckFinding]
) -> list[CheckFinding]:
    """datafusion's order: envelope codec, wire version, Python stamp, strict receiver, cloudpickle imports.

    Past the first failure the later ones are still listed: they are what the receiver meets once the
    first is fixed (a Python mismatch does not hide a strict receiver).
    """
    out: list[CheckFinding] = []
    kind = fn.kind
    installed = t.physical_codec_ids if physical else t.codec_ids
    if any(p.id == "dfpy-envelope-codec-id" for p in problems):  # datafusion stops at the unreadable id
        return out + [_dfpy(p, fn.name) for p in problems] + broken
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
            return out + [_dfpy(p, fn.name) for p in problems] + broken  # datafusion stops at the envelope
    mismatch = next((p for p in problems if p.id == "dfpy-family-mismatch"), None)
    if mismatch is not None:  # the node's codec does not read another family's frame: nothing else is reached
        codec = "Physical" if physical or fn.node.startswith("Physical") else "Logical"
        text, fix = _catalog("family-mismatch", codec=codec, kind=kind, function=fn.name)
        why = (
            f"{mismatch.message}: datafusion's {kind} codec does not read that frame and falls back to a codec "
            "that has none (registering the function on the worker does not help)"
        )
        return out + [CheckFinding("family-mismatch", "error", "dfpy", mismatch.offset, fn.name, text, fix, why)]
    out += [_dfpy(p, fn.name) for p in problems]
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
    return out + (broken or _modules(fn, t))


def _foreign(fn: FunctionInfo, installed: tuple[str, ...] | None, physical: bool) -> list[CheckFinding]:
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


def _modules(fn: FunctionInfo, t: Target) -> list[CheckFinding]:
    out: list[CheckFinding] = []
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


def _named(fn: FunctionInfo, t: Target, physical: bool) -> list[CheckFinding]:
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


def _dfpy(w, function: str | None) -> CheckFinding:
    cid = DFPY_IDS.get(w.id, w.id)
    entry = CATALOG.get(cid)
    fix = (
        entry.fix
        if entry
        else ("Ship the bytes unchanged and pin the same datafusion version on sender and receiver.")
    )
    return CheckFinding(
        cid,
        "error",
        w.layer,
        w.offset,
        w.function or function,
        w.message,
        fix,
        f"read from the DFPY framing ({w.id})",
    )


def _sensitive(insp: Inspection) -> list[CheckFinding]:
    out: list[CheckFinding] = []
    seen: set[tuple] = set()
    for s in insp.sensitive:
        if s.kind not in SENSITIVE_KINDS or (s.kind, s.text) in seen:
            continue
        seen.add((s.kind, s.text))
        what = SENSITIVE_KINDS[s.kind]
        fix = {
            "path": "Anyone who reads the blob sees it. Use relative paths / object-store URLs, or accept it.",
            "captured-value": "Pass secrets to the worker another way (environment, worker ctx) instead of "
            "capturing them in the UDF's closure or globals.",
            "table-rows": "Register the data on the worker (parquet / Arrow IPC) instead of shipping a memory "
            "table inside the plan.",
            "statistics": "Column min/max values travel with physical parquet scans; ship the logical plan "
            "instead if they are confidential.",
        }[s.kind]
        preview = s.text if len(s.text) <= 120 else s.text[:117] + "..."
        out.append(
            CheckFinding(
                f"sensitive-{s.kind}",
                "warning",
                s.layer,
                s.offset,
                s.function,
                "",
                fix,
                f"in clear text: {what}: {preview}",
            )
        )
    return out


def decode_error_finding(
    err: DecodeError, message: str | None, *, sure: bool, data: bytes | None = None
) -> CheckFinding | None:
    """The receiver's failure for a blob the static decoder could not read, or None (not a receiver error).

    Protobuf-layer errors are what datafusion's prost decode raises too: reported as findings (exit 1)
    with their byte offset. ``sure``: the top-level message type is known (pickle container or --message),
    so prost's path prefix can be predicted; a truncated plan may otherwise be detected as an expression.
    ``data``: the protobuf blob itself (offset 0), to say where a truncated blob should have ended.
    """
    if err.layer != "protobuf":
        return None
    text = err.message
    if "Missing required field" in text:
        df, fix = _catalog("empty-blob")
        return CheckFinding("empty-blob", "error", "protobuf", err.offset, None, df, fix, str(err))
    head, _, _ = text.partition(": ")
    top = head.split(".")[0]
    single = "." in head and head.count(".") == 1 and top in TOP_ONEOF
    if "truncated varint" in text or "truncated length" in text:
        cid, what = "protobuf-garbage", "invalid varint"
    elif "buffer underflow" in text:
        cid, what = "protobuf-truncated", "buffer underflow"
    else:
        cid, what = "protobuf-garbage", ""
    _, fix = _catalog(cid, detail=what or text)
    if what and single and sure and (message is None or message == top):
        predicted = f"failed to decode Protobuf message: {top}.{TOP_ONEOF[top]}: {what}"
    elif what == "invalid varint" and head in TOP_ONEOF and sure:  # the first key itself is cut
        predicted = f"failed to decode Protobuf message: {what}"
    else:
        predicted = what
    detail = f"the blob cannot be decoded at byte {err.offset}: {text}"
    if cid == "protobuf-truncated" and data is not None:
        from .explain import declared_end

        end = declared_end(data)
        if end is not None:
            detail += (
                f"; the data stops at byte {end['size']} but the field at byte {end['tag_offset']} runs to "
                f"byte {end['declared_end']} ({end['missing']} bytes missing)"
            )
    return CheckFinding(cid, "error", "protobuf", err.offset, None, predicted, fix, detail)


def check_loaded(loaded: Any, target: Target, *, message: str | None = None) -> CheckReport:
    """Inspect ``loaded`` (inputs.LoadedInput) and check it; a blob datafusion would refuse is a finding.

    A truncated or corrupted datafusion blob (a protobuf, or a pickle that names datafusion) is a finding:
    the receiver fails on it too. Raises DecodeError only for input that is not a datafusion blob at all
    (a pickle of something else, a pickle cut before anything datafusion): the CLI's exit 3.
    """
    from . import pickle_vm
    from .inspection import inspect_loaded, resolve_message

    message = resolve_message(message)
    data = loaded.data
    try:
        if loaded.info.container == "protobuf" and _CUT_PICKLE.match(data):
            pickle_vm.run(data)  # a protocol 0/1 pickle cut before its STOP reads as "protobuf": raises
        insp = inspect_loaded(loaded, message=message)
        names = None
        if loaded.info.container == "pickle" and insp.safety.verdict == "suspicious":  # else: the usual few
            names = [(g.module, g.offset) for g in pickle_vm.run(data).globals]
        report = check_inspection(insp, target, pickle_globals=names)
        if loaded.info.container == "pickle":
            report.findings[:0] = frame_findings(data)
        return report
    except DecodeError as err:
        sure = loaded.info.container == "pickle" or message is not None
        proto = data if loaded.info.container == "protobuf" else None
        finding = decode_error_finding(err, message, sure=sure, data=proto)
        if finding is None and err.layer == "pickle":
            finding = broken_pickle_finding(err, data)
        if finding is None:
            raise
        return CheckReport(path=loaded.info.path, target=target.describe(), findings=[finding])


def check_bytes(data: bytes, target: Target | None = None, *, message: str | None = None) -> CheckReport:
    """``check_loaded`` for a blob in memory (pickle, protobuf, base64 or hex text)."""
    from .inputs import load_bytes

    return check_loaded(load_bytes(data), target or Target(), message=message)
