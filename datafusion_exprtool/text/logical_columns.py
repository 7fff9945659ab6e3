"""The output columns of a logical plan node, as datafusion's display names them (``p.l``, ``x``), read from
the bytes where they are exact.

A logical plan on the wire holds no schema for most nodes: datafusion recomputes it when it decodes. Some
display lines need it all the same: ``Unnest: lists[p.l|depth=1] structs[]`` names the unnested columns by
their place in the input's schema, qualified as the input qualifies them, while the node itself holds only the
index and the column as the user wrote it (``l``). This module derives the columns of the nodes whose schema
follows from their bytes alone — scans (table name and projected fields), projections (columns and aliases
keep their name; any other expression counts, unnamed), subquery aliases (requalified), filters, sorts,
limits, repartitions, distincts (their input's), windows (their input's, then one per window expression), an
aggregate (group then aggregate expressions), values, an empty relation, and a nested Unnest (its own
schema). Anything else is unknown (None), never guessed. The walk is iterative: a chain of nodes is followed
with a loop, not recursion.
"""

from __future__ import annotations

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.canonical import singles, table_reference
from datafusion_exprtool.text.engine import arm, children

#: nodes whose columns are their input's
_PASS_THROUGH = frozenset({"selection", "sort", "limit", "repartition", "distinct"})
_SCANS = frozenset({"listing_scan", "custom_scan", "view_scan", "empty_table_scan"})


Column = tuple[str, str]  # (qualifier, name): a name may hold dots of its own (``__unnest_placeholder(p.l)``)


def flat_name(column: Column) -> str:
    """``qualifier.name``, or the name alone: datafusion's ``Column`` display."""
    qualifier, name = column
    return f"{qualifier}.{name}" if qualifier else name


def _field_names(schema: object) -> list[str]:
    if not isinstance(schema, Msg):
        return []
    return [str(singles(f).get("name", "")) for f in children(schema, 1, "Field")]


def _scan_columns(d: dict) -> list[Column | None]:
    table = d.get("table_name")
    qualifier = table_reference(table) if isinstance(table, Msg) else ""
    projection = d.get("projection")
    if isinstance(projection, Msg):
        names = [f.value for f in projection.fields() if f.name == "columns"]
    else:
        names = _field_names(d.get("schema"))
    return [(qualifier, n) for n in names]


def column_of(m: Msg) -> Column:
    """A Column message as (qualifier, name)."""
    d = singles(m)
    rel = d.get("relation")
    return (str(singles(rel).get("relation", "")) if isinstance(rel, Msg) else "", str(d.get("name", "")))


def _expr_column(e: Msg) -> Column | None:
    """The output column of a projected expression when its name follows from the bytes: a column, an alias."""
    name, value, _n = arm(e)
    if name == "column":
        return column_of(value)
    if name == "alias":
        d = singles(value)
        relation = d.get("relation")
        return (table_reference(relation) if isinstance(relation, Msg) else "", str(d.get("alias", "")))
    return None


def _unnest_columns(d: dict) -> list[Column | None] | None:
    schema = d.get("schema")
    if not isinstance(schema, Msg):
        return None
    out: list[Column | None] = []
    for df_field in children(schema, 1, "DfField"):
        f = singles(df_field)
        qualifier = f.get("qualifier")
        rel = str(singles(qualifier).get("relation", "")) if isinstance(qualifier, Msg) else ""
        field = f.get("field")
        out.append((rel, str(singles(field).get("name", "")) if isinstance(field, Msg) else ""))
    return out


def _own_columns(name: str, value: Msg) -> list[Column | None] | None:
    """The columns a node defines itself (not through its input); None when they do not follow from it."""
    d = singles(value)
    if name in _SCANS:
        return _scan_columns(d)
    if name == "cte_work_table_scan":
        return [(str(d.get("name", "")), n) for n in _field_names(d.get("schema"))]
    if name == "projection":
        columns = [_expr_column(e) for e in children(value, 2, "LogicalExprNode")]
        alias = d.get("alias")  # a projection written with an alias is read back under a SubqueryAlias
        return [c if c is None or not alias else (str(alias), c[1]) for c in columns]
    if name == "aggregate":
        return [_expr_column(e) for n in (2, 3) for e in children(value, n, "LogicalExprNode")]
    if name == "values":
        return [("", f"column{i + 1}") for i in range(int(d.get("n_cols", 0)))]
    if name == "empty_relation":
        return []
    if name == "unnest":
        return _unnest_columns(d)
    return None


def output_columns(plan: Msg) -> list[Column | None] | None:
    """``plan``'s output columns in order (None for one whose name does not follow from the bytes), or None
    when even their number does not."""
    alias: str | None = None  # the outermost SubqueryAlias requalifies every column below it
    extra = 0  # columns a window above appends (unnamed here)
    node: object = plan
    while isinstance(node, Msg) and node.known:
        name, value, _n = arm(node)
        if name is None or not isinstance(value, Msg) or not value.known:
            return None
        if name in _PASS_THROUGH or name in ("subquery_alias", "window"):
            d = singles(value)
            if name == "subquery_alias" and alias is None:
                ref = d.get("alias")
                alias = table_reference(ref) if isinstance(ref, Msg) else ""
            if name == "window":
                extra += sum(1 for _ in children(value, 2, "LogicalExprNode"))
            node = d.get("input")
            continue
        columns = _own_columns(name, value)
        if columns is None:
            return None
        if alias is not None:
            columns = [None if c is None else (alias, c[1]) for c in columns]
        return columns + [None] * extra
    return None
