"""The message types a serialized datafusion object can be (fact sheet §0), and which of them are plans.

A blob carries no header naming its type: detection tries the roots in order, and a field whose type is
a plan node is a plan's input (a child in outlines, trees and diffs), never a detail of its node.
"""

from __future__ import annotations

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.wire import LEN, iter_raw

#: the root message types, in detection's tie-break order (an Expr first: the only one that can be pickled)
ROOT_MESSAGES = ("LogicalExprNode", "LogicalPlanNode", "PhysicalPlanNode")

#: what ``--message`` also accepts for each root
MESSAGE_ALIASES = {
    "expr": "LogicalExprNode",
    "logical": "LogicalPlanNode",
    "physical": "PhysicalPlanNode",
    "logical-plan": "LogicalPlanNode",
    "physical-plan": "PhysicalPlanNode",
}


def resolve_message(name: str | None) -> str | None:
    """A ``--message`` value as a root message type (None: detect it); ValueError for an unknown name."""
    if name is None:
        return None
    resolved = MESSAGE_ALIASES.get(name.lower(), name)
    if resolved not in ROOT_MESSAGES:
        raise ValueError(
            f"unknown message {name!r}: use one of {', '.join(ROOT_MESSAGES)} (or expr/logical/physical)"
        )
    return resolved


#: the plan node types: the roots that are plans (datafusion 55 cannot pickle them: only Expr has __reduce__)
PLAN_MESSAGES = ("LogicalPlanNode", "PhysicalPlanNode")

#: the oneof each root must set, and what datafusion says when it is missing (fact sheet §2.8)
ROOT_ONEOF = {
    "LogicalExprNode": ("expr_type", "Missing required field expr_type"),
    "LogicalPlanNode": ("LogicalPlanType", "Unsupported logical plan: no logical_plan_type is set"),
    "PhysicalPlanNode": ("PhysicalPlanType", "Unsupported physical plan: no physical_plan_type is set"),
}

#: root arms datafusion never writes with an empty body, though prost and from_proto accept one: detection
#: ranks such a reading below one without it. ``52 00`` is the plan ``EmptyRelation`` (rows=0), not the
#: expression ``CASE END``: datafusion cannot build a CASE without WHEN (planning error in the API, parser
#: error in SQL).
EMPTY_ARMS_NEVER_WRITTEN = frozenset({("LogicalExprNode", "case_")})
#: fields datafusion never writes empty, though prost accepts them empty: a root arm holding one empty is ranked
#: like an empty arm above. ``a2 01 06 0a 02 63 31 1a 00`` is the plan ``CREATE DATABASE c1`` (its schema an
#: empty DfSchema), not a call ``c1()`` with an empty definition (datafusion writes a function's
#: ``fun_definition`` only when its codec wrote bytes); ``da 01 04 0a 00 10 01`` is the physical
#: PlaceholderRowExec, not a logical DROP VIEW of a table reference that names nothing (a statement's table
#: reference always has its arm).
EMPTY_FIELDS_NEVER_WRITTEN = {
    "ScalarUDFExprNode": frozenset({3}),
    "DropViewNode": frozenset({1}),
    "CreateViewNode": frozenset({5}),
    "CreateExternalTableNode": frozenset({9}),
}



def unwritten_arm(root: str, arm: str, body: object) -> bool:
    """A root's arm as datafusion never writes it: empty (EMPTY_ARMS_NEVER_WRITTEN), or holding, empty, a field
    it never writes empty (EMPTY_FIELDS_NEVER_WRITTEN)."""
    if not isinstance(body, Msg):
        return False
    if (root, arm) in EMPTY_ARMS_NEVER_WRITTEN and body.start == body.end:
        return True
    numbers = EMPTY_FIELDS_NEVER_WRITTEN.get(body.type)
    if not numbers:
        return False
    return any(n in numbers and w == LEN and a == b for n, w, a, b, _t in iter_raw(body.buf, body.start, body.end))
