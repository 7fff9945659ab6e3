"""The one rendering engine of text/, and the field readers every renderer shares.

A renderer is a generator that yields text chunks or child generators; ``drive`` runs the tree on an
explicit stack, so blob-controlled nesting never recurses in Python, and ``evaluate`` runs the same engine
to build values bottom-up (pyarrow types). ``arm`` (the set arm of a oneof), ``children`` (the entries of
a repeated field, lazily) and ``varint_value`` read a message's fields for the renderers.

What a renderer cannot read it shows as a placeholder (``placeholder``), and records it as a ``Gap``:
``render_collecting`` returns a rendering with the gaps it left, so no caller searches the text for them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple, Union

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import KIND_WIRE, LEN, VARINT, iter_raw

Gen = Generator[Union[str, "Gen"], None, None]

#: Gap kinds: bytes that do not decode (a DecodeError, a nested literal's Arrow bytes), or an arm or
#: field the renderers do not know
UNDECODABLE, UNSUPPORTED = "undecodable", "unsupported"


class Gap(NamedTuple):
    """A part of a rendering shown as a placeholder instead of being read."""

    kind: str  # UNDECODABLE | UNSUPPORTED
    layer: str  # the layer that could not be read: "protobuf" | "arrow-ipc"
    offset: int | None  # absolute offset of what the placeholder stands for, when known
    text: str  # the placeholder, as the rendering shows it


_GAPS: ContextVar[list[Gap] | None] = ContextVar("exprtool_render_gaps", default=None)


def placeholder(kind: str, layer: str, offset: int | None, text: str) -> str:
    """``text``, the placeholder a renderer shows for what it could not read, recorded as a ``Gap``."""
    gaps = _GAPS.get()
    if gaps is not None:
        gaps.append(Gap(kind, layer, offset, text))
    return text


def render_collecting(render: Callable[[Msg], str], msg: Msg) -> tuple[str, list[Gap]]:
    """``render(msg)`` and the gaps it left, in the order they were rendered."""
    gaps: list[Gap] = []
    token = _GAPS.set(gaps)
    try:
        return render(msg), gaps
    finally:
        _GAPS.reset(token)


def drive(root: Gen, out: list[str] | None = None, *, text: bool = True, limit: int | None = None) -> list[str]:
    """Run a generator tree: strings go to ``out``, generators are pushed and resumed until exhausted.

    A child's return value is sent to its parent when the parent resumes, so the same engine also
    builds values (pyarrow types) bottom-up. A generator that raises DecodeError is replaced by a
    visible placeholder: malformed bytes deep in a tree must not lose the rest of the rendering
    (recorded as a ``Gap`` when ``text``: ``evaluate`` builds values, the placeholders it drops are none).
    With ``limit``, the run stops once more than ``limit`` characters are out (a label needs no more).
    """
    out = [] if out is None else out
    stack: list[Gen] = [root]
    append, push, pop = out.append, stack.append, stack.pop
    sent: Any = None
    size = 0
    while stack:
        try:
            item = stack[-1].send(sent)
        except StopIteration as stop:
            pop()
            sent = stop.value
            continue
        except DecodeError as e:
            pop()
            shown = f"<undecodable @{e.offset}: {e.message}>"
            append(placeholder(UNDECODABLE, e.layer, e.offset, shown) if text else shown)
            sent = None
            continue
        sent = None
        if type(item) is str:
            append(item)
            if limit is not None:
                size += len(item)
                if size > limit:
                    break
        else:
            push(item)
    return out


def evaluate(root: Gen) -> Any:
    """Run a value-building generator tree on the engine and return the root's return value."""
    result: list[Any] = []

    def wrapper() -> Gen:
        result.append((yield root))

    drive(wrapper(), text=False)
    return result[0] if result else None


def render_with(fn: Callable[[Msg], Gen], msg: Msg, limit: int | None = None) -> str:
    """``fn``'s rendering of ``msg``; with ``limit``, its first ``limit`` + 1 characters or more (a longer text
    is cut there: a caller that cuts at ``limit`` still sees that it must)."""
    return "".join(drive(fn(msg), limit=limit))


#: texts already rendered, by (message type, absolute offset of its body): a renderer that consults it
#: (``known_text``) yields the text instead of walking the message again
_KNOWN: ContextVar[dict[tuple[str, int], str] | None] = ContextVar("exprtool_known_texts", default=None)


def known_text(msg: Msg) -> str | None:
    """The text recorded for ``msg`` by ``reusing`` (None outside it, or for a message not recorded)."""
    known = _KNOWN.get()
    return None if known is None else known.get((msg.type, msg.origin + msg.start))


@contextmanager
def reusing(known: dict[tuple[str, int], str]) -> Iterator[None]:
    """Render with ``known``'s texts standing for their messages: labels computed deepest first reuse their
    sub-expressions' (a text cut past a limit stands for the start of the whole, so only renderings cut at
    that limit may use it)."""
    token = _KNOWN.set(known)
    try:
        yield
    finally:
        _KNOWN.reset(token)


def children(msg: Msg, number: int, type_name: str) -> Iterator[Msg]:
    """Lazily yield the sub-messages of one repeated field: no list of a million entries is built."""
    buf, origin = msg.buf, msg.origin
    for n, wire, a, b, _tag in iter_raw(buf, msg.start, msg.end, origin):
        if n == number and wire == LEN:
            yield Msg(type_name, buf, a, b, origin)


def varint_value(kind: str, v: int) -> Any:
    """A raw varint read as its proto kind (prost's truncating casts for the 32-bit ones)."""
    if kind == "bool":
        return v != 0
    if kind in ("sint32", "sint64"):
        return (v >> 1) ^ -(v & 1)
    if kind in ("int32", "enum"):
        return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    if kind == "int64":
        v &= (1 << 64) - 1
        return v - (1 << 64) if v >= 1 << 63 else v
    return v & 0xFFFFFFFF if kind == "uint32" else v


def arm(msg: Msg) -> tuple[str | None, Any, int]:
    """The last known field of a message that belongs to a oneof (its arm), its value and the field number;
    the last known field when none does (a field beside the oneof, such as PhysicalExprNode.expr_id, is
    never taken for the arm).

    (None, offset, n) when only unknown field n is present; (None, None, 0) for an empty message.
    Only the winning field is converted: this runs once per rendered node, so it stays lean.
    """
    table = MESSAGES.get(msg.type, {})
    buf, origin = msg.buf, msg.origin
    last: tuple[int, int, int, int] | None = None
    last_arm: tuple[int, int, int, int] | None = None
    unknown: tuple[int, int] | None = None
    for n, wire, a, b, tag in iter_raw(buf, msg.start, msg.end, origin):
        spec = table.get(n)
        if spec is not None and (wire == KIND_WIRE.get(spec.kind, VARINT) or (wire == LEN and spec.repeated)):
            last = (n, wire, a, b)
            if spec.oneof is not None:
                last_arm = last
        elif unknown is None:
            unknown = (n, origin + tag)
    last = last_arm or last
    if last is None:
        return (None, unknown[1], unknown[0]) if unknown else (None, None, 0)
    n, wire, a, b = last
    name, kind, type_name, _repeated, _oneof = table[n]
    if wire == VARINT:
        return name, varint_value(kind, a), n
    if kind == "message":
        return name, Msg(type_name or "?", buf, a, b, origin), n
    if kind == "string":
        return name, bytes(buf[a:b]).decode("utf-8", "replace"), n
    if kind == "bytes":
        return name, bytes(buf[a:b]), n
    if kind == "double":
        return name, struct.unpack_from("<d", buf, a)[0], n
    if kind == "float":
        return name, struct.unpack_from("<f", buf, a)[0], n
    return next(
        ((f.name, f.value, f.number) for f in reversed(msg.fields()) if f.number == n), (None, None, n)
    )


def separated(items: Iterator[Any], fn: Callable[[Any], Gen], sep: str = ", ") -> Gen:
    """Items expanded by ``fn`` with ``sep`` between them (plan lists; expression lists use canonical.expr_list)."""
    for i, m in enumerate(items):
        if i:
            yield sep
        yield fn(m)
