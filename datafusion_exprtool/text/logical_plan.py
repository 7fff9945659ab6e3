"""Logical plan nodes as ``LogicalPlan.display_indent()`` shows them: one line per node, keyed by the node's
arm of ``LogicalPlanNode``.

``LINES[arm](node)`` returns the text after the indentation (``Projection: a, b``) as a rendering generator; an
arm without an entry falls back to the wire-level outline line (``text/plan.py``). Each line follows
datafusion 55's ``LogicalPlan::display``; expressions print with their Display (``canonical.expr_gen``).

What datafusion's display derives at planning time and the bytes do not hold is left out rather than guessed:
a scan's ``fetch`` (not serialized), the filter classes of a custom table's provider. The scan filters of a
listing table are classed the way ``ListingTable::supports_filters_pushdown`` classes them (``scan_filters``).
"""

from __future__ import annotations

from collections.abc import Callable

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.tables import ENUMS
from datafusion_exprtool.layers.proto.wire import VARINT, iter_raw
from datafusion_exprtool.text.canonical import expr_gen, expr_list, singles, sort_gen, table_reference
from datafusion_exprtool.text.engine import Gen, arm, children, separated
from datafusion_exprtool.text.logical_columns import column_of, flat_name, output_columns
from datafusion_exprtool.text.logical_ddl import DDL_LINES
from datafusion_exprtool.text.scan_filters import EXACT, INEXACT, UNSUPPORTED, listing_pushdown

# JoinType enum names -> datafusion's Display of JoinType
_JOIN_TYPES = {
    "INNER": "Inner", "LEFT": "Left", "RIGHT": "Right", "FULL": "Full", "LEFTSEMI": "LeftSemi",
    "LEFTANTI": "LeftAnti", "RIGHTSEMI": "RightSemi", "RIGHTANTI": "RightAnti", "LEFTMARK": "LeftMark",
    "RIGHTMARK": "RightMark",
}  # fmt: skip
_VALUES_SHOWN = 5  # datafusion shows the first five rows of a Values node, then "..."


def _has(m: Msg, number: int) -> bool:
    return next(children(m, number, "LogicalExprNode"), None) is not None


def _projection(m: Msg) -> Gen:
    # datafusion writes "Projection:" then " <e>" per expression, joined by ","
    yield "Projection:"
    if _has(m, 2):
        yield " "
        yield from expr_list(m, 2)


def _selection(m: Msg) -> Gen:
    d = singles(m)
    yield "Filter: "
    yield expr_gen(d["expr"]) if "expr" in d else "<missing expr>"


def _aggregate(m: Msg) -> Gen:
    yield "Aggregate: groupBy=[["
    yield from expr_list(m, 2)
    yield "]], aggr=[["
    yield from expr_list(m, 3)
    yield "]]"


def _window(m: Msg) -> Gen:
    yield "WindowAggr: windowExpr=[["
    yield from expr_list(m, 2)
    yield "]]"


def _sort(m: Msg) -> Gen:
    yield "Sort: "
    yield from separated(children(m, 2, "SortExprNode"), sort_gen)
    fetch = _int64(singles(m).get("fetch", 0))
    if fetch >= 0:  # datafusion writes -1 for no fetch and reads any negative one as none
        yield f", fetch={fetch}"


def _int64(v: int) -> int:
    """A raw varint read as int64 (``singles`` leaves varints unsigned)."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


_I64_MAX = (1 << 63) - 1


def _limit(m: Msg) -> Gen:
    # datafusion writes no fetch (OFFSET alone) as i64::MAX, the same bytes as a LIMIT of i64::MAX: read as none,
    # the far likelier
    d = singles(m)
    skip, fetch = max(_int64(d.get("skip", 0)), 0), _int64(d.get("fetch", 0))
    yield f"Limit: skip={skip}, fetch={fetch if 0 <= fetch < _I64_MAX else 'None'}"


def _join_line(m: Msg) -> Gen:
    d = singles(m)
    kind = _JOIN_TYPES.get(ENUMS["JoinType"].get(d.get("join_type", 0), ""), "?")
    has_keys, has_filter = _has(m, 5), "filter" in d
    if kind == "Inner" and not has_keys and not has_filter:
        kind = "Cross"
    yield f"{kind} Join:"
    if not has_keys and not has_filter:
        return
    yield " Using " if d.get("join_constraint", 0) == 1 else " "
    lefts, rights = children(m, 5, "LogicalExprNode"), children(m, 6, "LogicalExprNode")
    for i, (left, right) in enumerate(zip(lefts, rights, strict=False)):
        yield ", " if i else ""
        yield expr_gen(left)
        yield " = "
        yield expr_gen(right)
    if has_filter:
        yield " Filter: "
        yield expr_gen(d["filter"])


def _cross_join(_m: Msg) -> Gen:
    yield "Cross Join:"  # datafusion reads a cross join as an inner join without keys or filter


def _repartition(m: Msg) -> Gen:
    d = singles(m)
    name, value, _n = arm(m)
    if name == "hash":
        yield "Repartition: Hash("
        yield from expr_list(value, 1)
        yield f") partition_count={singles(value).get('partition_count', 0)}"
    else:
        yield f"Repartition: RoundRobinBatch partition_count={d.get('round_robin', 0)}"


def _empty_relation(m: Msg) -> Gen:
    yield f"EmptyRelation: rows={1 if singles(m).get('produce_one_row') else 0}"


def _subquery_alias(m: Msg) -> Gen:
    alias = singles(m).get("alias")
    yield f"SubqueryAlias: {table_reference(alias) if alias is not None else ''}"


def _values(m: Msg) -> Gen:
    n_cols = singles(m).get("n_cols", 0)
    yield "Values: "
    if not n_cols:
        return
    rows = 0
    cells = children(m, 2, "LogicalExprNode")
    while rows < _VALUES_SHOWN:
        row = [c for _, c in zip(range(n_cols), cells, strict=False)]
        if not row:
            return
        yield ", (" if rows else "("
        yield from separated(iter(row), expr_gen)
        yield ")"
        rows += 1
    if next(cells, None) is not None:
        yield "..."


def _distinct(_m: Msg) -> Gen:
    yield "Distinct:"


def _distinct_on(m: Msg) -> Gen:
    yield "DistinctOn: on_expr=[["
    yield from expr_list(m, 1)
    yield "]], select_expr=[["
    yield from expr_list(m, 2)
    yield "]], sort_expr=[["
    yield from separated(children(m, 3, "SortExprNode"), sort_gen)
    yield "]]"


def _word(text: str) -> Callable[[Msg], Gen]:
    def gen(_m: Msg) -> Gen:
        yield text

    return gen


def _recursive_query(m: Msg) -> Gen:
    yield f"RecursiveQuery: is_distinct={'true' if singles(m).get('is_distinct') else 'false'}"


def _projection_columns(d: dict) -> str:
    """`` projection=[a, b]`` of a scan: the wire holds the projected columns by name."""
    proj = d.get("projection")
    if proj is None:
        return ""
    return f" projection=[{', '.join(f.value for f in proj.fields() if f.name == 'columns')}]"


def _table_name(d: dict) -> str:
    name = d.get("table_name")
    return table_reference(name) if name is not None else ""


def _filters(classes: list[tuple[str, Msg]]) -> Gen:
    for label, wanted in (("full_filters", EXACT), ("partial_filters", INEXACT),
                          ("unsupported_filters", UNSUPPORTED)):  # fmt: skip
        chosen = [f for cls, f in classes if cls == wanted]
        if chosen:
            yield f", {label}=["
            yield from separated(iter(chosen), expr_gen)
            yield "]"


def _listing_scan(m: Msg) -> Gen:
    d = singles(m)
    yield f"TableScan: {_table_name(d)}{_projection_columns(d)}"
    partition_cols = [singles(p).get("name", "") for p in children(m, 7, "PartitionColumn")]
    filters = list(children(m, 6, "LogicalExprNode"))
    yield from _filters([(listing_pushdown(partition_cols, f), f) for f in filters])


def _empty_table_scan(m: Msg) -> Gen:
    d = singles(m)
    yield f"TableScan: {_table_name(d)}{_projection_columns(d)}"
    # an EmptyTable keeps TableProvider's default answer: no filter pushed down
    yield from _filters([(UNSUPPORTED, f) for f in children(m, 4, "LogicalExprNode")])


def _scan(m: Msg) -> Gen:
    """A custom table's or a view's scan. A custom provider's filter classes are its own (not in the bytes):
    left out; a view's scan holds no filters on the wire."""
    d = singles(m)
    yield f"TableScan: {_table_name(d)}{_projection_columns(d)}"


def _cte_scan(m: Msg) -> Gen:
    yield f"TableScan: {singles(m).get('name', '')}"


def _unnest(m: Msg) -> Gen:
    """``Unnest: lists[p.l|depth=1] structs[p.st]``: each unnested column as the input's schema names it (its
    place there is what the node holds: ``logical_columns``); where that schema does not follow from the
    bytes, the one column the node unnests as written (``exec_columns``), else ``?``."""
    d = singles(m)
    columns = output_columns(d["input"]) if isinstance(d.get("input"), Msg) else None
    execs = [flat_name(column_of(c)) for c in children(m, 2, "Column")]

    def name_at(index: int) -> str:
        if columns is not None and index < len(columns) and columns[index] is not None:
            return flat_name(columns[index])  # type: ignore[arg-type]
        return execs[0] if len(execs) == 1 else "?"

    lists = []
    for item in children(m, 3, "ColumnUnnestListItem"):
        i = singles(item)
        recursion = i.get("recursion")
        depth = singles(recursion).get("depth", 0) if isinstance(recursion, Msg) else 0
        lists.append(f"{name_at(int(i.get('input_index', 0)))}|depth={depth}")
    structs = [name_at(int(f.value)) for f in m.fields() if f.name == "struct_type_columns"]
    yield f"Unnest: lists[{', '.join(lists)}] structs[{', '.join(structs)}]"


#: DmlNode.Type -> datafusion's WriteOp name (3 and 4 seen in bytes: INSERT INTO / INSERT OVERWRITE)
_DML_OPS = {0: "Update", 1: "Delete", 2: "Ctas", 3: "Insert Into", 4: "Insert Overwrite", 5: "Replace Into",
            6: "Truncate"}  # fmt: skip
#: FileFormatProto.kind (the file type datafusion's own codec writes into CopyToNode.file_type) -> extension
_COPY_FORMATS = {1: "csv", 2: "json", 3: "parquet", 4: "arrow"}


def _dml(m: Msg) -> Gen:
    d = singles(m)
    op = _DML_OPS.get(d.get("dml_type", 0), str(d.get("dml_type")))
    yield f"Dml: op=[{op}] table=[{_table_name(d)}]"


def _copy_to(m: Msg) -> Gen:
    """``CopyTo: format=parquet output_url=… options: ()``. The format is the kind datafusion's own codec writes
    first in the file type's bytes; the options shown by the sender (``OPTIONS (…)``) are not in the bytes."""
    d = singles(m)
    kind = None
    file_type = d.get("file_type")
    if isinstance(file_type, bytes):
        try:
            kind = next(
                (v for n, w, v, _b, _t in iter_raw(file_type, 0, len(file_type)) if n == 1 and w == VARINT),
                None,
            )
        except DecodeError:
            kind = None
    yield f"CopyTo: format={_COPY_FORMATS.get(kind, '?')} output_url={d.get('output_url', '')} options: ()"


#: arm of LogicalPlanNode -> the node's display line
LINES: dict[str, Callable[[Msg], Gen]] = {
    "projection": _projection, "selection": _selection, "aggregate": _aggregate, "window": _window,
    "sort": _sort, "limit": _limit, "join": _join_line, "cross_join": _cross_join,
    "repartition": _repartition, "empty_relation": _empty_relation, "subquery_alias": _subquery_alias,
    "values": _values, "distinct": _distinct, "distinct_on": _distinct_on, "union": _word("Union"),
    "explain": _word("Explain"), "analyze": _word("Analyze"), "recursive_query": _recursive_query,
    "listing_scan": _listing_scan, "empty_table_scan": _empty_table_scan, "custom_scan": _scan,
    "view_scan": _scan, "cte_work_table_scan": _cte_scan, "unnest": _unnest, "dml": _dml, "copy_to": _copy_to,
    **DDL_LINES,
}  # fmt: skip

#: arms whose plan inputs datafusion's display does not show as children (a view's plan is its source's)
NO_CHILDREN = frozenset({"view_scan"})
#: plan fields of a node that are no child in datafusion's display (a Dml's target table is named, not shown)
NOT_CHILDREN = {"dml": frozenset({"target"})}
