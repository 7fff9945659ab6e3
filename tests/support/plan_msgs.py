"""Plan blobs made by a test's fixture, walked as the field tables read them: ``{"blobs": {name: (kind, bytes)}}``
with kind ``logical`` or ``physical``."""

from __future__ import annotations

from collections.abc import Iterator

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
