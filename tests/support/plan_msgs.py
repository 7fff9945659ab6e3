"""Plan blobs made by a test's fixture, walked as the field tables read them: ``{"blobs": {name: (kind, bytes)}}``
with kind ``logical`` or ``physical``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from datafusion_exprtool.layers.proto.msg import Msg

ROOTS = {"logical": "LogicalPlanNode", "physical": "PhysicalPlanNode"}


def walk(root: Msg) -> Iterator[Msg]:
    """Every message under ``root`` the tables know, pre-order."""
    stack = [root]
    while stack:
        m = stack.pop()
        yield m
        stack += reversed([f.value for f in m.fields() if isinstance(f.value, Msg) and f.value.known])


def plan_root(blobs: dict, name: str) -> Msg:
    kind, blob = blobs["blobs"][name]
    return Msg(ROOTS[kind], blob, 0, len(blob))


def first(blobs: dict, name: str, type_name: str) -> Msg:
    """The first ``type_name`` message in blob ``name``."""
    return next(m for m in walk(plan_root(blobs, name)) if m.type == type_name)


def assert_flips_named_as_datafusion(cases: list[tuple[tuple[str, str], str, bytes]], tmp: Path) -> None:
    """Each ``((message, field), kind, blob with that field's wire type flipped)``: datafusion refuses it, and
    exprtool's prost text is in datafusion's error, naming ``message.field`` (its oneof for an arm)."""
    from datafusion_exprtool.layers.proto.prost_error import PREFIX, prost_error
    from datafusion_exprtool.layers.proto.tables import MESSAGES
    from support.decoding import decode_cases

    for (key, kind, data), theirs in zip(cases, decode_cases(cases, tmp, "flipped"), strict=True):
        ours = prost_error(data, ROOTS[kind])
        assert theirs is not None and PREFIX in theirs, (key, theirs)
        assert ours is not None and ours in theirs.replace('\\"', '"'), (key, ours, theirs)
        message, field = key
        spec = next(s for s in MESSAGES[message].values() if s.name == field)
        assert f"{message}.{spec.oneof or field}: " in ours, (key, ours)
