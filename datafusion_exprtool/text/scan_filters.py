"""How a table provider answers ``supports_filters_pushdown`` for a scan's filters, where the bytes decide it.

datafusion's display of a TableScan sorts its filters by the provider's answer (``full_filters`` for Exact,
``partial_filters`` for Inexact, ``unsupported_filters``), asked when the plan is displayed. A listing table
(``ListingTable``) answers Exact for a filter it can evaluate on partition values alone
(``expr_applicable_for_cols``), Inexact for any other: both decided by the filter and the table's partition
columns, which the bytes hold. A scalar function in such a filter must be Immutable; a built-in's volatility
is known (``builtins.NOT_IMMUTABLE``), a user-defined function's is not, and then no class is given (None).
"""

from __future__ import annotations

from datafusion_exprtool.layers.proto.builtins import NOT_IMMUTABLE, is_builtin
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.canonical import singles
from datafusion_exprtool.text.engine import arm

EXACT, INEXACT, UNSUPPORTED = "exact", "inexact", "unsupported"

# Expr kinds expr_applicable_for_cols refuses outright
_NEVER = frozenset({"aggregate_udf_expr", "window_expr", "wildcard", "unnest", "placeholder"})
# what an expression's tree walk never enters: values, types, a subquery's plan (not an Expr child)
_OPAQUE = frozenset({"ScalarValue", "ArrowType", "SubqueryNode", "LogicalPlanNode", "Schema", "DfSchema"})


def listing_pushdown(partition_cols: list[str], expr: Msg) -> str | None:
    """EXACT, INEXACT, or None when a user-defined function's volatility would decide it."""
    if not partition_cols:
        return INEXACT
    applicable = _applicable(set(partition_cols), expr)
    return None if applicable is None else EXACT if applicable else INEXACT


def _applicable(cols: set[str], root: Msg) -> bool | None:
    """``expr_applicable_for_cols``: False when any node refuses (the walk stops at the first, and only a
    refusing node hides its subtree), None when none refuses but a function of unknown volatility is met."""
    unknown = False
    stack = [root]
    while stack:
        m = stack.pop()
        if m.type == "LogicalExprNode":
            name, value, _n = arm(m)
            if name == "column":
                if singles(value).get("name", "") not in cols:
                    return False
                continue
            if name in _NEVER:
                return False
            if name in ("scalar_udf_expr", "higher_order_udf_expr"):
                fun = singles(value).get("fun_name", "")
                if fun in NOT_IMMUTABLE:
                    return False
                unknown |= not is_builtin(fun, "scalar")
            if name in ("literal", "scalar_subquery_expr") or not isinstance(value, Msg):
                continue
            m = value
        if not m.known:
            continue
        stack.extend(f.value for f in m.fields() if isinstance(f.value, Msg) and f.value.type not in _OPAQUE)
    return None if unknown else True
