"""The arguments of ``types.CodeType(...)`` as cloudpickle writes them: the one table every reader uses.

cloudpickle rebuilds a by-value function's code object as ``_builtin_type("CodeType")(*args)``, with the
arguments in the order of CPython's code constructor (cloudpickle 3.1 ``_code_reduce``): 18 on CPython
>= 3.11 (co_qualname and co_exceptiontable added; the same tuple on 3.11 and 3.12), 16 on 3.8-3.10. The
stream reader finds names, filename and bytecode by position, the receiver check applies CPython 3.11's
type checks per position, and diff compares the parts that change what the function does.
"""

from __future__ import annotations

#: CPython >= 3.11: (co_ attribute without the prefix, kind as CPython checks the argument:
#: i a C int, B bytes, T a tuple, s a str)
CODE_PARAMS: tuple[tuple[str, str], ...] = (
    ("argcount", "i"), ("posonlyargcount", "i"), ("kwonlyargcount", "i"), ("nlocals", "i"),
    ("stacksize", "i"), ("flags", "i"), ("code", "B"), ("consts", "T"), ("names", "T"), ("varnames", "T"),
    ("filename", "s"), ("name", "s"), ("qualname", "s"), ("firstlineno", "i"), ("linetable", "B"),
    ("exceptiontable", "B"), ("freevars", "T"), ("cellvars", "T"),
)  # fmt: skip
#: CPython 3.8-3.10: no qualname, no exceptiontable (3.8 and 3.9 pass co_lnotab where linetable is)
_BEFORE_311 = tuple(name for name, _kind in CODE_PARAMS if name not in ("qualname", "exceptiontable"))

#: number of arguments -> {argument name: position}, for the two layouts cloudpickle writes
CODE_ARGS: dict[int, dict[str, int]] = {
    len(CODE_PARAMS): {name: i for i, (name, _kind) in enumerate(CODE_PARAMS)},
    len(_BEFORE_311): {name: i for i, name in enumerate(_BEFORE_311)},
}
#: the kinds of CODE_PARAMS as one string, position by position (``"iiiiiiBTTTsssiBBTT"``)
CODE_KINDS = "".join(kind for _name, kind in CODE_PARAMS)
