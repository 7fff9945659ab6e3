"""Classify the globals and call targets of a statically walked pickle into findings (fact sheet §5.5).

Two contexts: the outer ``pickle.dumps(expr)`` stream ('expr'), where only the ``Expr._reconstruct`` pattern is
normal, and a cloudpickle UDF stream ('cloudpickle'), where cloudpickle's own reconstructors, type constructors and
by-reference globals are normal. Everything is tables; ``classify`` is the one engine.
Calibrated so that what datafusion + cloudpickle 3.1 write for ordinary UDFs yields no 'suspicious' finding.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from datafusion_exprtool.layers.pickle.values import Call, Ext, Global, NewObj, iter_nodes
from datafusion_exprtool.layers.pickle.vm import PickleResult
from datafusion_exprtool.model import Finding

CLOUDPICKLE_MODULES = ("cloudpickle.cloudpickle", "cloudpickle.cloudpickle_fast")

#: names whose use (as a global or call target) means "this blob tries to do something": a dotted name or any
#: dotted prefix of it. ``__builtin__`` is read as ``builtins``.
DENY: dict[str, str] = {
    **dict.fromkeys(("os", "posix", "nt", "_posixsubprocess", "subprocess", "pty", "signal"), "runs commands"),
    **dict.fromkeys(("importlib", "runpy", "imp", "pkgutil", "zipimport"), "imports code"),
    **dict.fromkeys(("pickle", "_pickle", "dill", "joblib", "shelve", "copyreg._inverted_registry"), "nested unpickler"),
    **dict.fromkeys(("cloudpickle.loads", "cloudpickle.load", "cloudpickle.cloudpickle.loads",
                     "cloudpickle.cloudpickle.load", "cloudpickle.cloudpickle.Unpickler"), "nested unpickler"),
    "marshal": "loads code objects",
    **dict.fromkeys(("pandas.read_pickle", "pandas.io.pickle", "torch.load", "numpy.load", "yaml.load",
                     "yaml.unsafe_load"), "nested unpickler"),
    **dict.fromkeys(("ctypes", "_ctypes", "cffi", "mmap"), "raw memory access"),
    **dict.fromkeys(("socket", "_socket", "ssl", "http", "urllib", "ftplib", "smtplib", "telnetlib"), "network"),
    **dict.fromkeys(("shutil", "tempfile", "glob", "io.open", "_io.open", "pathlib.Path.write_text",
                     "pathlib.Path.write_bytes", "pathlib.Path.unlink"), "file system"),
    **dict.fromkeys(("sys", "gc", "inspect", "code", "codeop", "pdb", "bdb", "timeit", "trace", "webbrowser",
                     "multiprocessing", "threading", "_thread", "asyncio", "concurrent"), "interpreter control"),
    **dict.fromkeys(("codecs.open", "codecs.EncodedFile", "codecs.lookup", "_codecs.lookup",
                     "_codecs.decode", "codecs.decode", "codecs.getdecoder"), "codecs trick"),
    **dict.fromkeys(("operator.attrgetter", "operator.methodcaller", "operator.itemgetter",
                     "functools.reduce", "builtins.map", "builtins.filter"), "call gadget"),
    **dict.fromkeys(tuple(f"builtins.{n}" for n in ("exec", "eval", "compile", "__import__", "open", "breakpoint",
                                                     "input", "setattr", "delattr", "globals", "locals", "vars",
                                                     "help", "exit", "quit", "memoryview")), "runs or reaches code"),
}  # fmt: skip
#: attribute names that are dangerous wherever they are reached (``getattr(posixpath.os, 'system')``)
DENY_ATTRS = {
    "system", "popen", "exec", "execv", "execve", "execl", "execlp", "execvp", "spawnl", "spawnv", "startfile",
    "eval", "compile", "__import__", "import_module", "loads", "load", "Unpickler", "check_output", "check_call",
    "Popen", "getoutput", "getstatusoutput", "__builtins__", "__globals__", "__subclasses__", "__code__", "modules",
}  # fmt: skip

#: the only globals an Expr pickle holds (§3.1), plus what pickle writes for containers of Exprs
EXPR_GLOBALS = {"builtins.getattr", "datafusion.expr.Expr", "_codecs.encode", "copyreg._reconstructor",
                "copyreg.__newobj__", "builtins.list", "builtins.dict", "builtins.set", "builtins.frozenset",
                "builtins.tuple", "builtins.bytearray", "builtins.object", "collections.OrderedDict"}  # fmt: skip
EXPR_CALLS = {"datafusion.expr.Expr._reconstruct", "builtins.getattr", "_codecs.encode", "copyreg._reconstructor",
              "builtins.set", "builtins.frozenset", "builtins.bytearray", "collections.OrderedDict"}  # fmt: skip

#: cloudpickle 3.1 reconstructors and state setters (every name cloudpickle's reducers return)
CLOUDPICKLE_INTERNALS = {
    "_make_function", "_builtin_type", "_make_empty_cell", "_make_cell", "_function_setstate", "subimport",
    "dynamic_subimport", "_make_skeleton_class", "_make_skeleton_enum", "_class_setstate", "_make_dict_keys",
    "_make_dict_values", "_make_dict_items", "_make_typevar", "_file_reconstructor",
    "_get_dataclass_field_type_sentinel", "_create_parametrized_type_hint", "instance",
}  # fmt: skip
#: call targets ordinary cloudpickle streams use besides its internals: type constructors and data reconstructors
CLOUDPICKLE_CALLS = {
    *(f"builtins.{n}" for n in ("getattr", "list", "dict", "set", "frozenset", "tuple", "bytearray", "bytes",
                                "complex", "slice", "range", "object", "int", "float", "str", "bool", "type",
                                "property", "classmethod", "staticmethod")),
    *(f"types.{n}" for n, v in vars(types).items() if isinstance(v, type)),
    "copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__", "logging.getLogger", "weakref.WeakSet",
    "functools.partial", "collections.OrderedDict", "collections.defaultdict", "collections.deque",
    "collections.Counter", "datetime.date", "datetime.datetime", "datetime.time", "datetime.timedelta",
    "datetime.timezone", "decimal.Decimal", "fractions.Fraction", "uuid.UUID", "re._compile", "enum.Enum",
    "pyarrow.lib.type_for_alias", "pyarrow.lib.scalar", "pyarrow.lib.field", "pyarrow.lib.schema",
    "pyarrow.lib.py_buffer", "pyarrow.lib._restore_array", "pyarrow.lib.chunked_array",
    "pyarrow.lib._reconstruct_table", "pyarrow.lib._reconstruct_record_batch",
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.dtype",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "datafusion.expr.Expr._reconstruct",
}  # fmt: skip


#: names ending in a DENY_ATTRS word that ordinary streams use
_SAFE_ATTRS = {"json.loads", "json.load"}


def _norm(dotted: str) -> str:
    return "builtins" + dotted[len("__builtin__") :] if dotted.startswith("__builtin__.") else dotted


def denied(dotted: str) -> str | None:
    """Why a dotted name is dangerous (the first matching prefix), or None."""
    parts = _norm(dotted).split(".")
    if len(parts) > 1 and parts[-1] in DENY_ATTRS and dotted not in _SAFE_ATTRS:
        return "nested unpickler" if parts[-1] in ("loads", "load", "Unpickler") else "reaches code execution"
    for i in range(1, len(parts) + 1):
        why = DENY.get(".".join(parts[:i]))
        if why is not None:
            return why
    return None


def target_name(func: Any) -> str | None:
    """The dotted name a call target resolves to, when it can be told statically."""
    if isinstance(func, Global):
        return _norm(func.dotted)
    if isinstance(func, Call) and isinstance(func.args, tuple):
        name = target_name(func.func) if isinstance(func.func, Global) else None
        if name == "builtins.getattr" and len(func.args) == 2 and isinstance(func.args[1], str):
            owner = func.args[0]
            if isinstance(owner, Global):
                return f"{_norm(owner.dotted)}.{func.args[1]}"
        if (
            isinstance(func.func, Global)
            and func.func.module in CLOUDPICKLE_MODULES
            and func.func.name == "_builtin_type"
            and func.args
            and isinstance(func.args[0], str)
        ):
            return f"types.{func.args[0]}"
    return None


def _allowed(name: str, context: str) -> bool:
    if context == "expr":
        return name in EXPR_CALLS
    module, _, attr = name.rpartition(".")
    if module in CLOUDPICKLE_MODULES:
        return attr in CLOUDPICKLE_INTERNALS
    return name in CLOUDPICKLE_CALLS


def _is_by_value_class(value: Any) -> bool:
    return (
        isinstance(value, Call)
        and isinstance(value.func, Global)
        and value.func.module in CLOUDPICKLE_MODULES
        and value.func.name in ("_make_skeleton_class", "_make_skeleton_enum")
    )


def classify(result: PickleResult, context: str, origin_layer: str) -> list[Finding]:
    """Findings for one walked stream. ``context`` is 'expr' (outer Expr pickle) or 'cloudpickle' (UDF stream)."""
    out: list[Finding] = []

    def flag(fid: str, offset: int, message: str) -> None:
        out.append(
            Finding(id=fid, severity="error", layer=origin_layer, offset=offset, message=message, verdict="suspicious")
        )

    for g in result.globals:
        name = _norm(g.dotted)
        why = denied(name)
        if why is not None:
            fid = "nested-unpickler" if why == "nested unpickler" else "suspicious-global"
            flag(fid, g.offset, f"global {g.dotted} ({why})")
        elif context == "expr" and name not in EXPR_GLOBALS:
            flag("suspicious-global", g.offset, f"global {g.dotted} has no place in an Expr pickle")
    for c in result.calls:
        target = c.func if isinstance(c, Call) else c.cls
        name = target_name(target)
        if name is not None:
            # getattr(X, attr) itself: the attribute it reaches must be harmless too
            if name == "builtins.getattr" and isinstance(c, Call):
                reached = target_name(c)
                if reached is not None and (why := denied(reached)) is not None:
                    flag("suspicious-call", c.offset, f"getattr reaches {reached} ({why})")
                    continue
            why = denied(name)
            if why is not None:
                fid = "nested-unpickler" if why == "nested unpickler" else "suspicious-call"
                flag(fid, c.offset, f"calls {name} ({why})")
            elif isinstance(c, Call) and not _allowed(name, context):
                top = name.split(".", 1)[0]
                if context == "cloudpickle" and top not in sys.stdlib_module_names:
                    # a captured third-party object (a model, a DataFrame) rebuilt by its own reducer:
                    # ordinary cloudpickle output, but third-party code runs on decode
                    out.append(Finding(
                        id="third-party-call", severity="info", layer=origin_layer, offset=c.offset,
                        message=f"calls {name} on decode to rebuild a captured object; the worker must import {top}",
                        verdict="code",
                    ))
                else:
                    flag("suspicious-call", c.offset, f"calls {name}, which {_ctx(context)} does not use")
        elif isinstance(c, NewObj) and _is_by_value_class(target) and context == "cloudpickle":
            continue  # an instance of a class that travels by value
        elif isinstance(c, Call) or context == "expr":
            flag(
                "suspicious-call",
                c.offset,
                f"calls a computed value ({type(target).__name__}), not a named global",
            )
    for ext in _exts(result):
        flag(
            "suspicious-extension", ext, "EXT opcode: resolves a global through copyreg's extension registry"
        )
    return out


def _ctx(context: str) -> str:
    return "an Expr pickle" if context == "expr" else "cloudpickle"


def _exts(result: PickleResult) -> list[int]:
    return [v.offset for v in iter_nodes(result.value) if isinstance(v, Ext)]
