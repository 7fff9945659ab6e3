"""Pre-flight check: every failure a receiver would hit decoding this blob, predicted without running it.

``check_inspection(insp, target)`` compares a static ``Inspection`` with a ``Target`` (the receiving
interpreter and worker context) and returns a ``CheckReport`` of ``Finding``s, each carrying the text
datafusion 55 would raise (built by ``layers.dfpy``'s message builders and ``catalog`` templates), the
catalog id ``explain`` gives that text, and the fix. Nothing in the blob is executed; only building a
Target from a worker ctx imports datafusion (and the user's factory module).

The check is a fixed sequence of passes (``PASSES``), each reading the inspection and yielding its
findings, listed in the order a receiver meets them: what stops it before datafusion reads anything (a
suspicious payload, a module the outer pickle imports), then protobuf decoding (a blob too deep or read
as the wrong message, a node from_proto refuses, a nested literal that does not read), then each function
by byte offset in datafusion's own order (``functions``: codec envelope, wire version, Python stamp,
strict receiver, cloudpickle imports), then memory-table rows, placeholders with no value (``placeholders``:
the planner refuses them), a plan's data as this machine has it
(``plan_data``: files gone, columns missing, object stores, the partition work-stealing trap) and what
travels in clear text.
``check_loaded`` puts a damaged pickle FRAME first (``pickle.loads`` refuses it before anything else) and
turns a blob the static reader cannot decode into the one finding the receiver meets (``damage``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datafusion_exprtool.catalog import deep_target
from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.builtins import DATAFUSION_VERSION
from datafusion_exprtool.layers.proto.roots import PLAN_MESSAGES
from datafusion_exprtool.layers.proto.scan import DATAFUSION_DECODE_DEPTH_LIMIT
from datafusion_exprtool.model import ARROW_DAMAGE_IDS, DAMAGE_IDS, FROM_PROTO_IDS, Finding, Inspection
from datafusion_exprtool.reports.check.damage import (
    CUT_PICKLE,
    LOCAL_RECEIVER_IDS,
    broken_pickle_finding,
    damage_finding,
    decode_error_finding,
    frame_findings,
    layer_error,
    memory_partitions,
    nested_literals,
    semantic_findings,
)
from datafusion_exprtool.reports.check.findings import CheckReport
from datafusion_exprtool.reports.check.findings import catalog_text as _catalog
from datafusion_exprtool.reports.check.functions import (
    dfpy_finding,
    inline_findings,
    named_findings,
)
from datafusion_exprtool.reports.check.placeholders import placeholder_findings
from datafusion_exprtool.reports.check.plan_data import plan_data_findings
from datafusion_exprtool.reports.check.target import (
    Target,
    find_submodule,
    find_top_spec,
)

#: receiver failures met once the stream is unpickled (after the imports it makes): listed after them
LATE_IDS = ("udf-volatility-unknown",)
#: damage of the protobuf (from_proto) and of Arrow IPC values: reported by their own passes, not per function
OWN_PASS_IDS = FROM_PROTO_IDS | ARROW_DAMAGE_IDS
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
    "option": "a table option (CREATE EXTERNAL TABLE … OPTIONS: credentials go there)",
}
#: the part of prost's too-deep error that does not depend on the path (the path repeats per level)
DEEP_TEXT = "recursion limit reached"


@dataclass
class _Case:
    """What every pass reads: the inspection, the target, and the globals the outer pickle imports."""

    insp: Inspection
    target: Target
    pickle_globals: list[tuple[str, int]]


def check_inspection(
    insp: Inspection, target: Target, *, pickle_globals: list[tuple[str, int]] | None = None
) -> CheckReport:
    """Every failure ``target`` would hit decoding the inspected blob, in the order it would meet them.

    ``pickle_globals``: (module, offset) of every global the outer pickle imports (``check_loaded`` reads
    them): a module the target cannot import fails ``pickle.loads`` before datafusion runs.
    """
    report = CheckReport(path=insp.input.path, target=target.describe(), inspection=insp)
    case = _Case(insp, target, pickle_globals or [])
    for check_pass in PASSES:
        report.findings += check_pass(case)
    errors = {f.offset for f in report.findings if f.severity == "error"}
    for w in insp.damage:  # every layer inspect calls unreadable (its exit 3) is an error here too
        if w.offset not in errors:
            report.findings.append(damage_finding(w))
    return report


def _version(case: _Case) -> list[Finding]:
    """A target on another datafusion major: the wire format and built-ins checked here may not be its."""
    target = case.target
    major = DATAFUSION_VERSION.split(".")[0]
    if target.datafusion.split(".")[0] == major:
        return []
    fix = f"Install datafusion {major}.x on the target: wire-format and built-in checks are datafusion {major}'s."
    why = f"the target runs datafusion {target.datafusion}; this check knows datafusion {DATAFUSION_VERSION}"
    return [
        Finding(id="datafusion-version-differs", severity="warning", layer="container", fix=fix, message=why)
    ]


def _decoding(case: _Case) -> list[Finding]:
    """prost's refusals: a blob nested past datafusion's decode limit, bytes forced to the wrong message."""
    out: list[Finding] = []
    for w in case.insp.warnings:
        if w.id == "too-deep":
            target, stacked = _what_nests(case.insp)
            text, fix = _catalog("too-deep", target=target)
            why = (
                f"nesting depth {case.insp.depth} exceeds datafusion's decode limit "
                f"({DATAFUSION_DECODE_DEPTH_LIMIT} nested messages){stacked}; datafusion says: {text}"
            )
            out.append(
                Finding(
                    id="too-deep",
                    severity="error",
                    layer="protobuf",
                    offset=w.offset,
                    datafusion_text=DEEP_TEXT,
                    fix=fix,
                    message=why,
                )
            )
        elif w.id == "message-forced-mismatch":  # the forced decoder refuses these bytes or misreads them
            _, fix = _catalog("wrong-message-type")
            out.append(
                Finding(
                    id="wrong-message-type",
                    severity="error",
                    layer="protobuf",
                    offset=w.offset,
                    fix=fix,
                    message=w.message,
                )
            )
    return out


def _what_nests(insp: Inspection) -> tuple[str, str]:
    """(too-deep's target: what nests, the words saying so) for the deepest payload. In a plan, the plan nodes
    stacked on its longest chain (each two nested messages) against the depth they leave to expressions."""
    from collections import Counter

    from datafusion_exprtool.text.plan import deepest_chain

    payload = max(insp.payloads, key=lambda p: p.depth, default=None)
    if payload is None or payload.message not in PLAN_MESSAGES or payload.root is None:
        return deep_target(insp.message, 0, 1), ""
    chain = deepest_chain(payload.root)
    plan_levels = 2 * len(chain)
    target = deep_target(payload.message, plan_levels, payload.depth - plan_levels)
    kinds = Counter(chain).most_common()
    shown = ", ".join(f"{n} {label}" for label, n in kinds[:4]) + (", …" if len(kinds) > 4 else "")
    return target, f": the plan stacks {len(chain)} nodes on its longest path ({shown}), two nested messages each"


def _functions(case: _Case) -> list[Finding]:
    """Each function by byte offset, each in datafusion's order; the inspection warnings about a function's
    frame or stream are listed with it, where the receiver meets them."""
    insp, target = case.insp, case.target
    out: list[Finding] = []
    dfpy_problems: dict[str | None, list[Finding]] = {}
    broken: dict[str | None, list[Finding]] = {}
    late: dict[str | None, list[Finding]] = {}  # met after the stream is unpickled (its imports done)
    for w in insp.warnings:  # a warning a layer gave a catalog id is what the receiver meets
        if w.layer == "dfpy" and w.catalog_id is not None:  # a framing problem
            dfpy_problems.setdefault(w.function, []).append(w)
        elif w.layer == "pickle":  # the outer pickle's damage: frame_findings, met first
            continue
        elif w.id in OWN_PASS_IDS:  # protobuf and Arrow IPC damage: their own passes report it
            continue
        elif w.id in DAMAGE_IDS or w.catalog_id is not None:  # the damage inspect exits 3 on
            finding = layer_error(w)
            if w.id in LOCAL_RECEIVER_IDS and target.importable is not find_top_spec:
                finding.severity = "warning"  # looked up in this interpreter's module, not the target's
            (late if w.id in LATE_IDS else broken).setdefault(w.function, []).append(finding)
    for f in insp.safety.findings:  # a stream the reader gave up on without a layer-error warning
        if f.id == "unreadable-payload" and not any(b.offset == f.offset for b in broken.get(f.function, [])):
            broken.setdefault(f.function, []).append(layer_error(f))
    physical = any(p.message == "PhysicalPlanNode" for p in insp.payloads)
    for fn in sorted(insp.functions, key=lambda f: (f.offset is None, f.offset or 0)):
        if fn.transport == "inline":
            problems = dfpy_problems.pop(fn.name, [])
            out += inline_findings(fn, target, problems, physical, broken.pop(fn.name, []))
            out += late.pop(fn.name, [])
        else:
            out += named_findings(fn, target, physical)
    for problems in dfpy_problems.values():  # problems of functions the manifest did not list
        out += [dfpy_finding(p, None) for p in problems]
    for findings in [*broken.values(), *late.values()]:
        out += findings
    return out


def _suspicious(case: _Case) -> list[Finding]:
    """A suspicious safety verdict is an error: the receiver would run it, and nothing would fail."""
    out: list[Finding] = []
    for f in case.insp.safety.findings:
        if f.verdict != "suspicious" or f.id == "unreadable-payload":  # the damage pass says what datafusion raises
            continue
        where = f"{f.layer} layer" + (f", byte {f.offset}" if f.offset is not None else "")
        why = (
            f"found: {f.message} ({where}); datafusion and cloudpickle never write this; a receiver "
            "would import and call what it names while decoding"
        )
        out.append(
            Finding(
                id="suspicious-payload",
                severity="error",
                layer=f.layer,
                offset=f.offset,
                function=f.function,
                fix=SUSPICIOUS_FIX,
                message=why,
            )
        )
    return out


def _outer_modules(case: _Case) -> list[Finding]:
    """Modules ``pickle.loads`` imports for the outer pickle's globals, that the target lacks."""
    t = case.target
    out: list[Finding] = []
    seen: set[str] = set()
    for module, offset in case.pickle_globals:
        module = PY2_MODULES.get(module, module)
        if module in seen:
            continue
        seen.add(module)
        top = module.split(".")[0]
        ok = t.importable(module)
        if ok and "." in module and top in TRUSTED_PARENTS and t.importable is find_top_spec:
            ok = find_submodule(module)
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
        out.append(
            Finding(
                id="module-missing",
                severity="error",
                layer="pickle",
                offset=offset,
                datafusion_text=text,
                fix=fix,
                message=why,
            )
        )
    return out


def _sensitive(case: _Case) -> list[Finding]:
    """What travels in clear text (paths, captured values, table rows, statistics): warnings."""
    out: list[Finding] = []
    seen: set[tuple] = set()
    for s in case.insp.sensitive:
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
            "option": "Anyone who reads the blob sees it. Configure credentials on the worker (its object store "
            "or session) instead of in the statement's OPTIONS.",
        }[s.kind]
        preview = s.text if len(s.text) <= 120 else s.text[:117] + "..."
        out.append(
            Finding(
                id=f"sensitive-{s.kind}",
                severity="warning",
                layer=s.layer,
                offset=s.offset,
                function=s.function,
                fix=fix,
                message=f"in clear text: {what}: {preview}",
            )
        )
    return out


#: check_inspection's passes, in the order a receiver meets what each finds
PASSES: tuple[Callable[[_Case], list[Finding]], ...] = (
    lambda case: frame_findings(case.insp),
    _version,
    _suspicious,
    _outer_modules,
    _decoding,
    lambda case: semantic_findings(case.insp),
    lambda case: nested_literals(case.insp),
    _functions,
    lambda case: memory_partitions(case.insp),
    lambda case: placeholder_findings(case.insp),
    lambda case: plan_data_findings(case.insp),
    _sensitive,
)


def check_loaded(loaded: Any, target: Target, *, message: str | None = None) -> CheckReport:
    """Inspect ``loaded`` (a ``layers.container.LoadedInput``) and check it; a blob datafusion would refuse is a finding.

    A truncated or corrupted datafusion blob (a protobuf, or a pickle that names datafusion) is a finding:
    the receiver fails on it too. Raises DecodeError only for input that is not a datafusion blob at all
    (a pickle of something else, a pickle cut before anything datafusion): the CLI's exit 3.
    """
    from datafusion_exprtool.inspection.pipeline import inspect_loaded, resolve_message
    from datafusion_exprtool.layers.pickle import vm as pickle_vm

    message = resolve_message(message)
    if message is None and loaded.info.container == "pickle":  # Expr._reconstruct only ever reads an expr
        message = resolve_message("expr")
    data = loaded.data
    try:
        if loaded.info.container == "protobuf" and CUT_PICKLE.match(data):
            pickle_vm.run(data)  # a protocol 0/1 pickle cut before its STOP reads as "protobuf": raises
        insp = inspect_loaded(loaded, message=message)
        names = None
        if loaded.info.container == "pickle" and insp.safety.verdict == "suspicious":  # else: the usual few
            names = [(g.module, g.offset) for g in pickle_vm.run(data).globals]
        return check_inspection(insp, target, pickle_globals=names)
    except DecodeError as err:
        sure = loaded.info.container == "pickle" or message is not None
        proto = data if loaded.info.container == "protobuf" else None
        payload = proto if proto is not None else _pickled_payload(data, loaded.info.container)
        finding = decode_error_finding(err, message, sure=sure, data=proto, payload=payload)
        if finding is None and err.layer == "pickle":
            finding = broken_pickle_finding(err, data)
        if finding is None:
            raise
        return CheckReport(path=loaded.info.path, target=target.describe(), findings=[finding])


def _pickled_payload(data: bytes, container: str) -> bytes | None:
    """The protobuf bytes a pickled Expr carries (read statically), for prost's exact error text."""
    from datafusion_exprtool.layers.pickle import vm as pickle_vm
    from datafusion_exprtool.layers.pickle.expr_payload import find_expr_payloads

    if container != "pickle":
        return None
    try:
        found = find_expr_payloads(pickle_vm.run(data))
    except DecodeError:
        return None
    return found[0].data if len(found) == 1 else None


def check_bytes(data: bytes, target: Target | None = None, *, message: str | None = None) -> CheckReport:
    """``check_loaded`` for a blob in memory (pickle, protobuf, base64 or hex text)."""
    from datafusion_exprtool.layers.container import load_bytes

    return check_loaded(load_bytes(data), target or Target(), message=message)
