"""Semantic diff of two blobs: expression tree, functions and safety, from the static inspection only.

Byte equality is the wrong question: a pickle and a raw ``to_bytes`` of the same expression differ in
every byte, and two pickles of the same by-value class differ in cloudpickle's random class-tracker id
(fact sheet §2.5). So the diff compares what the bytes mean, and explains byte differences that mean
nothing in notes. Nothing is decoded with datafusion and nothing in either blob is executed.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.layers.cloudpickle.code_args import CODE_ARGS, CODE_PARAMS
from datafusion_exprtool.layers.container import LoadedInput
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.model import SCHEMA_VERSION, CallableInfo, FunctionInfo, Inspection

# cloudpickle's class_tracker_id: uuid4().hex pickled as SHORT_BINUNICODE (8c 20), in
# _make_skeleton_class / _make_skeleton_enum arguments. Blanked before comparing payload bytes.
_TRACKER_ID = re.compile(rb"(?<=\x8c\x20)[0-9a-f]{32}")
_NAME_FIELDS = (
    "fun_name",
    "name",
    "udwf",
    "udaf",
    "user_defined_window_function",
    "user_defined_aggr_function",
)
#: FunctionInfo fields compared (offsets, sizes and hashes are explained by the byte comparison instead)
_FUNCTION_FIELDS = (
    "transport", "node", "family", "wire_version", "python", "codec_id", "envelope_version", "volatility",
    "input_types", "return_type", "return_field", "state_types", "imports", "occurrences",
)  # fmt: skip
_CALLABLE_LISTS = ("closure", "globals")
_AT = CODE_ARGS[len(CODE_PARAMS)]  # CPython 3.11+ CodeType(...) argument positions
#: the code object parts compared, by position, with the label the diff prints
_CODE_ARGS = {
    _AT["code"]: "bytecode",
    _AT["consts"]: "constants",
    _AT["names"]: "names",
    _AT["varnames"]: "local names",
}


@dataclass
class Difference:
    path: str  # where: "expr", "tree/…", "functions/<name>/…", "safety/verdict", …
    kind: str  # "changed" | "added" | "removed" | "moved" (plan subtrees only)
    a: Any = None
    b: Any = None
    a_path: str | None = None  # plan nodes: where the node sits in a and in b (an insertion above moves it)
    b_path: str | None = None


@dataclass
class DiffResult:
    a: str
    b: str
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.differences


# ----------------------------------------------------------------------------------------------------------
# entry points


def diff_paths(path_a: str, path_b: str) -> DiffResult:
    from datafusion_exprtool.layers.container import load_input

    return diff_loaded(load_input(path_a), load_input(path_b))


def diff_loaded(la: LoadedInput, lb: LoadedInput, *, message: str | None = None) -> DiffResult:
    """Inspect both blobs statically and compare them."""
    from datafusion_exprtool.inspection.pipeline import inspect_loaded

    return diff_inspections(inspect_loaded(la, message=message), inspect_loaded(lb, message=message))


def diff_inspections(ia: Inspection, ib: Inspection) -> DiffResult:
    res = DiffResult(ia.input.path, ib.input.path)
    _input_notes(ia, ib, res)
    if len(ia.payloads) != len(ib.payloads):
        res.differences.append(Difference("payloads", "changed", len(ia.payloads), len(ib.payloads)))
    unexplained: list[str] = []
    trackers = 0
    for i, (pa_, pb_) in enumerate(zip(ia.payloads, ib.payloads, strict=False)):
        where = "" if len(ia.payloads) == 1 else f"payload[{i}]/"
        if pa_.message != pb_.message:
            res.differences.append(Difference(f"{where}message", "changed", pa_.message, pb_.message))
            continue
        raw_a, raw_b = _raw(pa_.root), _raw(pb_.root)
        if raw_a == raw_b:
            continue
        if blank_tracker_ids(raw_a) == blank_tracker_ids(raw_b):
            trackers += _count_tracker_diffs(raw_a, raw_b)
            continue
        before, noted = len(res.differences), len(res.notes)
        if pa_.rendered != pb_.rendered:
            res.differences.append(Difference(f"{where}expr", "changed", pa_.rendered, pb_.rendered))
        res.differences += diff_trees(pa_.root, pb_.root, prefix=f"{where}tree", notes=res.notes)
        code = _diff_fun_definitions(pa_.root, pb_.root, where)
        trackers += code.trackers
        res.differences += code.differences
        if len(res.differences) == before and len(res.notes) == noted:
            unexplained.append(f"{where}payload")
    fn_diffs = diff_functions(ia.functions, ib.functions)
    explained = {d.path.split("/")[1] for d in fn_diffs}
    res.differences = [
        d
        for d in res.differences
        if not (
            d.path.startswith("functions/")
            and d.path.endswith("/payload")
            and d.path.split("/")[1] in explained
        )
    ]
    res.differences += fn_diffs
    res.differences += diff_safety(ia, ib)
    if trackers:
        res.notes.append(
            f"{trackers} cloudpickle class-tracker id(s) differ (random per pickling process, 32 hex chars; "
            "they carry no meaning): treated as equal"
        )
    for where in unexplained if not res.differences else []:
        res.differences.append(Difference(where, "changed", "bytes differ", "no decoded field explains it"))
    return res


# ----------------------------------------------------------------------------------------------------------
# bytes


def blank_tracker_ids(data: bytes) -> bytes:
    return _TRACKER_ID.sub(b"0" * 32, data)


def _count_tracker_diffs(a: bytes, b: bytes) -> int:
    ids_a = [m.group() for m in _TRACKER_ID.finditer(a)]
    ids_b = [m.group() for m in _TRACKER_ID.finditer(b)]
    return sum(1 for x, y in zip(ids_a, ids_b, strict=False) if x != y)


def _raw(root: Any) -> bytes:
    return root.raw() if isinstance(root, Msg) else b""


def _input_notes(ia: Inspection, ib: Inspection, res: DiffResult) -> None:
    a, b = ia.input, ib.input
    if a.sha256 == b.sha256:
        res.notes.append("the inputs are byte-identical")
        return
    if (a.container, a.pickle_protocol) != (b.container, b.pickle_protocol):
        res.notes.append(
            f"containers differ ({_container(a)} vs {_container(b)}): only the payloads are compared"
        )
    if a.text_encoding != b.text_encoding:
        res.notes.append(
            f"text encodings differ ({a.text_encoding or 'binary'} vs {b.text_encoding or 'binary'})"
        )


def _container(info: Any) -> str:
    if info.container == "pickle":
        return f"pickle protocol {info.pickle_protocol}" if info.pickle_protocol is not None else "pickle"
    return "raw to_bytes"


# ----------------------------------------------------------------------------------------------------------
# expression tree


def diff_trees(a: Msg, b: Msg, *, prefix: str = "tree", notes: list[str] | None = None) -> list[Difference]:
    """Plans: aligned node by node (diff_align). Expressions: both trees walked side by side (explicit
    stack); labels differ -> changed, extra children -> added/removed."""
    from datafusion_exprtool.layers.proto.roots import PLAN_MESSAGES
    from datafusion_exprtool.reports.diff.align import diff_plan_trees

    if a.type in PLAN_MESSAGES and b.type == a.type:
        plan = diff_plan_trees(a, b, prefix)
        if plan.renumbered and notes is not None:
            notes.append(
                f"{prefix}: {plan.renumbered} plan node(s) differ only in expr_id values (ids datafusion gives "
                "the expressions it shares, e.g. a dynamic filter; only which share one means something): "
                "treated as equal"
            )
        return [Difference(c.path, c.kind, c.a, c.b, c.a_path, c.b_path) for c in plan.changes]
    from datafusion_exprtool.text.tree import build_tree

    out: list[Difference] = []
    stack = [(prefix, build_tree(a), build_tree(b))]
    while stack:
        path, na, nb = stack.pop()
        if na.label != nb.label:
            out.append(Difference(path, "changed", na.label, nb.label))
        ca, cb = list(na.children), list(nb.children)
        names = _segments(ca if len(ca) >= len(cb) else cb)
        for i in range(max(len(ca), len(cb)) - 1, -1, -1):
            here = f"{path}/{names[i]}"
            if i >= len(ca):
                out.append(Difference(here, "added", None, _summary(cb[i])))
            elif i >= len(cb):
                out.append(Difference(here, "removed", _summary(ca[i]), None))
            else:
                stack.append((here, ca[i], cb[i]))
    out.reverse()
    out.sort(key=lambda d: d.path.count("/"))
    return out


def _segments(children: list[Any]) -> list[str]:
    """Path segments: the label's first word, indexed when siblings share it (``operands[1]``)."""
    heads = [re.split(r"[\s:(=]", str(c.label), maxsplit=1)[0] or "?" for c in children]
    counts: dict[str, int] = {}
    for h in heads:
        counts[h] = counts.get(h, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for h in heads:
        if counts[h] > 1:
            out.append(f"{h}[{seen.get(h, 0)}]")
            seen[h] = seen.get(h, 0) + 1
        else:
            out.append(h)
    return out


def _summary(node: Any) -> str:
    n = len(node.children)
    return node.label + (f" (+{n} children)" if n else "")


# ----------------------------------------------------------------------------------------------------------
# functions


def _key_functions(fns: list[FunctionInfo]) -> dict[str, FunctionInfo]:
    out: dict[str, FunctionInfo] = {}
    for fn in fns:
        key = f"{fn.kind}:{fn.name}"
        n = 1
        while key in out:
            n += 1
            key = f"{fn.kind}:{fn.name}#{n}"
        out[key] = fn
    return out


def diff_functions(fa: list[FunctionInfo], fb: list[FunctionInfo]) -> list[Difference]:
    out: list[Difference] = []
    ka, kb = _key_functions(fa), _key_functions(fb)
    for key in sorted(ka.keys() | kb.keys()):
        base = "functions/" + key.split(":", 1)[1]
        a, b = ka.get(key), kb.get(key)
        if a is None or b is None:
            out.append(
                Difference(
                    base,
                    "added" if a is None else "removed",
                    a and f"{a.kind} {a.transport}",
                    b and f"{b.kind} {b.transport}",
                )
            )
            continue
        moved = a.transport != b.transport  # fields one transport does not carry are not differences
        for name in _FUNCTION_FIELDS:
            va, vb = getattr(a, name), getattr(b, name)
            if va != vb and not (moved and name != "transport" and (not va or not vb)):
                out.append(Difference(f"{base}/{name}", "changed", va, vb))
        if not moved or (a.callable and b.callable):
            out += _diff_callable(a.callable, b.callable, f"{base}/callable")
    return out


def _diff_callable(a: CallableInfo | None, b: CallableInfo | None, base: str) -> list[Difference]:
    if a is None or b is None:
        return [] if a is b else [Difference(base, "changed", a and a.kind, b and b.kind)]
    out: list[Difference] = []
    for f in dataclasses.fields(CallableInfo):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if va == vb:
            continue
        if f.name in _CALLABLE_LISTS:
            for i in range(max(len(va), len(vb))):
                x = dataclasses.asdict(va[i]) if i < len(va) else None
                y = dataclasses.asdict(vb[i]) if i < len(vb) else None
                if x != y:
                    kind = "added" if x is None else "removed" if y is None else "changed"
                    label = (x or y or {}).get("name") or str(i)
                    out.append(
                        Difference(f"{base}/{f.name}/{label}", kind, x and x["preview"], y and y["preview"])
                    )
        elif isinstance(va, list) and isinstance(vb, list):
            gone, new = sorted(set(va) - set(vb)), sorted(set(vb) - set(va))
            out.append(Difference(f"{base}/{f.name}", "changed", gone or va, new or vb))
        else:
            out.append(Difference(f"{base}/{f.name}", "changed", va, vb))
    return out


@dataclass
class _CodeDiff:
    differences: list[Difference] = field(default_factory=list)
    trackers: int = 0


def _fun_definitions(root: Msg) -> list[tuple[str, bytes]]:
    """(function name, fun_definition bytes) in wire order, found by walking every message."""
    found: list[tuple[str, bytes]] = []
    stack = [root]
    while stack:
        msg = stack.pop()
        name, payload = None, None
        for f in msg.fields():
            if isinstance(f.value, Msg):
                stack.append(f.value)
            elif f.name == "fun_definition":
                payload = f.value
            elif f.name in _NAME_FIELDS and isinstance(f.value, str) and name is None:
                name = f.value
        if payload is not None:
            found.append((name or "?", payload))
    return found


def _diff_fun_definitions(a: Msg, b: Msg, where: str) -> _CodeDiff:
    """Compare the inline payloads of same-named functions: tracker ids, then the code objects."""
    res = _CodeDiff()
    defs_b: dict[str, list[bytes]] = {}
    for name, payload in _fun_definitions(b):
        defs_b.setdefault(name, []).append(payload)
    for name, pa_ in _fun_definitions(a):
        if not defs_b.get(name):
            continue
        pb_ = defs_b[name].pop(0)
        if pa_ == pb_:
            continue
        if blank_tracker_ids(pa_) == blank_tracker_ids(pb_):
            res.trackers += _count_tracker_diffs(pa_, pb_)
            continue
        path = f"{where}functions/{name}/code"
        changes = _code_changes(pa_, pb_)
        if changes:
            res.differences += [Difference(f"{path}/{what}", "changed", x, y) for what, x, y in changes]
        else:
            at = _first_difference(pa_, pb_)
            res.differences.append(
                Difference(
                    f"{where}functions/{name}/payload",
                    "changed",
                    f"{len(pa_)} B",
                    f"{len(pb_)} B, first difference at payload byte {at}",
                )
            )
    return res


def _first_difference(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def _code_changes(pa_: bytes, pb_: bytes) -> list[tuple[str, Any, Any]]:
    """Which parts of the by-value code objects differ (bytecode, constants, names), statically."""
    ca, cb = _code_objects(pa_), _code_objects(pb_)
    out: list[tuple[str, Any, Any]] = []
    for i in range(max(len(ca), len(cb))):
        x, y = (ca[i] if i < len(ca) else None), (cb[i] if i < len(cb) else None)
        if x is None or y is None:
            out.append(("code objects", len(ca), len(cb)))
            break
        label = x.get("qualname") or str(i)
        for part in _CODE_ARGS.values():
            if x.get(part) != y.get(part):
                va, vb = x.get(part), y.get(part)
                if part == "bytecode":
                    va, vb = f"{len(va or b'')} B sha256 {_sha(va)}", f"{len(vb or b'')} B sha256 {_sha(vb)}"
                out.append((f"{label}/{part}", va, vb))
    return out


def _sha(data: Any) -> str:
    import hashlib

    return hashlib.sha256(data if isinstance(data, bytes) else repr(data).encode()).hexdigest()[:12]


def _code_objects(payload: bytes) -> list[dict[str, Any]]:
    """The CodeType(...) argument tuples in a DFPY payload's cloudpickle stream (never built)."""
    from datafusion_exprtool.errors import DecodeError
    from datafusion_exprtool.layers.pickle import vm as pickle_vm

    start = payload.find(b"\x80", 10 if payload[:5] == b"DFPYU" else 0)
    try:
        result = pickle_vm.run(payload[start:], start, layer="cloudpickle")
    except DecodeError:
        return []
    out = []
    for node in result.calls:
        if (
            not isinstance(node, pickle_vm.Call)
            or not isinstance(node.args, tuple)
            or len(node.args) <= _AT["qualname"]
        ):
            continue
        func = node.func
        if not (
            isinstance(func, pickle_vm.Call) and isinstance(func.args, tuple) and func.args == ("CodeType",)
        ):
            continue
        args = node.args
        entry = {part: _plain_value(args[i]) for i, part in _CODE_ARGS.items()}
        entry["qualname"] = args[_AT["qualname"]] if isinstance(args[_AT["qualname"]], str) else None
        out.append(entry)
    return out


def _plain_value(value: Any) -> Any:
    """Constants as comparable, printable values (nested code objects become a placeholder)."""
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    if isinstance(value, tuple):
        return tuple(
            _plain_value(v) if isinstance(v, (str, bytes, int, float, bool, type(None))) else "<code>"
            for v in value
        )
    return f"<{type(value).__name__}>"


# ----------------------------------------------------------------------------------------------------------
# safety


def diff_safety(ia: Inspection, ib: Inspection) -> list[Difference]:
    out: list[Difference] = []
    if ia.safety.verdict != ib.safety.verdict:
        out.append(Difference("safety/verdict", "changed", ia.safety.verdict, ib.safety.verdict))
    if ia.safety.status != ib.safety.status:
        out.append(Difference("safety/status", "changed", ia.safety.status, ib.safety.status))
    fa = {(f.id, f.sentence) for f in ia.safety.findings}
    fb = {(f.id, f.sentence) for f in ib.safety.findings}
    gone, new = sorted(fa - fb), sorted(fb - fa)
    for fid in sorted({i for i, _ in gone} | {i for i, _ in new}):
        xs, ys = [m for i, m in gone if i == fid], [m for i, m in new if i == fid]
        for k in range(max(len(xs), len(ys))):
            x, y = (xs[k] if k < len(xs) else None), (ys[k] if k < len(ys) else None)
            kind = "changed" if x and y else "removed" if x else "added"
            out.append(Difference(f"safety/findings/{fid}", kind, x, y))
    return out


# ----------------------------------------------------------------------------------------------------------
# JSON


def diff_document(res: DiffResult) -> dict[str, Any]:
    """The `diff --json` object."""
    return {
        "schema_version": SCHEMA_VERSION,
        "a": res.a,
        "b": res.b,
        "equal": res.equal,
        "differences": [_json_difference(d) for d in res.differences],
        "notes": list(res.notes),
    }


def _json_difference(d: Difference) -> dict[str, Any]:
    out = {"path": d.path, "kind": d.kind, "a": _json_value(d.a), "b": _json_value(d.b)}
    if d.a_path is not None or d.b_path is not None:  # plan nodes only
        out.update(a_path=d.a_path, b_path=d.b_path)
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, (list, dict, str, int, float, bool)) or value is None:
        return value
    return repr(value)
