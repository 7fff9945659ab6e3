"""Read a Python UDF's cloudpickle stream (after the 10-byte DFPY header) without loading it (fact sheet §2.3, §2.5).

The static machine turns the stream into symbolic nodes; this module recognises cloudpickle's own shapes:
``_make_function(CodeType(...), base_globals, name, argdefs, closure)`` + ``_function_setstate``, and
``_make_skeleton_class(...)`` + ``_class_setstate`` for by-value classes. Nothing is rebuilt: closure cells and
by-value globals are summarized (type, size, short preview).
"""

from __future__ import annotations

import dis
import sys
from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.layers.cloudpickle.code_args import CODE_ARGS
from datafusion_exprtool.layers.cloudpickle.receiver import (
    CORRUPT_STREAM,
    receiver_failures,
    volatility_error,
)
from datafusion_exprtool.layers.pickle.values import (
    ByteArray,
    Call,
    Frozen,
    Global,
    NewObj,
    PDict,
    PList,
    PSet,
)
from datafusion_exprtool.layers.pickle.vm import PickleResult, run
from datafusion_exprtool.model import CallableInfo, ClosureValue, Finding

#: the names every function finds without a global: this interpreter's builtins (a static list, never the blob's)
BUILTIN_NAMES = frozenset(dir(__import__("builtins")))

#: tuple shapes of §2.3, by header family
SHAPES: dict[str, tuple[str, ...]] = {
    "DFPYUDF": ("name", "func", "input_schema", "return_schema", "volatility"),
    "DFPYUDA": ("name", "func", "input_schema", "return_schema", "state_schema", "volatility"),
    "DFPYUDW": ("name", "func", "input_schema", "return_schema", "volatility"),
}
VOLATILITIES = ("immutable", "stable", "volatile")
CLOUDPICKLE_MODULES = {"cloudpickle.cloudpickle", "cloudpickle.cloudpickle_fast", "cloudpickle"}
#: modules a worker never needs to import for a by-reference global (pickle machinery and builtins)
NOT_IMPORTS = {"builtins", "__builtin__", "copyreg", "_codecs", "__main__", "cloudpickle"}
PREVIEW = 80


@dataclass
class UdfStream:
    family: str
    name: str | None
    volatility: str | None
    callable: CallableInfo
    input_schema: bytes | None = None
    input_schema_offset: int | None = None
    return_schema: bytes | None = None
    return_schema_offset: int | None = None
    state_schema: bytes | None = None
    state_schema_offset: int | None = None
    findings: list[Finding] = field(default_factory=list)
    result: PickleResult | None = None  # the walked stream, for pickle.safety and sensitive-content reports


def is_cp(value: Any, *names: str) -> bool:
    """Is ``value`` the global ``cloudpickle.cloudpickle.<one of names>``?"""
    return isinstance(value, Global) and value.module in CLOUDPICKLE_MODULES and value.name in names


def _cp_call(value: Any, *names: str) -> bool:
    return isinstance(value, Call) and is_cp(value.func, *names) and isinstance(value.args, tuple)


def read_udf_stream(stream: bytes, origin: int, family: str, python_minor: int | None = None) -> UdfStream:
    """Walk the cloudpickle stream of one inline UDF; DecodeError(layer='cloudpickle') if it cannot be walked."""
    result = run(stream, origin, layer="cloudpickle")
    findings: list[Finding] = []
    shape = SHAPES.get(family, SHAPES["DFPYUDF"])
    value = result.value
    items: dict[str, Any] = {}
    if not isinstance(value, tuple) or len(value) != len(shape):
        got = f"a {len(value)}-item tuple" if isinstance(value, tuple) else type(value).__name__
        findings.append(
            Finding(id="udf-tuple-shape", severity="warning", layer="cloudpickle", offset=origin,
                    message=f"{family} payload should hold a {len(shape)}-item tuple {shape}, found {got}")
        )  # fmt: skip
        if isinstance(value, tuple) and value:  # best effort: name first, volatility last
            items = {"name": value[0]}
            if value[-1] in VOLATILITIES:
                items["volatility"] = value[-1]
            if len(value) > 1:
                items["func"] = value[1]
    else:
        items = dict(zip(shape, value, strict=True))
    name = items.get("name") if isinstance(items.get("name"), str) else None
    volatility = items.get("volatility") if isinstance(items.get("volatility"), str) else None
    if volatility is not None and volatility not in VOLATILITIES:
        findings.append(
            Finding(id="udf-volatility-unknown", severity="warning", layer="cloudpickle",
                    offset=result.offset_of(volatility),
                    message=f"volatility {volatility!r} is not one of {', '.join(VOLATILITIES)}",
                    datafusion_text=volatility_error(volatility), function=name, catalog_id=CORRUPT_STREAM)
        )  # fmt: skip
    out = UdfStream(family, name, volatility, describe_callable(result, items.get("func"), python_minor))
    for key in ("input_schema", "return_schema", "state_schema"):
        blob = items.get(key)
        if isinstance(blob, bytes):
            setattr(out, key, blob)
            setattr(out, key + "_offset", result.offset_of(blob))
        elif key in items:
            findings.append(
                Finding(id="udf-schema-not-bytes", severity="warning", layer="cloudpickle", offset=origin,
                        message=f"{key} should be Arrow IPC bytes, found {type(blob).__name__}", function=name)
            )  # fmt: skip
    out.findings = receiver_failures(result, python_minor) + findings  # unpickling fails first
    out.result = result
    return out


# ----------------------------------------------------------------------------------------------------------
# The callable.


class _Reader:
    """Indexes the setstate calls of one stream so functions and classes find their state by identity."""

    def __init__(self, result: PickleResult, python_minor: int | None):
        self.result = result
        self.python_minor = python_minor
        self.fstate: dict[int, Any] = {}
        self.cstate: dict[int, Any] = {}
        for c in result.calls:
            if _cp_call(c, "_function_setstate", "_class_setstate") and len(c.args) == 2:
                target = self.fstate if c.func.name == "_function_setstate" else self.cstate
                state = c.args[1]
                if isinstance(state, tuple) and len(state) == 2:
                    target[id(c.args[0])] = state

    def slotstate(self, fn: Call) -> PDict:
        state = self.fstate.get(id(fn))
        return state[1] if state is not None and isinstance(state[1], PDict) else PDict([], fn.offset)

    def code_args(self, fn: Call) -> tuple[tuple, dict[str, int]]:
        code = fn.args[0] if fn.args else None
        if (
            isinstance(code, Call)
            and _cp_call(code.func, "_builtin_type")
            and code.func.args == ("CodeType",)
            and isinstance(code.args, tuple)
            and len(code.args) in CODE_ARGS
        ):
            return code.args, CODE_ARGS[len(code.args)]
        return (), {}

    def function(self, fn: Call, info: CallableInfo) -> None:
        """Fill ``info`` from one by-value function (merging, for the methods of a class)."""
        args, pos = self.code_args(fn)
        slot = self.slotstate(fn)
        base = fn.args[1] if len(fn.args) > 1 and isinstance(fn.args[1], PDict) else PDict([], 0)

        def arg(key: str) -> Any:
            return args[pos[key]] if key in pos else None

        qualname = slot.get("__qualname__")
        info.qualname = info.qualname or _str(qualname) or _str(arg("qualname")) or _str(arg("name"))
        info.module = info.module or _str(slot.get("__module__")) or _str(base.get("__name__"))
        filename = _str(arg("filename"))
        if filename in (None, "", "<dynamic-code>"):  # cloudpickle 3.1 blanks co_filename; __file__ stays
            filename = _str(base.get("__file__"))
        info.filename = info.filename or filename
        line = arg("firstlineno")
        if isinstance(line, int) and (info.firstlineno is None or line < info.firstlineno):
            info.firstlineno = line
        names = arg("names")
        _extend(info.co_names, [n for n in names if isinstance(n, str)] if isinstance(names, tuple) else [])
        freevars = arg("freevars") if isinstance(arg("freevars"), tuple) else ()
        closure = slot.get("__closure__")
        if not isinstance(closure, tuple):
            closure = fn.args[4] if len(fn.args) > 4 and isinstance(fn.args[4], tuple) else ()
        for i, cell in enumerate(closure):
            cell_name = freevars[i] if i < len(freevars) and isinstance(freevars[i], str) else None
            if _cp_call(cell, "_make_cell") and cell.args:
                info.closure.append(self.summarize(cell_name, cell.args[0]))
            elif _cp_call(cell, "_make_empty_cell"):
                info.closure.append(ClosureValue(cell_name, "empty-cell", None, ""))
        globs = slot.get("__globals__")
        if isinstance(globs, PDict):
            for key, value in globs.pairs:
                info.globals.append(self.summarize(_str(key), value))
        if self.python_minor == sys.version_info.minor:
            _extend(info.code_imports, self.code_imports(fn))

    def unshipped_globals(self) -> list[str]:
        """Global names some by-value function of the stream loads (LOAD_GLOBAL, its nested code included) that
        no function's globals carry, that are no builtin and that no code stores: cloudpickle ships only the
        names a function's ``__globals__`` held when it was pickled, so these raise NameError on the worker.
        Every function of the stream counts (a by-value class's methods, a function a global holds), and the
        globals of all of them count as shipped (a module's functions share one globals dict when rebuilt)."""
        if self.python_minor != sys.version_info.minor:
            return []  # another Python's bytecode: its opcodes are not read
        loads: list[str] = []
        shipped: set[str] = set()
        stores: set[str] = set()
        for fn in self.result.calls:
            if not _cp_call(fn, "_make_function"):
                continue
            base = fn.args[1] if len(fn.args) > 1 and isinstance(fn.args[1], PDict) else PDict([], 0)
            globs = self.slotstate(fn).get("__globals__")
            for d in (base, globs) if isinstance(globs, PDict) else (base,):
                shipped.update(k for k in d.keys() if isinstance(k, str))
            _extend(loads, self.code_imports(fn, "LOAD_GLOBAL"))
            stores.update(self.code_imports(fn, "STORE_GLOBAL"))
        return [n for n in loads
                if n not in shipped and n not in stores and n not in BUILTIN_NAMES and not n.startswith("__")]

    def code_imports(self, fn: Call, opname: str = "IMPORT_NAME") -> list[str]:
        """IMPORT_NAME (or ``opname``) targets of the function's bytecode and of the code objects nested in its
        constants (a nested function shares its parent's globals)."""
        found: list[str] = []
        todo = [fn.args[0]] if fn.args else []
        seen: set[int] = set()
        while todo:
            code = todo.pop()
            if id(code) in seen:
                continue
            seen.add(id(code))
            args, pos = self.code_args(Call(None, (code,), 0))
            if not pos:
                continue
            names = args[pos["names"]]
            if isinstance(args[pos["code"]], bytes) and isinstance(names, tuple):
                _extend(found, scan_imports(args[pos["code"]], names, opname))
            consts = args[pos["consts"]]
            if isinstance(consts, tuple):
                todo.extend(c for c in consts if isinstance(c, Call))
        return found

    def klass(self, cls: Call, info: CallableInfo) -> None:
        """A by-value class: its name, module and the by-value functions of its dict."""
        a = cls.args
        enum = is_cp(cls.func, "_make_skeleton_enum")
        name = _str(a[1]) if len(a) > 1 else None
        kwargs = a[3] if not enum and len(a) > 3 and isinstance(a[3], PDict) else PDict([], 0)
        info.module = _str(a[4]) if enum and len(a) > 4 else _str(kwargs.get("__module__"))
        state = self.cstate.get(id(cls))
        clsdict = state[0] if state is not None and isinstance(state[0], PDict) else PDict([], 0)
        info.module = info.module or _str(clsdict.get("__module__"))
        for key, value in clsdict.pairs:
            fn = _unwrap_method(value)
            if fn is None or not isinstance(key, str):
                continue
            info.methods.append(key)
            sub = CallableInfo(by_value=True, kind="function")
            self.function(fn, sub)
            if info.qualname is None and sub.qualname and sub.qualname.endswith("." + key):
                info.qualname = sub.qualname[: -len(key) - 1]
            info.filename = info.filename or sub.filename
            if sub.firstlineno is not None and (
                info.firstlineno is None or sub.firstlineno < info.firstlineno
            ):
                info.firstlineno = sub.firstlineno
            _extend(info.co_names, sub.co_names)
            _extend(info.code_imports, sub.code_imports)
            info.closure.extend(sub.closure)
            info.globals.extend(g for g in sub.globals if g.name not in {x.name for x in info.globals})
        info.qualname = info.qualname or name

    def summarize(self, name: str | None, value: Any) -> ClosureValue:
        """What a captured value is, without rebuilding it."""
        size = len(value) if isinstance(value, (str, bytes, tuple)) else None
        for cls, kind, attr in _CONTAINERS:
            if isinstance(value, cls):
                size = len(getattr(value, attr))
                return ClosureValue(name, kind, size, _preview(value))
        if isinstance(value, (str, bytes, int, float, tuple)) or value is None:
            return ClosureValue(name, type(value).__name__, size, _preview(value))
        if isinstance(value, Global):
            return ClosureValue(name, "reference", None, value.dotted)
        if _cp_call(value, "subimport", "dynamic_subimport") and value.args:
            return ClosureValue(name, f"module:{_str(value.args[0])}", None, str(value.args[0])[:PREVIEW])
        if _cp_call(value, "_make_function"):
            sub = CallableInfo(by_value=True, kind="function")
            args, pos = self.code_args(value)
            sub.qualname = _str(self.slotstate(value).get("__qualname__")) or _str(
                args[pos["name"]] if pos else None
            )
            return ClosureValue(name, "function", None, sub.qualname or "?")
        if _cp_call(value, "_make_skeleton_class", "_make_skeleton_enum"):
            return ClosureValue(name, "class", None, _str(value.args[1]) if len(value.args) > 1 else "?")
        target = value.func if isinstance(value, Call) else value.cls if isinstance(value, NewObj) else None
        if isinstance(target, Global):
            return ClosureValue(name, f"object:{target.dotted}", None, f"{target.dotted}(…)")
        return ClosureValue(name, "object", None, type(value).__name__)


_CONTAINERS = ((PList, "list", "items"), (PDict, "dict", "pairs"), (PSet, "set", "items"),
               (Frozen, "frozenset", "items"), (ByteArray, "bytearray", "data"))  # fmt: skip


def describe_callable(result: PickleResult, func: Any, python_minor: int | None = None) -> CallableInfo:
    """CallableInfo for the tuple's callable: by value (function/class), by reference, or unknown."""
    reader = _Reader(result, python_minor)
    if _cp_call(func, "_make_function"):
        info = CallableInfo(by_value=True, kind="function")
        reader.function(func, info)
    elif _cp_call(func, "_make_skeleton_class", "_make_skeleton_enum"):
        info = CallableInfo(by_value=True, kind="class")
        reader.klass(func, info)
    elif isinstance(func, Global):
        info = CallableInfo(by_value=False, kind="reference", qualname=func.name, module=func.module)
    elif _is_getattr_ref(func):
        owner, attr = func.args
        info = CallableInfo(
            by_value=False, kind="reference", qualname=f"{owner.name}.{attr}", module=owner.module
        )
    else:
        by_value = any(_cp_call(c, "_make_function", "_make_skeleton_class") for c in result.calls)
        info = CallableInfo(by_value=by_value, kind="unknown")
    _extend(info.references, references(result))
    _extend(info.subimports, subimports(result))
    _extend(info.unshipped_globals, reader.unshipped_globals())
    return info


def references(result: PickleResult) -> list[str]:
    """``module.qualname`` of every by-reference global, minus cloudpickle internals and pickle machinery."""
    out: list[str] = []
    for g in result.globals:
        if g.module in CLOUDPICKLE_MODULES or g.module in NOT_IMPORTS:
            continue
        _extend(out, [g.dotted])
    return out


def subimports(result: PickleResult) -> list[str]:
    """Modules named in ``cloudpickle.cloudpickle.subimport('<module>')`` calls (module-valued globals)."""
    out: list[str] = []
    for c in result.calls:
        if _cp_call(c, "subimport") and len(c.args) == 1 and isinstance(c.args[0], str):
            _extend(out, [c.args[0]])
    return out


def imports(info: CallableInfo) -> list[str]:
    """Top-level modules a worker must be able to import to rebuild the callable (sorted)."""
    mods: set[str] = set()
    for name in [*info.subimports, *info.code_imports]:
        mods.add(name.split(".")[0])
    for ref in info.references:
        mods.add(ref.split(".")[0])
    if not info.by_value and info.module:
        mods.add(info.module.split(".")[0])
    return sorted(m for m in mods if m and m not in NOT_IMPORTS)


def scan_imports(co_code: bytes, names: tuple, opname: str = "IMPORT_NAME") -> list[str]:
    """IMPORT_NAME (or another co_names opcode's) targets in raw bytecode of the running interpreter's version
    (EXTENDED_ARG, inline caches). co_names mixes globals with attribute names: only the opcode tells them apart."""
    import_name, extended = dis.opmap.get(opname), dis.EXTENDED_ARG
    shift = 1 if opname == "LOAD_GLOBAL" and sys.version_info >= (3, 11) else 0  # low bit: push NULL
    caches = getattr(dis, "_inline_cache_entries", None)
    out: list[str] = []
    i, ext = 0, 0
    while i + 1 < len(co_code):
        op, arg = co_code[i], co_code[i + 1] | ext
        i += 2
        if op == extended:
            ext = arg << 8
            continue
        ext = 0
        if op == import_name and (arg >> shift) < len(names) and isinstance(names[arg >> shift], str):
            _extend(out, [names[arg >> shift]])
        if isinstance(caches, dict):
            i += 2 * caches.get(dis.opname[op], 0)
        elif caches is not None and op < len(caches):
            i += 2 * caches[op]
    return out


# ----------------------------------------------------------------------------------------------------------
# Small helpers.


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _extend(target: list[str], values: list[str]) -> None:
    for v in values:
        if v not in target:
            target.append(v)


def _is_getattr_ref(func: Any) -> bool:
    return (
        isinstance(func, Call)
        and isinstance(func.func, Global)
        and func.func.dotted in ("builtins.getattr", "__builtin__.getattr")
        and isinstance(func.args, tuple)
        and len(func.args) == 2
        and isinstance(func.args[0], Global)
        and isinstance(func.args[1], str)
    )


def _unwrap_method(value: Any) -> Call | None:
    """The by-value function behind a class-dict entry (plain, classmethod, staticmethod or property getter)."""
    if _cp_call(value, "_make_function"):
        return value
    if (
        isinstance(value, Call)
        and isinstance(value.func, Global)
        and value.func.name in ("classmethod", "staticmethod", "property")
        and isinstance(value.args, tuple)
        and value.args
        and _cp_call(value.args[0], "_make_function")
    ):
        return value.args[0]
    return None


def _preview(value: Any, limit: int = PREVIEW) -> str:
    """A short printable rendering, bounded in depth and length (never recursion on blob-controlled depth)."""
    parts: list[str] = []
    budget = [limit]

    def put(text: str) -> bool:
        parts.append(text[: budget[0]])
        budget[0] -= len(text)
        return budget[0] > 0

    def walk(v: Any, depth: int) -> bool:
        if isinstance(v, (str, bytes, int, float)) or v is None:
            return put(repr(v if not isinstance(v, (str, bytes)) else v[:limit]))
        if depth >= 2:
            return put("…")
        if isinstance(v, PDict):
            put("{")
            for n, (k, x) in enumerate(v.pairs):
                if (n and not put(", ")) or not walk(k, depth + 1) or not put(": ") or not walk(x, depth + 1):
                    return False
            return put("}")
        seq = v if isinstance(v, tuple) else getattr(v, "items", None)
        if isinstance(seq, (tuple, list)):
            put("(" if isinstance(v, tuple) else "[")
            for n, x in enumerate(seq):
                if (n and not put(", ")) or not walk(x, depth + 1):
                    return False
            return put(")" if isinstance(v, tuple) else "]")
        if isinstance(v, Global):
            return put(v.dotted)
        return put(f"<{type(v).__name__}>")

    walk(value, 0)
    text = "".join(parts)
    return text if budget[0] >= 0 else text[: limit - 1] + "…"


__all__ = ["UdfStream", "read_udf_stream", "describe_callable", "imports", "scan_imports"]
