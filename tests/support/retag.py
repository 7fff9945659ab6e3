"""A plan node datafusion-python cannot plan, made from one it can: the same fields under another arm of
``PhysicalPlanNode`` (the one byte-level rewriter, ``layers/proto/splice``). Used only where two nodes share
their field layout (a ProjectionExec's input, expressions and names are an AsyncFuncExec's; a HashJoinExec's
sides, keys, join type, mode and filter are a SymmetricHashJoinExec's); datafusion then decodes the result
and its own ``display_indent()`` of it is the reference, so nothing in the bytes is hand-typed."""

from __future__ import annotations

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.splice import splice
from datafusion_exprtool.layers.proto.wire import LEN, encode_varint, iter_raw
from datafusion_exprtool.text.engine import arm


def retag(blob: bytes, source_arm: str, target_number: int, drop: tuple[int, ...] = ()) -> bytes:
    """``blob`` (a PhysicalPlanNode) with every ``source_arm`` node moved to arm ``target_number``, the fields
    numbered in ``drop`` left out of its body; AssertionError if no such node is found."""

    def replace(m: Msg) -> bytes | None:
        if m.type != "PhysicalPlanNode":
            return None
        name, value, _number = arm(m)
        if name != source_arm:
            return None
        body = b"".join(
            value.buf[tag:end] for number, _w, _a, end, tag in iter_raw(value.buf, value.start, value.end)
            if number not in drop
        )  # fmt: skip
        return encode_varint(target_number << 3 | LEN) + encode_varint(len(body)) + body

    out, replaced = splice(blob, "PhysicalPlanNode", replace)
    assert replaced, f"no {source_arm} node in the plan"
    return out
