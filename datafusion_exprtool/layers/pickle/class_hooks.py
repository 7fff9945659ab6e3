"""The hooks the interpreter calls on its own on a by-value class while a worker decodes: a base's
``__init_subclass__``, a metaclass's ``__new__``, a namespace value's ``__set_name__``, a dict key's ``__hash__``,
what a value call runs on an instance it is given… (``grammar.CLASS_HOOKS``, by what the stream does).

The rule: each must be the class's own by-value code (``runs-at-decode``, the gray zone, said) or a value
constructor of the grammar; anything else (``staticmethod(partial(tarfile.TarFile, …))``) is a call the stream
chose: ``suspicious``.
"""

from __future__ import annotations

from typing import Any

from datafusion_exprtool.layers.pickle.families import norm
from datafusion_exprtool.layers.pickle.grammar import (
    CLASS_HOOKS,
    CONSUMED_HOOKS,
    SKELETON_NAMESPACE,
    Kind,
    value_shape,
)
from datafusion_exprtool.layers.pickle.reading import Reading, by_value_code, runs_code, what
from datafusion_exprtool.layers.pickle.values import Call, Frozen, Global, PDict, PList, PSet


def class_built(r: Reading, c: Call, meta: Any, bases: Any, namespace: Any = None, enum_members: Any = None) -> None:
    """A class statement run while decoding: its by-value bases' ``__init_subclass__``, its metaclass's hooks (the
    given one, or the most derived: a by-value base's), and the ``__set_name__`` of every namespace value run;
    an enum's members are created by its mixin's ``__new__``/``__init__`` and hashed."""
    by_value = [b for b in (bases if isinstance(bases, tuple) else ()) if r.kind(b) == Kind.CLASS]
    r.bases[id(c)] = by_value
    for base in by_value:
        class_hooks(r, c, base, "enum-base" if enum_members is not None else "base", "a by-value base")
    if r.kind(meta) != Kind.CLASS:
        meta = next((r.metaclass[id(b)] for b in by_value if id(b) in r.metaclass), None)
    if meta is not None:
        r.metaclass[id(c)] = meta
        runs_code(r, c, "builds a class whose metaclass travels by value", "its metaclass runs while decoding")
        class_hooks(r, c, meta, "metaclass", "its by-value metaclass")
    for _, value in enum_members.pairs if isinstance(enum_members, PDict) else ():
        if id(value) in r.instance_of:
            hook_check(r, c, r.instance_of[id(value)], CONSUMED_HOOKS, "an enum member's value")
    extra = [(k, v) for k, v in namespace.pairs if k not in SKELETON_NAMESPACE or not namespace_value(r, k, v)] \
        if isinstance(namespace, PDict) else []  # fmt: skip
    if extra:
        r.flag("suspicious-call", c.offset, "REDUCE", f"_make_skeleton_class with {extra[0][0]!r} = "
               f"{what(r, extra[0][1])} in type_kwargs, the namespace the class is created with: cloudpickle puts "
               "only __module__ and a __dict__ property there (each value's __set_name__ runs)",
               "arguments outside the grammar")


def namespace_value(r: Reading, key: Any, value: Any) -> bool:
    if key == "__module__":
        return isinstance(value, str)
    return isinstance(value, Call) and isinstance(value.func, Global) and norm(value.func.dotted) == "builtins.property"


def abc_registry(r: Reading, c: Call, cls: Any, registry: Any) -> None:
    """``_class_setstate`` calls ``cls.register(sub)`` for every class of the ``_abc_impl`` registry."""
    subs = registry.items if isinstance(registry, PList) else []
    if subs:
        class_hooks(r, c, cls, "abc-register", "an ABC registry")
    for sub in subs:
        if r.kind(sub) == Kind.CLASS:
            class_hooks(r, c, sub, "abc-registered", "a class an ABC registers")


def consumed(r: Reading, c: Call, dotted: str) -> None:
    """A value call given a by-value instance (or a literal holding one) may call any of its hooks."""
    args = list(c.args)
    args += [v for a in c.args if isinstance(a, (tuple, PList, PSet, Frozen)) for v in (a if isinstance(a, tuple)
             else a.items)]  # fmt: skip
    for a in args:
        if id(a) in r.instance_of:
            hook_check(r, c, r.instance_of[id(a)], CONSUMED_HOOKS, f"an argument of {dotted}")
        elif r.kind(a) == Kind.CLASS and dotted.endswith("operator.getitem") and a is c.args[0]:
            class_hooks(r, c, a, "subscripted", f"a by-value class given to {dotted}")


def hooks_run(r: Reading, offset: int, value: Any, event: str, detail: str) -> None:
    cls = r.instance_of.get(id(value))
    if cls is not None:
        hook_check(r, _At(offset, "SETITEM(S)/ADDITEMS/FROZENSET"), cls, CLASS_HOOKS[event], detail)


class _At:
    """Where a hook runs when no call node stands there (a dict key hashed by SETITEMS)."""

    def __init__(self, offset: int, opcode: str):
        self.offset, self.opcode = offset, opcode


def class_hooks(r: Reading, node: Any, cls: Any, event: str, detail: str) -> None:
    hook_check(r, node, cls, CLASS_HOOKS[event], detail)


def hook_check(r: Reading, node: Any, cls: Any, names: tuple[str, ...], detail: str) -> None:
    """Each hook the interpreter calls on ``cls`` here: its own by-value code runs at decode; anything else is a
    call the stream chose (``__init_subclass__ = staticmethod(partial(tarfile.TarFile, …))``)."""
    for name in names:
        value = class_hook(r, cls, name)
        if value is ABSENT:
            continue
        if by_value_code(r, value):
            runs_code(r, node, f"runs {name} of a by-value class", detail)
        elif value is not None and not value_constructor(r, value):
            opcode = getattr(node, "opcode", "REDUCE")
            r.flag("suspicious-call", node.offset, opcode, f"{detail}: the interpreter calls the by-value class's "
                   f"{name}, which is {what(r, value)}, not code of its own", "calls a planted attribute")
            return


ABSENT = object()


def value_constructor(r: Reading, value: Any) -> bool:
    """A global the grammar calls to build a value, or a staticmethod/classmethod of one
    (``__class_getitem__ = classmethod(types.GenericAlias)``): a hook that only builds a value."""
    if isinstance(value, Call) and isinstance(value.func, Global) and isinstance(value.args, tuple) and value.args:
        if norm(value.func.dotted) in ("builtins.staticmethod", "builtins.classmethod"):
            value = value.args[0]
    return isinstance(value, Global) and value_shape(norm(value.dotted), r.allow) is not None


def class_hook(r: Reading, cls: Any, name: str) -> Any:
    """``name`` as a by-value class's state (or a by-value base's) sets it, else ABSENT (inherited from a class
    the grammar knows)."""
    todo, seen = [cls], set()
    while todo:
        k = todo.pop(0)
        if id(k) in seen:
            continue
        seen.add(id(k))
        attrs = r.class_attrs.get(id(k), {})
        if name in attrs:
            return attrs[name]
        todo.extend(r.bases.get(id(k), ()))
    return ABSENT
