"""What to do with a decoded expression, read from its static tree (no datafusion needed).

The walker is iterative (explicit stack) so a deep blob cannot exhaust Python's recursion limit. It does not
descend into subquery plans: their columns belong to other tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.sandbox.failure import fail

MODES = ("project", "filter", "aggregate", "window")

# message types whose subtrees are other plans (their columns are not this expression's inputs)
_OPAQUE = {"LogicalPlanNode", "SubqueryNode", "ScalarSubqueryExprNode"}
# node type -> (name fields, tried in order), kind
_CALLS = {
    "ScalarUDFExprNode": (("fun_name",), "scalar"),
    "AggregateUDFExprNode": (("fun_name",), "aggregate"),
    "WindowExprNode": (("udwf", "udaf"), "window"),
}


@dataclass
class ExprShape:
    """The static facts eval needs: the input columns, the calls and their column arguments."""

    columns: list[str] = field(default_factory=list)  # in first-seen order
    has_window: bool = False
    has_aggregate: bool = False  # outside any window expression
    # (function name, kind, argument index, column name) for arguments that are bare columns
    column_args: list[tuple[str, str, int, str]] = field(default_factory=list)
    # the table qualifiers of the columns (Column.relation), first-seen order: eval names the data
    # after the qualifier when there is one
    relations: dict[str, str] = field(default_factory=dict)  # qualifier -> the first column it qualifies
    # placeholder ids ($1, $name), first-seen order
    placeholders: list[str] = field(default_factory=list)


def _children(msg: Msg) -> list[Msg]:
    return [f.value for f in msg.fields() if isinstance(f.value, Msg) and f.value.type not in _OPAQUE]


def _column_of(arg: Msg) -> str | None:
    """The column name when an argument is a bare column reference."""
    arm = arg.which("expr_type")
    if arm and arm[0] == "column":
        return arm[1].to_dict().get("name")
    return None


def analyze(root: Msg) -> ExprShape:
    """Walk a LogicalExprNode tree once."""
    shape = ExprShape()
    seen: set[str] = set()
    stack: list[tuple[Msg, bool]] = [(root, False)]  # (node, inside a window expression)
    while stack:
        msg, in_window = stack.pop()
        if msg.type not in MESSAGES:
            continue
        if msg.type == "Column":
            d = msg.to_dict()
            name = d.get("name")
            if name is not None and name not in seen:
                seen.add(name)
                shape.columns.append(name)
            relation = d.get("relation")
            qualifier = relation.to_dict().get("relation") if isinstance(relation, Msg) else None
            if qualifier and name is not None and qualifier not in shape.relations:
                shape.relations[qualifier] = name
            continue
        if msg.type == "PlaceholderNode":
            pid = msg.to_dict().get("id")
            if pid is not None and pid not in shape.placeholders:
                shape.placeholders.append(pid)
            continue
        call = _CALLS.get(msg.type)
        if call is not None:
            names, kind = call
            d = msg.to_dict()
            fname = next((d[n] for n in names if d.get(n)), "?")
            if kind == "window":
                shape.has_window = True
            elif kind == "aggregate" and not in_window:
                shape.has_aggregate = True
            for i, arg in enumerate(d.get("args") or d.get("exprs") or []):
                column = _column_of(arg)
                if column is not None:
                    shape.column_args.append((fname, kind, i, column))
            in_window = in_window or kind == "window"
        for child in reversed(_children(msg)):
            stack.append((child, in_window))
    return shape


def pick_mode(shape: ExprShape, forced: str | None = None, group_by: list[str] | None = None) -> str:
    """The mode from the tree, unless forced; a forced mode that cannot work is a usage error."""
    if forced is not None:
        if forced not in MODES:
            raise fail(
                "plan", f"unknown mode {forced!r}", hint=f"one of {', '.join(MODES)}", exit_code=ExitCode.USAGE
            )
        if forced != "aggregate" and shape.has_aggregate:
            raise fail(
                "plan",
                f"--mode {forced} given, but the expression is an aggregate",
                hint="use --mode aggregate (with --group-by)",
                exit_code=ExitCode.USAGE,
            )
        if group_by and forced != "aggregate":
            raise fail("plan", "--group-by only applies to aggregate mode", exit_code=ExitCode.USAGE)
        if forced == "aggregate" and not shape.has_aggregate:  # datafusion's planner refuses it, in 3 lines
            raise fail(
                "plan",
                "--mode aggregate given, but the expression calls no aggregate function",
                hint="use --mode project (or no --mode); to group rows, aggregate something (count(*), sum(x))",
                exit_code=ExitCode.USAGE,
            )
        return forced
    if shape.has_window:
        return "window"
    if shape.has_aggregate or group_by:
        return "aggregate"
    return "project"


# types datafusion coerces into each other when calling a UDF with an exact signature (checked against
# datafusion 55: int32 -> int64 is accepted, float64 -> int64 and utf8 -> int64 are refused)
_FAMILIES = (
    ("int8", "int16", "int32", "int64"),
    ("uint8", "uint16", "uint32", "uint64"),
    ("halffloat", "float", "double"),
    ("string", "large_string", "string_view"),
    ("binary", "large_binary", "binary_view"),
)


def _accepts(declared: str, actual: str) -> bool:
    if declared == actual:
        return True
    for fam in _FAMILIES:
        if declared in fam and actual in fam:
            i, j = fam.index(actual), fam.index(declared)
            return fam[0] in ("string", "binary") or i <= j
    if declared in ("int16", "int32", "int64") and actual in ("uint8", "uint16", "uint32"):
        return _FAMILIES[1].index(actual) < _FAMILIES[0].index(declared)
    return False


def check_schema(schema: Any, shape: ExprShape, functions: list[Any], extra: list[str], file: str) -> None:
    """Columns the expression (and --keep/--group-by) reference exist, with the types its UDFs declare."""
    names = list(schema.names)
    for column in [*shape.columns, *extra]:
        if column not in names:
            raise fail(
                "schema",
                f"column {column!r} is not in the input (it has: {', '.join(names)})",
                file=file,
                hint="pass the Parquet data the expression was written for",
            )
    declared = {f.name: f.input_types for f in functions if getattr(f, "input_types", None)}
    for fname, _kind, index, column in shape.column_args:
        types = declared.get(fname)
        if not types or index >= len(types):
            continue
        actual = str(schema.field(column).type)
        if not _accepts(types[index], actual):
            raise fail(
                "schema",
                f"column {column!r} is {actual} in the file, but {fname}() declares argument "
                f"{index} as {types[index]}",
                function=fname,
                file=file,
                hint=f"cast {column} to {types[index]}, or pass data with the expected type",
            )
