"""Replace message bodies inside a protobuf tree and rewrite every enclosing length prefix.

The one byte-level rewriter of a blob: eval binds placeholders with it (``actions/eval/params``) and points a
plan's scans at other files (``actions/eval/rebind``). Everything outside the replaced bodies and their
ancestors' length prefixes is copied byte for byte, so what datafusion wrote (field order, unknown fields,
non-minimal encodings) survives. The walk is iterative (an explicit stack), linear in the blob.
"""

from __future__ import annotations

from collections.abc import Callable

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, encode_varint, iter_raw, read_varint

#: what a caller returns for a message: its new body, or None to keep it (and look inside it)
Replacer = Callable[[Msg], "bytes | None"]


def splice(buf: bytes, root: str, replace: Replacer, into: frozenset[str] | None = None) -> tuple[bytes, int]:
    """``buf`` (a ``root`` message) with the body of each message ``replace`` returns bytes for replaced by
    them; also how many bodies were replaced. A replaced message's own fields are not visited; ``into``,
    when given, limits the walk to messages of those types (the ones that can hold what is replaced)."""
    # node: [parent index, start of its length prefix, body start, body end, change of the body's size]
    nodes: list[list[int]] = [[-1, 0, 0, len(buf), 0]]
    edits: list[tuple[int, int, bytes]] = []
    stack: list[tuple[str, int]] = [(root, 0)]
    replaced = 0
    while stack:
        mtype, index = stack.pop()
        _parent, _prefix, start, end, _delta = nodes[index]
        body = replace(Msg(mtype, buf, start, end))
        if body is not None:
            edits.append((start, end, body))
            nodes[index][4] = len(body) - (end - start)
            replaced += 1
            continue
        table = MESSAGES.get(mtype, {})
        for number, wire, a, b, tag in iter_raw(buf, start, end):
            spec = table.get(number)
            if wire != LEN or spec is None or spec.kind != "message" or spec.type not in MESSAGES:
                continue
            if into is not None and spec.type not in into:
                continue
            prefix = read_varint(buf, tag, a)[1]  # the length prefix starts after the tag, however long it is
            nodes.append([index, prefix, a, b, 0])
            stack.append((spec.type, len(nodes) - 1))
    for index in range(len(nodes) - 1, 0, -1):  # a node's children come after it: sizes flow upwards
        parent, prefix, start, end, delta = nodes[index]
        if delta:
            new_len = encode_varint(end - start + delta)
            edits.append((prefix, start, new_len))
            nodes[parent][4] += delta + len(new_len) - (start - prefix)
    out, pos = bytearray(), 0
    for a, b, body in sorted(edits, key=lambda e: (e[0], e[1])):
        out += buf[pos:a]
        out += body
        pos = b
    out += buf[pos:]
    return bytes(out), replaced


def holders(targets: set[str]) -> frozenset[str]:
    """The message types that are, or can (through message fields) contain, one of ``targets``: the walk
    of ``splice`` need not enter any other."""
    parents: dict[str, set[str]] = {}
    for mtype, table in MESSAGES.items():
        for spec in table.values():
            if spec.kind == "message" and spec.type in MESSAGES:
                parents.setdefault(spec.type, set()).add(mtype)
    found = set(targets)
    todo = list(targets)
    while todo:
        for parent in parents.get(todo.pop(), ()):
            if parent not in found:
                found.add(parent)
                todo.append(parent)
    return frozenset(found)
