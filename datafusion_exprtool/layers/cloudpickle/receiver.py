"""What a receiver's unpickler raises on a cloudpickle UDF stream that walks cleanly but does not rebuild.

The static machine reads a damaged stream to its STOP; the receiver then fails where cloudpickle's
reconstructors meet the damage. Four failures are predicted here, each with CPython's own text:

* a global the receiver's module lacks (``Can't get attribute 'X' on <module 'M' …>``): a misspelt
  cloudpickle internal or datafusion base class; or whose module its package lacks (``No module named
  'datafusion.uwer_defined'``). Looked up in a table generated from the installed
  cloudpickle, datafusion and pyarrow (``names.py``, used only when the installed versions are
  the table's), or in the namespace of an already-imported pickle module (builtins, copyreg, _codecs):
  nothing is imported and no getattr runs on a name from the blob;
* a cloudpickle reconstructor called with the wrong number of arguments (``TypeError``);
* ``types.CodeType(...)`` arguments of the wrong number, type or value (CPython 3.11's checks, in its
  order: argument clinic, ``code_new_impl``, ``_PyCode_Validate``);
* a slot state ``_function_setstate`` pops a key from that the stream does not have (``KeyError``).

Only the first failure in stream order is reported: the unpickler stops there.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from typing import Any

from datafusion_exprtool.layers.cloudpickle import names as receiver_names
from datafusion_exprtool.layers.cloudpickle.code_args import CODE_ARGS, CODE_KINDS
from datafusion_exprtool.layers.pickle.values import ByteArray, Call, Frozen, Global, PDict, PList, PSet
from datafusion_exprtool.layers.pickle.vm import PickleResult
from datafusion_exprtool.model import Finding

#: the catalog entries of what the receiver raises: a global its module lacks, a module its package lacks, any
#: other stream it refuses
MISSING_ATTRIBUTE, MISSING_MODULE, CORRUPT_STREAM = "module-attribute-missing", "module-missing", "cloudpickle-corrupt"
_CATALOG_IDS = {"udf-attribute-missing": MISSING_ATTRIBUTE, "udf-module-missing": MISSING_MODULE}
_CP_MODULES = ("cloudpickle.cloudpickle", "cloudpickle.cloudpickle_fast", "cloudpickle")
#: pickle-machinery modules, looked up in sys.modules only (never imported on the blob's word)
PICKLE_MODULES = ("builtins", "copyreg", "_codecs")
#: names that every ordinary stream uses: no import to confirm them
KNOWN = {"datafusion.user_defined": {"Accumulator", "WindowEvaluator"}}
#: what cloudpickle's ``_function_setstate`` pops from the slot state, in its order (cloudpickle 3.x)
SETSTATE_KEYS = ("__globals__", "__closure__", "_cloudpickle_submodules")
_KIND_TYPE = {"B": bytes, "T": tuple, "s": str}
_AT = CODE_ARGS[len(CODE_KINDS)]  # CPython 3.11's positions: the receiver's checks read them
_NAME_TUPLES = tuple(_AT[n] for n in ("names", "varnames", "freevars", "cellvars"))  # strings only
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08


def receiver_failures(result: PickleResult, python_minor: int | None) -> list[Finding]:
    """The first failure the receiver meets rebuilding ``result`` (a list of at most one finding)."""
    problems: list[tuple[int, str, str, str]] = []  # (offset, id, what, receiver text)
    for g in result.globals:
        text = module_error(g.module)  # fix_imports renames Python 2 names only: none of these packages
        if text is not None:
            problems.append((g.offset, "udf-module-missing", f"global {g.module}.{g.name}", text))
        elif result.protocol >= 3:  # no fix_imports renaming: the name looked up is the name in the stream
            text = attribute_error(g.module, g.name, result.protocol)
            if text is not None:
                problems.append((g.offset, "udf-attribute-missing", f"global {g.module}.{g.name}", text))
    model_code = sys.version_info[:2] == (3, 11) and python_minor == 11
    for c in result.calls:
        if not isinstance(c, Call) or not isinstance(c.args, tuple):
            continue
        if model_code and _is_code_type(c):
            text = code_error(c.args)
            if text is not None:
                problems.append((c.offset, "udf-code-invalid", "types.CodeType(...)", text))
        elif _is_cp(c.func, "_function_setstate") and len(c.args) == 2:
            text = _setstate_error(c.args[1])
            if text is not None:
                problems.append((c.offset, "udf-state-invalid", "_function_setstate(...)", text))
        elif isinstance(c.func, Global) and c.func.module in _CP_MODULES:
            text = arity_error(c.func, len(c.args))
            if text is not None:
                problems.append((c.offset, "udf-call-invalid", f"{c.func.name}(...)", text))
    if not problems:
        return []
    offset, fid, what, text = min(problems, key=lambda p: p[0])
    message = f"{what} at byte {offset} does not rebuild on this interpreter"
    return [
        Finding(
            id=fid,
            severity="warning",
            layer="cloudpickle",
            offset=offset,
            message=message,
            datafusion_text=text,
            catalog_id=_CATALOG_IDS.get(fid, CORRUPT_STREAM),
        )
    ]


def volatility_error(volatility: str) -> str:
    """datafusion-python's text for a volatility it does not know (case-sensitive), as far as it survives
    the re-escaping of datafusion's error (cut before a character repr escapes)."""
    cut = next((i for i, ch in enumerate(volatility) if not ch.isprintable() or ch in "'\\"), None)
    if cut is not None:
        return f"Unsupported volatility type: `{volatility[:cut]}"
    return (
        f"Unsupported volatility type: `{volatility}`, supported values are: immutable, stable and volatile."
    )


def _is_cp(value: Any, name: str) -> bool:
    return isinstance(value, Global) and value.module in _CP_MODULES and value.name == name


def _is_code_type(c: Call) -> bool:
    f = c.func
    return isinstance(f, Call) and _is_cp(f.func, "_builtin_type") and f.args == ("CodeType",)


@functools.cache
def installed_version(dist: str) -> str | None:
    """The installed version of a top-level package, from its ``.dist-info`` beside it; nothing imported
    (importlib.metadata costs ~40 ms on the inspect path). None when it cannot be told."""
    try:
        spec = importlib.util.find_spec(dist)  # a top-level name: found on sys.path, not imported
        if spec is None or not spec.submodule_search_locations:
            return None
        site = os.path.dirname(next(iter(spec.submodule_search_locations)))
        prefix = f"{dist}-"
        for entry in os.listdir(site):
            if entry.startswith(prefix) and entry.endswith(".dist-info"):
                return entry[len(prefix) : -len(".dist-info")]
    except (ImportError, ValueError, OSError):
        pass
    return None


def _names(module: str) -> frozenset[str] | None:
    """The top-level names of the receiver's ``module``, or None when they cannot be told without running
    anything: a pickle-machinery module already loaded here (its namespace, read as a dict), or one of the
    tool's dependencies whose installed version the generated table describes."""
    if module in PICKLE_MODULES:
        mod = sys.modules.get(module)
        return frozenset(vars(mod)) if mod is not None else None
    names = receiver_names.MODULE_NAMES.get(module)
    dist = module.split(".")[0]
    if names is None or installed_version(dist) != receiver_names.VERSIONS.get(dist):
        return None
    return names


def lacks(module: str, name: str) -> bool:
    """True when the receiver's ``module`` certainly has no attribute ``name`` (its unpickler refuses the
    global before anything is called); False when it has it or that cannot be told."""
    names = _names(module)
    return names is not None and name.split(".")[0] not in names


def module_error(module: str) -> str | None:
    """CPython's text for a global whose module the receiver's cloudpickle, datafusion or pyarrow does not
    have (``datafusion.uwer_defined``: a flipped bit, or a module another version renamed); None when it has
    it or that cannot be told (another package, another installed version than the table's)."""
    parts = module.split(".")
    dist = parts[0]
    known = receiver_names.MODULES.get(dist)
    if known is None or installed_version(dist) != receiver_names.VERSIONS.get(dist):
        return None
    for depth in range(2, len(parts) + 1):
        prefix = ".".join(parts[:depth])
        if prefix in known:
            continue
        parent = ".".join(parts[: depth - 1])
        if parent not in receiver_names.PACKAGES:
            return f"No module named '{prefix}'; '{parent}' is not a package"
        return f"No module named '{prefix}'"
    return None


def attribute_error(module: str, name: str, protocol: int) -> str | None:
    """CPython's text for a global whose module lacks ``name``; None when it has it (or cannot be told)."""
    if (module in _CP_MODULES and name in _cloudpickle_internals()) or name in KNOWN.get(module, ()):
        return None
    parts = name.split(".") if protocol >= 4 else [name]
    if "<locals>" in parts:
        return f"Can't pickle local attribute {_quoted(name, module)}"
    names = _names(module)
    if names is None or parts[0] in names:
        return None  # unknown module, or the first part exists (deeper parts are not tabled: no verdict)
    return f"Can't get attribute {_quoted(name, module)}"


def arity_error(func: Global, given: int) -> str | None:
    """CPython's TypeError for calling a cloudpickle reconstructor (plain positional parameters, no defaults)
    with ``given`` arguments; None when the count fits or the signature is not that plain."""
    if func.name not in _cloudpickle_internals() or _names("cloudpickle.cloudpickle") is None:
        return None
    signature = receiver_names.SIGNATURES.get(func.name)
    if signature is None:
        return None
    qualname, params = signature
    want = len(params)
    if given > want:
        return (
            f"{qualname}() takes {want} positional argument{'s' if want != 1 else ''} but {given} "
            f"{'were' if given != 1 else 'was'} given"
        )
    if given < want:
        names = [f"'{n}'" for n in params[given:want]]
        listed = names[0]
        if len(names) > 1:
            listed = f"{', '.join(names[:-1])}{',' if len(names) > 2 else ''} and {names[-1]}"
        plural = "s" if len(names) > 1 else ""
        return f"{qualname}() missing {len(names)} required positional argument{plural}: {listed}"
    return None


def _quoted(name: str, module: str) -> str:
    """``'name' on <module 'module'``: the part of CPython's text that survives datafusion's re-escaping
    (a name with characters repr escapes is cut before the first: Rust escapes the backslash again)."""
    if name.isprintable() and "'" not in name and "\\" not in name:
        return f"'{name}' on <module {module!r}"
    if "'" in name:  # repr switches to double quotes
        return ""
    cut = next(i for i, ch in enumerate(name) if not ch.isprintable() or ch == "\\")
    return f"'{name[:cut]}"


def _cloudpickle_internals() -> frozenset[str]:
    from datafusion_exprtool.layers.pickle.grammar import CLOUDPICKLE_INTERNALS  # noqa: PLC0415

    return CLOUDPICKLE_INTERNALS


def _type_name(value: Any) -> str | None:
    """The Python type name of a value the machine pushed; None when the unpickler alone would know it."""
    if value is None:
        return "NoneType"
    if isinstance(value, (bool, int, float, str, bytes, tuple, list, dict, set, frozenset, bytearray)):
        return type(value).__name__
    for cls, name in ((PList, "list"), (PDict, "dict"), (PSet, "set"), (Frozen, "frozenset"),
                      (ByteArray, "bytearray")):  # fmt: skip
        if isinstance(value, cls):
            return name
    if isinstance(value, Call) and _is_code_type(value):
        return "code"
    return None


def code_error(args: tuple) -> str | None:
    """CPython 3.11's error for ``types.CodeType(*args)``; None when it builds (or a type is not known)."""
    n = len(args)
    if n < 16:
        return f"code expected at least 16 arguments, got {n}"
    if n > 18:
        return f"code expected at most 18 arguments, got {n}"
    for i, (kind, value) in enumerate(zip(CODE_KINDS, args, strict=False)):
        tn = _type_name(value)
        if tn is None:
            return None
        if kind == "i":
            if not isinstance(value, int):
                return f"'{tn}' object cannot be interpreted as an integer"
            if not _INT_MIN <= value <= _INT_MAX:
                return "Python int too large to convert to C int"
        elif not isinstance(value, _KIND_TYPE[kind]):
            return f"code() argument {i + 1} must be {_KIND_TYPE[kind].__name__}, not {tn}"
    argcount, posonly, kwonly, nlocals, stacksize, flags, code = args[:7]
    for label, value in (("argcount", argcount), ("posonlyargcount", posonly), ("kwonlyargcount", kwonly),
                         ("nlocals", nlocals)):  # fmt: skip
        if value < 0:
            return f"code: {label} must not be negative"
    for i in _NAME_TUPLES:
        for item in args[i] if i < n else ():
            tn = _type_name(item)
            if tn is None:
                return None
            if not isinstance(item, str):
                return f"name tuples must contain only strings, not '{tn}'"
    if argcount < posonly or stacksize < 0 or flags < 0:
        return "bad argument to internal function"  # SystemError, after CPython's file:line
    if len(code) % 2:
        return "code: co_code is malformed"
    varnames = args[_AT["varnames"]]
    plain = len(varnames) - argcount - kwonly - bool(flags & _CO_VARARGS) - bool(flags & _CO_VARKEYWORDS)
    if plain < 0:
        return "code: co_varnames is too small"
    if nlocals != len(varnames):
        return "code: co_nlocals != len(co_varnames)"
    return None


def _setstate_error(state: Any) -> str | None:
    """``KeyError`` text when the slot state lacks a key ``_function_setstate`` pops (all keys plain str)."""
    if not isinstance(state, tuple) or len(state) != 2 or not isinstance(state[1], PDict):
        return None
    if not isinstance(state[0], PDict):
        return None
    keys = state[1].keys()
    if not all(isinstance(k, str) for k in keys):
        return None
    missing = next((k for k in SETSTATE_KEYS if k not in keys), None)
    return None if missing is None else f"KeyError({missing!r})"
