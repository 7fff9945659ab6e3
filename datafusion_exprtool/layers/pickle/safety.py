"""Judge what a statically walked pickle stream does while it is decoded, against the grammar of what datafusion
and cloudpickle write (``grammar.py``), and fail closed.

Two contexts: the outer ``pickle.dumps(expr)`` stream ('expr') and a cloudpickle UDF stream ('cloudpickle').
``read`` gives every value a ``Kind`` in stream order (what each allowed call builds); then each ``Rule``
yields findings: a call outside the grammar, a call of a value the stream computed, a mutation of something
the stream did not create, a global reached through another module or built from computed strings, an
extension-registry or persistent-id reference. Each finding names the layer, the byte offset, the opcode
and the rule. What plain cloudpickle output does that runs code while a worker decodes (a by-value class
with ``__setstate__``, a by-value metaclass, ``__reduce__`` calling by-value code) is the gray zone:
verdict ``code``, said plainly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from datafusion_exprtool.layers.cloudpickle.receiver import lacks
from datafusion_exprtool.layers.pickle.class_hooks import (
    ABSENT,
    abc_registry,
    class_built,
    class_hook,
    class_hooks,
    consumed,
    hooks_run,
)
from datafusion_exprtool.layers.pickle.expr_payload import readable_payload
from datafusion_exprtool.layers.pickle.families import RUNS_ON_IMPORT, denied, norm
from datafusion_exprtool.layers.pickle.grammar import (
    BUILTIN_CLASSES,
    CLOUDPICKLE_MODULES,
    EXPR_GLOBALS,
    EXPR_SHAPES,
    GRAMMAR_PACKAGES,
    INTROSPECTION,
    METACLASSES,
    STDLIB_MODULES,
    STORES_ONLY,
    Kind,
    Shape,
    value_class,
    value_shape,
)
from datafusion_exprtool.layers.pickle.reading import Reading, by_value_code, finding, runs_code, what
from datafusion_exprtool.layers.pickle.values import (
    Call,
    Ext,
    Global,
    NewObj,
    PDict,
    PersistentId,
    PList,
    iter_nodes,
)
from datafusion_exprtool.layers.pickle.vm import PickleResult
from datafusion_exprtool.model import Finding

#: the environment variable that adds a site's own value types to the grammar (``--allow`` adds more)
ALLOW_ENV = "EXPRTOOL_ALLOW"


def allowed_names(extra: tuple[str, ...] | list[str] = ()) -> frozenset[str]:
    """The site's own value types: ``EXPRTOOL_ALLOW`` (comma or space separated) plus ``extra``."""
    env = os.environ.get(ALLOW_ENV, "").replace(",", " ").split()
    return frozenset(norm(n) for n in (*env, *extra) if n)


def read(result: PickleResult, context: str, layer: str, allow: frozenset[str] = frozenset()) -> Reading:
    """Give every call of the stream a kind, in stream order (a call only uses values made before it)."""
    r = Reading(result, context, layer, allow)
    for node in result.calls:
        if r.stop is not None:
            break
        if isinstance(node, NewObj):
            _new_object(r, node)
        else:
            _call(r, node)
    for value, offset in result.hashed:
        hooks_run(r, offset, value, "hashed", "a dict key or set item")
    return r


def _call(r: Reading, c: Call) -> None:
    target, kind = c.func, r.kind(c.func)
    if isinstance(target, Global):
        dotted = norm(target.dotted)
        if dotted == "builtins.getattr":
            _getattr(r, c)
            return
        if dotted in ("copyreg.__newobj__", "copyreg.__newobj_ex__", "copyreg._reconstructor"):
            cls = c.args[0] if isinstance(c.args, tuple) and c.args else None
            if dotted == "copyreg._reconstructor" and not _reconstructor_base(r, c):
                return
            _instance(r, c, cls, "REDUCE", f"{dotted}(…)")
            return
        if r.context == "expr":
            shape = EXPR_SHAPES.get(dotted)
        else:
            shape = value_shape(dotted, r.allow)
        if shape is None and target.module in CLOUDPICKLE_MODULES and lacks(target.module, target.name):
            r.stop = target.offset  # a name the receiver's cloudpickle lacks: its unpickler refuses it there
            return
        if shape is None:
            why = denied(dotted)
            if why is not None:
                fid = "nested-unpickler" if why == "nested unpickler" else "suspicious-call"
                r.flag(fid, c.offset, "REDUCE", f"calls {dotted} ({why})", "dangerous family")
            else:
                fix = f"; if it is your own value type, --allow {dotted}" if r.context != "expr" else ""
                r.flag("suspicious-call", c.offset, "REDUCE",
                       f"calls {dotted}, which {_writer(r.context)} never calls{fix}", "call outside the grammar")
            return
        _apply(r, c, shape, dotted)
    elif kind == Kind.TYPE:
        dotted = r.names.get(id(target), "?")
        shape = value_shape(dotted, r.allow)
        if shape is None:
            r.flag("suspicious-call", c.offset, "REDUCE", f"calls {dotted}, which cloudpickle never calls",
                   "call outside the grammar")
            return
        _apply(r, c, shape, dotted)
    elif kind == Kind.RECONSTRUCTOR:  # its bytes: a constant, or ``_codecs.encode(str, 'latin1')`` below protocol 3
        if not (isinstance(c.args, tuple) and len(c.args) == 1 and r.kind(c.args[0]) == Kind.DATA):
            r.flag("suspicious-call", c.offset, "REDUCE", "Expr._reconstruct with other than one bytes argument",
                   "call outside the grammar")
        elif r.context == "expr" and not readable_payload(r.result, c.args[0]):
            # ``_codecs.encode(text, 'utf-16-le', 'surrogatepass')`` rebuilds any bytes: the Expr (and every UDF
            # in it) decodes, unread
            r.flag("suspicious-call", c.offset, "REDUCE", "Expr._reconstruct of bytes this reading cannot recover "
                   "(only literal bytes and _codecs.encode(text, 'latin1') are read): a payload it cannot judge",
                   "hides a payload")
        else:
            r.kinds[id(c)] = Kind.INSTANCE
    elif kind == Kind.CLASS and id(target) in r.enums and isinstance(c.args, tuple) and len(c.args) == 1:
        r.kinds[id(c)] = Kind.INSTANCE  # an enum member, looked up by value; a value it lacks calls _missing_
        missing = r.class_attrs.get(id(target), {}).get("_missing_")
        if missing is not None and by_value_code(r, missing):
            runs_code(r, c, "looks an enum member up", "a by-value enum with _missing_")
        elif missing is not None:
            r.flag("suspicious-call", c.offset, "REDUCE", f"looks a member of a by-value enum up whose _missing_ is "
                   f"{what(r, missing)}, not code of its own: a value it lacks calls it", "calls a planted attribute")
    elif kind in (Kind.FUNCTION, Kind.CLASS):
        runs_code(r, c, "calls by-value code", f"a by-value {kind}")
        r.kinds[id(c)] = Kind.INSTANCE
        if kind == Kind.CLASS:
            r.instance_of[id(c)] = target
            class_hooks(r, c, target, "called", "the class called")
    elif kind == Kind.ATTRIBUTE:
        dotted = r.names.get(id(target), "")
        owner = r.owner_class.get(id(target))
        if owner is not None:  # a classmethod of a by-value class (pyarrow extension types rebuild this way)
            runs_code(r, c, "calls a by-value class's method", dotted)
            r.kinds[id(c)] = Kind.INSTANCE
        elif dotted and (shape := value_shape(dotted, r.allow)) is not None:
            _apply(r, c, shape, dotted)
        else:
            r.flag("suspicious-call", c.offset, "REDUCE", f"calls {dotted or 'an attribute'} reached by getattr",
                   "calls a value the stream computed")
    else:
        r.flag("suspicious-call", c.offset, "REDUCE", f"calls {what(r, target)}",
               "calls a value the stream computed")


def _apply(r: Reading, c: Call, shape: Shape, dotted: str) -> None:
    if shape.arity is not None and not (isinstance(c.args, tuple) and len(c.args) in shape.arity):
        r.stop = c.offset  # TypeError before it runs: the receiver refuses the stream (layers/cloudpickle/receiver)
        return
    why = shape.args(c.args, r.kind)
    if why is not None:
        r.flag("suspicious-call", c.offset, "REDUCE", f"{dotted}: {why}", "arguments outside the grammar")
        return
    r.kinds[id(c)] = shape.builds
    if dotted not in STORES_ONLY and isinstance(c.args, tuple):
        consumed(r, c, dotted)
    if shape.builds == Kind.TYPE and isinstance(c.args, tuple) and c.args and isinstance(c.args[0], str):
        r.names[id(c)] = f"types.{c.args[0]}" if dotted.endswith("_builtin_type") else dotted
    if dotted.endswith(".subimport") and isinstance(c.args, tuple) and c.args and isinstance(c.args[0], str):
        # only an imported module is named: dynamic_subimport / ModuleType build a fresh namespace whose
        # attributes the stream chose (``dynamic_subimport('functools', {'partial': …})``)
        r.names[id(c)] = c.args[0]
        if denied(c.args[0]) == RUNS_ON_IMPORT:
            r.flag("suspicious-call", c.offset, "REDUCE", f"{dotted}({c.args[0]!r}) ({RUNS_ON_IMPORT})",
                   "dangerous family")
    if shape.stores_callable:
        _stored_callable(r, c, dotted)
    if dotted.endswith("._class_setstate") and isinstance(c.args, tuple) and isinstance(c.args[1], tuple):
        state = c.args[1][0] if c.args[1] else None
        if isinstance(state, PDict):
            attrs = r.class_attrs.setdefault(id(c.args[0]), {})
            attrs.update((k, v) for k, v in state.pairs if isinstance(k, str))
            r.class_attrs[id(c)] = attrs  # what it returns is the same class
            r.bases[id(c)] = r.bases.setdefault(id(c.args[0]), [])
            if id(c.args[0]) in r.metaclass:
                r.metaclass[id(c)] = r.metaclass[id(c.args[0])]
            abc_registry(r, c, c.args[0], state.get("_abc_impl"))
    if dotted.endswith("._make_skeleton_enum"):
        r.enums.add(id(c))
        class_built(r, c, None, c.args[0], enum_members=c.args[3])
    if dotted.endswith("._make_skeleton_class"):
        class_built(r, c, c.args[0], c.args[2], c.args[3])


def _reconstructor_base(r: Reading, c: Call) -> bool:
    """``copyreg._reconstructor(cls, base, state)`` runs ``base.__new__(cls, state)`` and, unless base is object,
    ``base.__init__(obj, state)``: protocols 0-1 write the class's first builtin base there (object, list, dict…),
    so any other base is a call of that class's ``__init__`` on the state (``wave.Wave_write`` opens a path)."""
    base = c.args[1] if isinstance(c.args, tuple) and len(c.args) == 3 else None
    if isinstance(base, Global) and norm(base.dotted) in BUILTIN_CLASSES:
        state = c.args[2]  # ``base(obj)``: a literal; ``list.__init__`` would run anything else to its end
        if norm(base.dotted) == "builtins.object" or state is None or (
                r.kind(state) == Kind.DATA and not (isinstance(state, int) and base.name == "bytearray")):
            return True
        r.flag("suspicious-call", c.offset, "REDUCE", f"copyreg._reconstructor runs {base.dotted}.__init__ on "
               f"{what(r, state)}: protocols 0-1 write a literal there (an Expr is iterated forever, a by-value "
               "instance runs its hooks)", "arguments outside the grammar")
        return False
    if isinstance(base, Global) and denied(base.dotted):
        return False  # said by the globals rule
    r.flag("suspicious-call", c.offset, "REDUCE",
           f"copyreg._reconstructor with base {what(r, base)}: it calls that class's __init__ on the state",
           "call outside the grammar")
    return False


def _stored_callable(r: Reading, c: Call, dotted: str) -> None:
    """A value that keeps a callable the worker calls later (a partial when called, a defaultdict's factory on a
    missing key): the callable must be one the grammar itself may call, or the value launders the call."""
    func = c.args[0] if isinstance(c.args, tuple) and c.args else None
    if dotted.endswith(".defaultdict") and c.builds:
        r.flag("suspicious-call", c.offset, "REDUCE", f"{dotted} whose state a later BUILD sets, which pickle never "
               "does (its default factory is among it)", "stores a callable outside the grammar")
        return
    # partial.__setstate__((func, args, kwds, dict)) swaps the function after the call that built it
    held = [func, *(st[0] if isinstance(st, tuple) and st else st for st in c.builds)]
    if all(_grammar_callable(r, f) for f in held):
        r.callables.add(id(c))  # a partial of a grammar callable: itself one
    elif dotted.endswith(".defaultdict"):
        r.flag("suspicious-call", c.offset, "REDUCE",
               f"{dotted} with default factory {what(r, func)}, which cloudpickle never calls (a missing key calls it)",
               "stores a callable outside the grammar")


def _grammar_callable(r: Reading, value: Any) -> bool:
    """None, by-value code (the gray zone), a type the grammar built, or a global the grammar may call."""
    if value is None or id(value) in r.callables or r.kind(value) in (Kind.FUNCTION, Kind.CLASS, Kind.TYPE):
        return True
    if isinstance(value, Global):
        name = norm(value.dotted)
        return value_shape(name, r.allow) is not None or value_class(name, r.allow)
    return False


def _getattr(r: Reading, c: Call) -> None:
    args = c.args
    if not (isinstance(args, tuple) and len(args) == 2):
        r.flag("suspicious-call", c.offset, "REDUCE", "getattr with other than two arguments", "call outside the grammar")
        return
    owner, name = args
    if not isinstance(name, str):
        r.flag("suspicious-call", c.offset, "REDUCE", "getattr of a computed name", "computed attribute name")
        return
    okind = r.kind(owner)
    base = norm(owner.dotted) if isinstance(owner, Global) else r.names.get(id(owner), "")
    dotted = f"{base}.{name}" if base else name
    r.names[id(c)] = dotted if base else ""  # named in what a later call of it is told
    if name in INTROSPECTION:
        r.flag("suspicious-call", c.offset, "REDUCE", f"getattr reaches {dotted}", "reaches interpreter internals")
        return
    if base and (why := denied(dotted)):
        r.flag("suspicious-call", c.offset, "REDUCE", f"getattr reaches {dotted} ({why})", "dangerous family")
        return
    if r.context == "expr":
        if dotted == "datafusion.expr.Expr._reconstruct":
            r.kinds[id(c)] = Kind.RECONSTRUCTOR
        else:
            r.flag("suspicious-call", c.offset, "REDUCE", f"getattr reaches {dotted}, which an Expr pickle never names",
                   "call outside the grammar")
        return
    if id(owner) in r.instance_of:  # cloudpickle writes a by-value instance's bound method as types.MethodType
        r.flag("suspicious-call", c.offset, "REDUCE", f"getattr({what(r, owner)}, {name!r}) on an instance of a "
               "by-value class: its descriptors (a property's getter) run while decoding",
               "getattr on a by-value instance")
        return
    if okind in (Kind.GLOBAL, Kind.MODULE, Kind.TYPE, Kind.CLASS, Kind.INSTANCE, Kind.DATA):
        r.kinds[id(c)] = Kind.RECONSTRUCTOR if dotted == "datafusion.expr.Expr._reconstruct" else Kind.ATTRIBUTE
        if okind == Kind.CLASS:
            r.owner_class[id(c)] = owner
        return
    r.flag("suspicious-call", c.offset, "REDUCE", f"getattr({what(r, owner)}, {name!r})",
           "getattr on a value the stream computed")


def _new_object(r: Reading, node: NewObj) -> None:
    if node.opcode in ("OBJ", "INST"):  # protocol 2+ pickles (every datafusion and cloudpickle one) never write them
        r.flag("suspicious-call", node.offset, node.opcode, f"calls {what(r, node.cls)}",
               f"{node.opcode} is not an opcode datafusion or cloudpickle write")
        return
    _instance(r, node, node.cls, node.opcode, "cls.__new__(cls, …)")


def _instance(r: Reading, node: Call | NewObj, cls: Any, opcode: str, how: str) -> None:
    """An object created from ``cls`` without calling it (NEWOBJ, ``copyreg.__newobj__`` / ``_reconstructor``)."""
    kind = r.kind(cls)
    if kind == Kind.CLASS:
        r.kinds[id(node)] = Kind.INSTANCE
        r.instance_of[id(node)] = cls
        class_hooks(r, node, cls, "instance", "an instance created")
        return
    dotted = norm(cls.dotted) if isinstance(cls, Global) else r.names.get(id(cls), "")
    if dotted in METACLASSES:
        r.flag("suspicious-call", node.offset, opcode, f"{how} with cls {dotted}: it creates a class from the stream's "
               "bases and namespace (their __init_subclass__, __set_name__ and metaclass run); cloudpickle builds "
               "classes with _make_skeleton_class", "creates an object outside the grammar")
        return
    shape = value_shape(dotted, r.allow) if dotted else None
    if shape is not None and shape.stores_callable:
        r.flag("suspicious-call", node.offset, opcode, f"{how} with cls {dotted}: pickle calls it to rebuild one, "
               "never creates it bare (its callable would be set unjudged)", "creates an object outside the grammar")
        return
    if dotted and value_class(dotted, r.allow) and kind in (Kind.GLOBAL, Kind.TYPE):
        r.kinds[id(node)] = Kind.INSTANCE
        if dotted == "collections.ChainMap":
            r.chainmaps.add(id(node))
        return
    top = dotted.split(".", 1)[0]
    if (isinstance(cls, Global) and r.context == "cloudpickle" and top not in STDLIB_MODULES
            and top not in GRAMMAR_PACKAGES and not denied(dotted)):  # fmt: skip
        r.kinds[id(node)] = Kind.INSTANCE  # an instance of an importable class: its own __new__/__setstate__ run
        r.gray.append(finding(
            "imported-class-instance", r.layer, node.offset,
            f"{opcode}: rebuilds an instance of {dotted}; the worker imports {top} and runs that class's "
            f"__new__/__setstate__ while decoding", "code",
        ))
        return
    if denied(dotted):
        return  # said by the globals rule
    r.flag("suspicious-call", node.offset, opcode, f"{how} with cls {dotted or what(r, cls)}",
           "creates an object of a class outside the grammar")


def _writer(context: str) -> str:
    return "an Expr pickle" if context == "expr" else "cloudpickle"


# --- rules: each yields findings from a Reading ------------------------------------------------------------


class Rule:
    """One check over a reading; ``check`` yields its findings."""

    def check(self, r: Reading) -> Iterator[Finding]:
        raise NotImplementedError


class CallsOutsideTheGrammar(Rule):
    def check(self, r: Reading) -> Iterator[Finding]:
        yield from r.problems


class GlobalsOutsideTheirModule(Rule):
    """A global in a dangerous family, walking from its module into another, or with a computed name."""

    def check(self, r: Reading) -> Iterator[Finding]:
        for g in r.result.computed_globals:
            yield finding("computed-global", r.layer, g.offset,
                           "STACK_GLOBAL: a global whose module or name the stream computed (resolved only when "
                           "loaded) (builds a global's name from computed strings)")
        for g in r.result.globals:
            name = norm(g.dotted)
            parts = g.name.split(".")
            walked = [p for p in parts[:-1] if p in STDLIB_MODULES or (p.startswith("__") and p.endswith("__"))]
            why = denied(name) or denied(".".join(parts)) if len(parts) > 1 else denied(name)
            if why is not None:
                fid = "nested-unpickler" if why == "nested unpickler" else "suspicious-global"
                yield finding(fid, r.layer, g.offset, f"global {g.dotted} ({why})")
            elif walked:
                yield finding("suspicious-global", r.layer, g.offset,
                               f"global {g.dotted} walks from module {g.module} into {walked[0]} "
                               "(a dotted name that leaves its module)")
            elif r.context == "expr" and name not in EXPR_GLOBALS:
                yield finding("suspicious-global", r.layer, g.offset, f"global {g.dotted} has no place in an Expr pickle")


class MutationsOfWhatTheStreamDidNotCreate(Rule):
    """BUILD, SETITEM(S), APPEND(S) on a module, class, function or anything reached rather than built."""

    def check(self, r: Reading) -> Iterator[Finding]:
        planted: dict[int, set[str]] = {}  # an object: the attribute names its BUILD states set
        for b in r.result.builds:
            planted.setdefault(id(b.obj), set()).update(_state_names(b.state))
        for b in r.result.builds:  # a (dict, slot dict) state is set by setattr: the class's __setattr__ runs
            slots = isinstance(b.state, tuple) and len(b.state) == 2 and b.state[1] is not None
            yield from self._judge(r, b.obj, b.offset, "BUILD", planted, ("__setattr__",) if slots else ())
        for m in r.result.mutations:
            yield from self._judge(r, m.target, m.offset, m.opcode, planted)

    @staticmethod
    def _judge(r: Reading, target: Any, offset: int, opcode: str, planted: dict[int, set[str]],
               extra: tuple[str, ...] = ()) -> Iterator[Finding]:  # fmt: skip
        kind = r.kind(target)
        if kind in (Kind.INSTANCE, Kind.DATA) and not isinstance(target, Global):
            hook = next((h for h in PICKLE_HOOKS.get(opcode, ()) if h in planted.get(id(target), ())), None)
            if hook is not None:
                yield finding("suspicious-mutation", r.layer, offset,
                               f"{opcode} on an object whose {hook!r} a BUILD state set: {hook} is looked up on the "
                               "object and called while decoding, so the stream calls what it chose (calls a "
                               "planted attribute)")
                return
            through = _written_through(r, target) if opcode in ("SETITEM", "SETITEMS") else None
            if through is not None:
                yield finding("suspicious-mutation", r.layer, offset,
                               f"{opcode} on a ChainMap over {what(r, through)}: it writes through to that "
                               "map, which the stream did not create (mutates something it did not create)")
                return
            cls = r.instance_of.get(id(target))
            names = PICKLE_HOOKS.get(opcode, ()) + LOOKUP_HOOKS.get(opcode, ()) + extra
            hooks = [(h, class_hook(r, cls, h)) for h in names if cls is not None]
            hooks = [(h, v) for h, v in hooks if v is not ABSENT and v is not None]
            bad = next(((h, v) for h, v in hooks if not by_value_code(r, v)), None)
            if bad is not None:  # ``__setstate__ = staticmethod(partial(zipfile.ZipFile, …))``: not its own code
                yield finding("suspicious-mutation", r.layer, offset,
                               f"{opcode} on an instance of a by-value class whose {bad[0]} is {what(r, bad[1])}, "
                               "not code of its own: pickle calls it while decoding (calls a planted attribute)")
            elif hooks:
                yield finding("runs-at-decode", r.layer, offset,
                               f"{opcode}: an instance of a by-value class with {hooks[0][0]}: it runs while the "
                               "worker decodes the blob, before any row", "code")
            return
        yield finding("suspicious-mutation", r.layer, offset,
                       f"{opcode} on {what(r, target)}, which the stream did not create "
                       "(mutates something it did not create)")


def _written_through(r: Reading, target: Any) -> Any:
    """What a ChainMap's BUILD states put in its ``maps`` that the stream did not create (None: nothing)."""
    if id(target) not in r.chainmaps:
        return None
    for state in getattr(target, "builds", ()):
        for part in state if isinstance(state, tuple) else (state,):
            maps = part.get("maps") if isinstance(part, PDict) else None
            for m in maps.items if isinstance(maps, PList) else [] if maps is None else [maps]:
                if r.kind(m) not in (Kind.DATA, Kind.INSTANCE) or isinstance(m, Global):
                    return m
    return None


#: the attributes pickle looks up on an object and calls (a fresh object's own attributes come first): BUILD's
#: ``__setstate__``, APPEND's ``append``, APPENDS's ``extend`` (else ``append``), ADDITEMS's ``add``; and a
#: class statement calls its bases' ``__mro_entries__`` (``_make_skeleton_class``). The two dunders are never an
#: instance's data: planting one is flagged whatever follows
PICKLE_HOOKS: dict[str, tuple[str, ...]] = {
    "BUILD": ("__setstate__", "__mro_entries__"), "APPEND": ("append",), "APPENDS": ("extend", "append"),
    "ADDITEMS": ("add",),
}  # fmt: skip
#: what else pickle's own code runs on a by-value instance for each opcode: the lookup of the hooks above (a
#: class's ``__getattribute__``/``__getattr__``) and SETITEM(S)'s item assignment (BUILD's ``setattr`` of a slot
#: state runs ``__setattr__``: added where the state has one)
LOOKUP_HOOKS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("APPEND", "APPENDS", "ADDITEMS"), ("__getattribute__", "__getattr__")),
    "BUILD": ("__getattribute__", "__getattr__"), **dict.fromkeys(("SETITEM", "SETITEMS"), ("__setitem__",)),
}  # fmt: skip


def _state_names(state: Any) -> set[str]:
    """The attribute names a BUILD state sets: a dict's keys, or a (dict, slot dict) pair's."""
    parts = state if isinstance(state, tuple) else (state,)
    return {k for part in parts if isinstance(part, PDict) for k in part.keys() if isinstance(k, str)}


class OpaqueReferences(Rule):
    """EXT (copyreg's extension registry) and PERSID (the unpickler's persistent_load) resolve outside the stream."""

    def check(self, r: Reading) -> Iterator[Finding]:
        for v in iter_nodes(r.result.value) + list(r.result.calls):
            if isinstance(v, Ext):
                yield finding("suspicious-extension", r.layer, v.offset,
                               "EXT: resolves a global through copyreg's extension registry")
            elif isinstance(v, PersistentId):
                yield finding("persistent-id", r.layer, v.offset,
                               "PERSID: an object the receiver's persistent_load decides, not the stream")


class RunsWhileDecoding(Rule):
    """The gray zone: plain cloudpickle output that runs by-value code while a worker decodes."""

    def check(self, r: Reading) -> Iterator[Finding]:
        yield from r.gray


RULES: tuple[Rule, ...] = (
    GlobalsOutsideTheirModule(), CallsOutsideTheGrammar(), MutationsOfWhatTheStreamDidNotCreate(),
    OpaqueReferences(), RunsWhileDecoding(),
)  # fmt: skip


def classify(result: PickleResult, context: str, origin_layer: str, allow: frozenset[str] | None = None) -> list[Finding]:
    """Findings for one walked stream. ``context`` is 'expr' (outer Expr pickle) or 'cloudpickle' (UDF stream)."""
    reading = read(result, context, origin_layer, allowed_names() if allow is None else allow)
    seen: set[tuple[str, int]] = set()
    out: list[Finding] = []
    for rule in RULES:
        for f in rule.check(reading):
            if reading.stop is not None and (f.offset or 0) > reading.stop:
                continue  # after the point where the receiver certainly raises: it never runs
            key = (f.id, f.offset or 0)
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out

