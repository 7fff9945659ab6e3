"""A pickle stream read against the grammar: what each value is, and the findings its calls make.

``safety.py`` fills a ``Reading`` in stream order and its rules judge it; ``class_hooks.py`` judges the hooks the
interpreter calls on by-value classes. Both share the helpers here.
"""

from __future__ import annotations

from typing import Any

from datafusion_exprtool.layers.pickle.families import norm
from datafusion_exprtool.layers.pickle.grammar import Kind
from datafusion_exprtool.layers.pickle.values import (
    ByteArray,
    Call,
    Frozen,
    Global,
    PDict,
    PList,
    PSet,
)
from datafusion_exprtool.layers.pickle.vm import PickleResult
from datafusion_exprtool.model import Finding


class Reading:
    """A stream read against the grammar: the kind of every value, and what each call did.

    A plain class: a dataclass would cost its generated code on every start-up of the CLI.
    """

    def __init__(self, result: PickleResult, context: str, layer: str, allow: frozenset[str]):
        self.result = result
        self.context = context  # "expr" | "cloudpickle"
        self.layer = layer
        self.allow = allow
        self.kinds: dict[int, str] = {}
        self.names: dict[int, str] = {}  # a type's or an attribute's dotted name
        self.class_attrs: dict[int, dict[str, Any]] = {}  # a by-value class: the names its state sets, and values
        self.instance_of: dict[int, Any] = {}  # an instance: the by-value class it came from
        self.owner_class: dict[int, Any] = {}  # an attribute of a by-value class: that class
        self.bases: dict[int, list[Any]] = {}  # a by-value class: its by-value bases
        self.metaclass: dict[int, Any] = {}  # a by-value class: its by-value metaclass (given, or a base's)
        self.enums: set[int] = set()  # by-value enum classes (calling one looks a member up)
        self.callables: set[int] = set()  # partials of callables the grammar may call
        self.chainmaps: set[int] = set()  # ChainMaps: SETITEM writes through to their first map
        self.stop: int | None = None  # where the receiver's unpickler certainly raises: nothing after it runs
        self.problems: list[Finding] = []  # calls outside the grammar
        self.gray: list[Finding] = []  # calls that run by-value code while decoding

    def kind(self, value: Any) -> str:
        known = self.kinds.get(id(value))
        if known is not None:
            return known
        if isinstance(value, (str, bytes, int, float, complex, bool, tuple, PList, PDict, PSet, Frozen, ByteArray)):
            return Kind.DATA
        if value is None:
            return Kind.DATA
        if isinstance(value, Global):
            return Kind.GLOBAL
        return Kind.COMPUTED

    def flag(self, fid: str, offset: int, opcode: str, message: str, rule: str) -> None:
        self.problems.append(finding(fid, self.layer, offset, f"{opcode}: {message} ({rule})"))


def finding(fid: str, layer: str, offset: int, message: str, verdict: str = "suspicious") -> Finding:
    severity = "error" if verdict == "suspicious" else "warning"
    return Finding(id=fid, severity=severity, layer=layer, offset=offset, message=message, verdict=verdict)


def runs_code(r: Reading, node: Any, action: str, detail: str) -> None:
    r.gray.append(finding(
        "runs-at-decode", r.layer, node.offset,
        f"{action} ({detail}): it runs while the worker decodes the blob, before any row", "code",
    ))


def what(r: Reading, value: Any) -> str:
    if isinstance(value, Global):
        return value.dotted
    name = r.names.get(id(value))
    return name or f"a {r.kind(value)} value ({type(value).__name__})"


def by_value_code(r: Reading, value: Any) -> bool:
    """A by-value function, or a staticmethod/classmethod of one: what a class body defines."""
    if isinstance(value, Call) and isinstance(value.func, Global) and isinstance(value.args, tuple) and value.args:
        if norm(value.func.dotted) in ("builtins.staticmethod", "builtins.classmethod"):
            value = value.args[0]
    return r.kind(value) == Kind.FUNCTION
