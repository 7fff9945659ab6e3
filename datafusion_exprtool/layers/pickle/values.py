"""The symbolic values the static pickle machine (``layers.pickle.vm``) pushes instead of importing or calling.

Kept apart from the opcode loop that makes them: the consumers (``layers.pickle.expr_payload``,
``layers.pickle.safety``, ``layers.cloudpickle``) only read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ----------------------------------------------------------------------------------------------------------
# Symbolic values. eq=False: identity matters (the memo shares nodes) and no recursive __eq__ on blob data;
# reprs are shallow because blob structure may be arbitrarily deep or cyclic.

_node = dataclass(eq=False, repr=False)


class _Node:
    offset: int

    def __repr__(self) -> str:
        return f"{type(self).__name__}@{self.offset}"


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, (str, bytes)):
        return repr(value[:limit]) + ("…" if len(value) > limit else "")
    if isinstance(value, tuple):
        return f"tuple[{len(value)}]"
    return repr(value)[:limit] if not isinstance(value, _Node) else _Node.__repr__(value)


@_node
class Global(_Node):
    """A ``module.name`` lookup the unpickler would import (GLOBAL, STACK_GLOBAL, INST)."""

    module: str
    name: str
    offset: int

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"

    def __repr__(self) -> str:
        return f"Global({self.dotted}@{self.offset})"


@_node
class Call(_Node):
    """REDUCE: ``func(*args)``. ``builds`` holds the states a later BUILD applied to the result."""

    func: Any
    args: Any
    offset: int
    builds: list[Any] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Call({_short(self.func)}, {_short(self.args)}@{self.offset})"


@_node
class NewObj(_Node):
    """NEWOBJ / NEWOBJ_EX / OBJ / INST: ``cls.__new__(cls, *args, **kwargs)`` (INST/OBJ call ``cls(*args)``)."""

    cls: Any
    args: Any
    kwargs: Any
    offset: int
    opcode: str = "NEWOBJ"
    builds: list[Any] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"NewObj({_short(self.cls)}, {_short(self.args)}@{self.offset})"


@_node
class Build(_Node):
    """BUILD: ``obj.__setstate__(state)``. Recorded (and on ``obj.builds``); the stack keeps ``obj``
    so that memo references to ``obj`` and the stack agree."""

    obj: Any
    state: Any
    offset: int


@_node
class PList(_Node):
    """A list; mutable so that memo references see later APPEND/APPENDS."""

    items: list[Any]
    offset: int


@_node
class PDict(_Node):
    """A dict as (key, value) pairs: keys may be unhashable symbolic nodes."""

    pairs: list[tuple[Any, Any]]
    offset: int

    def get(self, key: str, default: Any = None) -> Any:
        """Last value stored under a plain str/bytes/int key (what the real dict would hold)."""
        found = default
        for k, v in self.pairs:
            if type(k) is type(key) and k == key:
                found = v
        return found

    def keys(self) -> list[Any]:
        return [k for k, _ in self.pairs]


@_node
class PSet(_Node):
    items: list[Any]
    offset: int


@_node
class Frozen(_Node):  # FROZENSET
    items: list[Any]
    offset: int


@_node
class ByteArray(_Node):  # BYTEARRAY8
    data: bytes
    offset: int


@_node
class PickleBuffer(_Node):
    """NEXT_BUFFER: the index-th out-of-band buffer (its bytes are not in the stream)."""

    index: int
    offset: int
    readonly: bool = False


@_node
class ComputedGlobal(_Node):
    """STACK_GLOBAL whose module or name the stream computed (a call's result): resolved only at load time."""

    module: Any
    name: Any
    offset: int


@_node
class PersistentId(_Node):  # PERSID / BINPERSID: resolved by the unpickler's persistent_load
    pid: Any
    offset: int


@_node
class Ext(_Node):  # EXT1/2/4: a copyreg extension-registry code
    code: int
    offset: int


@_node
class Mutation(_Node):
    """APPEND(S)/SETITEM(S)/ADDITEMS on something that is not a symbolic container: calls its methods."""

    target: Any
    opcode: str
    items: list[Any]
    offset: int


def iter_nodes(root: Any) -> list[Any]:
    """Every value reachable from ``root`` once (by identity), iteratively: safe on deep or cyclic data."""
    out: list[Any] = []
    seen: set[int] = set()
    todo = [root]
    while todo:
        v = todo.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        out.append(v)
        if isinstance(v, tuple):
            todo.extend(reversed(v))
        elif isinstance(v, (PList, PSet, Frozen)):
            todo.extend(reversed(v.items))
        elif isinstance(v, PDict):
            for k, x in reversed(v.pairs):
                todo.append(x)
                todo.append(k)
        elif isinstance(v, Call):
            todo.extend(reversed(v.builds))
            todo.append(v.args)
            todo.append(v.func)
        elif isinstance(v, NewObj):
            todo.extend(reversed(v.builds))
            todo.extend((v.kwargs, v.args, v.cls))
        elif isinstance(v, (PersistentId, Build)):
            todo.append(v.pid if isinstance(v, PersistentId) else v.state)
    return out
