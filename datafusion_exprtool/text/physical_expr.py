"""Physical expressions in the style of datafusion's physical Display (``a@0 + 1``), used by the physical plan
lines (text/physical_plan.py) and the wire-level outline (text/plan.py).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from typing import Any

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.wire import LEN, VARINT, iter_raw
from datafusion_exprtool.text.canonical import (
    OPERATORS,
    case_gen,
    cast_gen,
    frame_gen,
    placeholder_text,
    singles,
)
from datafusion_exprtool.text.dynamic_filter import dynamic_filter_gen, remapped, unmapped_gen
from datafusion_exprtool.text.engine import Gen, arm, children, render_with, separated
from datafusion_exprtool.text.scalar import scalar_gen


def physical_gen(msg: Msg) -> Gen:
    """Expander of one PhysicalExprNode, in the style of datafusion's physical Display (``a@0 + 1``)."""
    target = remapped(msg)  # inside a dynamic filter's predicate, a child it was built over shows as the scan's
    if target is not None:
        yield unmapped_gen(target, physical_gen)
        return
    name, value, number = arm(msg)
    if name == "expr_id":  # a trailing optional id is not the expression
        name, value = next(((k, v) for k, v in singles(msg).items() if k != "expr_id"), (None, None))
    handler = _PHYSICAL.get(name or "")
    if handler is None and name is not None:
        yield f"<{name}>"
        return
    if handler is None:
        yield placeholder_text("PhysicalExprNode", msg, number, value if name is None else None)
        return
    yield handler(name or "", value)


def _p_child(d: dict[str, Any], key: str) -> Gen | str:
    return physical_gen(d[key]) if key in d else f"<missing {key}>"


def _p_column(n: str, m: Msg) -> Gen:
    d = singles(m)
    yield f"{d.get('name', '')}@{d.get('index', 0)}" if n == "column" else d.get("name", "")


def _p_binary_child(m: Msg, prec: int) -> Gen:
    name, value, _n = arm(m)
    if name == "binary_expr":
        p = OPERATORS.get(singles(value).get("op", ""), ("", 0))[1]
        if p == 0 or p < prec:
            yield "("
            yield physical_gen(m)
            yield ")"
            return
    yield physical_gen(m)


def _p_binary(_n: str, m: Msg) -> Gen:
    d = singles(m)
    sym, prec = OPERATORS.get(d.get("op", ""), (f"<op {d.get('op', '')}>", 0))
    operands = list(children(m, 4, "PhysicalExprNode")) or [d[k] for k in ("l", "r") if k in d]
    yield from separated(iter(operands), lambda c: _p_binary_child(c, prec), f" {sym} ")


def _p_prefix(text: str, close: str = "") -> Callable[[str, Msg], Gen]:
    def gen(_n: str, m: Msg) -> Gen:
        yield text
        yield _p_child(singles(m), "expr")
        yield close

    return gen


def _p_suffix(text: str) -> Callable[[str, Msg], Gen]:
    def gen(_n: str, m: Msg) -> Gen:
        yield _p_child(singles(m), "expr")
        yield text

    return gen


def _p_case(_n: str, m: Msg) -> Gen:
    return case_gen(m, "PhysicalWhenThen", physical_gen)


def _p_cast(n: str, m: Msg) -> Gen:
    return cast_gen(n, m, physical_gen)


def _p_in_list(_n: str, m: Msg) -> Gen:
    """``e IN ([…])``; ``IN (SET) ([…])`` when every item is a literal: datafusion then builds the list's static
    set (InListExpr::try_new), and its Display says so."""
    d = singles(m)
    yield _p_child(d, "expr")
    items = children(m, 2, "PhysicalExprNode")
    first = next(items, None)
    static = first is not None and all(arm(e)[0] == "literal" for e in chain((first,), items))
    yield (" NOT IN " if d.get("negated") else " IN ") + ("(SET) ([" if static else "([")
    yield from separated(children(m, 2, "PhysicalExprNode"), physical_gen)
    yield "])"


def _p_call(name_key: str, args: int) -> Callable[[str, Msg], Gen]:
    def gen(_n: str, m: Msg) -> Gen:
        d = singles(m)
        yield f"{d.get(name_key, '')}(" + ("DISTINCT " if d.get("distinct") else "")
        yield from separated(children(m, args, "PhysicalExprNode"), physical_gen)
        yield ")"

    return gen


def _p_aggregate(_n: str, m: Msg) -> Gen:
    d = singles(m)
    yield f"{d.get('user_defined_aggr_function', '')}(" + ("DISTINCT " if d.get("distinct") else "")
    yield from separated(children(m, 2, "PhysicalExprNode"), physical_gen)
    yield ")" + (" IGNORE NULLS" if d.get("ignore_nulls") else "")
    first = True
    for o in children(m, 5, "PhysicalSortExprNode"):
        yield " ORDER BY [" if first else ", "
        first = False
        yield physical_sort_gen(o)
    if not first:
        yield "]"


def window_expr_gen(m: Msg, _n: str = "") -> Gen:
    """A PhysicalWindowExprNode: its name when it carries one, else its call and frame."""
    d = singles(m)
    if d.get("name"):
        yield d["name"]
        return
    yield from _p_call(
        "user_defined_aggr_function" if "user_defined_aggr_function" in d else "user_defined_window_function",
        4,
    )(_n, m)
    yield frame_gen(d.get("window_frame"))


def _p_like(_n: str, m: Msg) -> Gen:
    d = singles(m)
    yield _p_child(d, "expr")
    yield (" NOT" if d.get("negated") else "") + (" ILIKE " if d.get("case_insensitive") else " LIKE ")
    yield _p_child(d, "pattern")


def _p_literal(_n: str, m: Msg) -> Gen:
    yield scalar_gen(m, display=True)


def physical_sort_gen(m: Msg) -> Gen:
    """``<e> ASC|DESC [NULLS LAST]`` of a PhysicalSortExprNode: datafusion's PhysicalSortExpr Display never
    writes NULLS FIRST (``a@0 DESC`` is DESC NULLS FIRST, ``a@0 ASC`` is ASC NULLS FIRST)."""
    d = singles(m)
    yield _p_child(d, "expr")
    yield (" ASC" if d.get("asc") else " DESC") + ("" if d.get("nulls_first") else " NULLS LAST")


def _p_sort(_n: str, m: Msg) -> Gen:
    yield physical_sort_gen(m)


def _p_extension(_n: str, m: Msg) -> Gen:
    yield f"<extension @{m.offset}>("
    yield from separated(children(m, 2, "PhysicalExprNode"), physical_gen)
    yield ")"


def _p_dynamic_filter(_n: str, m: Msg) -> Gen:
    return dynamic_filter_gen(m, physical_gen)


def _p_hash(_n: str, m: Msg) -> Gen:
    """A partition hash (a partitioned hash join's dynamic filter routes on it): datafusion shows its description,
    ``hash_repartition``, not the columns it hashes."""
    yield str(singles(m).get("description", ""))


# Higher-order functions and their lambdas. The fact sheet lists no fields for these three messages; the layout
# below is the one datafusion 55.0.0 writes (the tests compare the text with display_indent() on real plans).
# A message whose fields do not have exactly that shape keeps the arm's placeholder.
#: message -> {field number: (wire type, repeated)}
LAMBDA_SHAPES = {
    "higher_order_udf": {1: (LEN, False), 2: (LEN, True)},  # name, args
    "lambda": {1: (LEN, True), 2: (LEN, False)},  # params, body
    "lambda_variable": {1: (VARINT, False), 2: (LEN, False)},  # index, field
}


def _raw_fields(n: str, m: Msg) -> dict[int, list[tuple[object, int, int]]] | None:
    """Field number -> [(value, start, end)] when the message has ``LAMBDA_SHAPES[n]``'s shape, else None."""
    shape = LAMBDA_SHAPES[n]
    out: dict[int, list[tuple[object, int, int]]] = {}
    try:
        for number, wire, a, b, _tag in iter_raw(m.buf, m.start, m.end, m.origin):
            want = shape.get(number)
            if want is None or want[0] != wire or (number in out and not want[1]):
                return None
            out.setdefault(number, []).append((a, a, b) if wire == VARINT else (bytes(m.buf[a:b]), a, b))
    except DecodeError:
        return None
    return out


def _utf8(raw: object) -> str | None:
    try:
        return raw.decode() if isinstance(raw, bytes) else None
    except UnicodeDecodeError:
        return None


def _p_lambda_family(n: str, m: Msg) -> Gen:
    f = _raw_fields(n, m)
    names = [] if n == "lambda_variable" else [_utf8(v) for v, _a, _b in (f or {}).get(1, [])]
    if f is None or None in names or (n == "higher_order_udf" and len(names) != 1):
        yield f"<{n}>"
        return
    exprs = iter([Msg("PhysicalExprNode", m.buf, a, b, m.origin) for _v, a, b in f.get(2, [])])
    if n == "higher_order_udf":
        yield f"{names[0]}("
        yield from separated(exprs, physical_gen)
        yield ")"
    elif n == "lambda":
        yield f"({', '.join(names)}) -> "
        yield physical_gen(next(exprs)) if 2 in f else "<missing body>"
    else:
        field = next((Msg("Field", m.buf, a, b, m.origin) for _v, a, b in f.get(2, [])), None)
        index = f[1][0][0] if 1 in f else 0
        yield f"{singles(field).get('name', '') if field is not None else ''}@{index}"


def _p_scalar_subquery(_n: str, _m: Msg) -> Gen:
    """A ScalarSubqueryExec's result slot: the bytes hold its index and type, not the value; a decoded plan shows
    ``<pending>`` until the subquery ran (an executed plan's display shows the value instead)."""
    yield "scalar_subquery(<pending>)"


_PHYSICAL: dict[str, Callable[[str, Msg], Gen]] = {
    "dynamic_filter": _p_dynamic_filter, "hash_expr": _p_hash,
    "column": _p_column, "unknown_column": _p_column, "literal": _p_literal, "binary_expr": _p_binary,
    "aggregate_expr": _p_aggregate, "is_null_expr": _p_suffix(" IS NULL"), "is_not_null_expr": _p_suffix(" IS NOT NULL"),
    "not_expr": _p_prefix("NOT "), "case_": _p_case, "cast": _p_cast, "try_cast": _p_cast, "sort": _p_sort,
    "negative": _p_prefix("(- ", ")"), "in_list": _p_in_list, "window_expr": lambda _n, m: window_expr_gen(m),
    "scalar_udf": _p_call("name", 2), "like_expr": _p_like, "extension": _p_extension,
    "higher_order_udf": _p_lambda_family, "lambda": _p_lambda_family, "lambda_variable": _p_lambda_family,
    "scalar_subquery": _p_scalar_subquery,
}  # fmt: skip


def render_physical_expr(msg: Msg) -> str:
    """Best-effort text of a PhysicalExprNode (``a@0 + 1``); datafusion gives no single ground truth."""
    return render_with(physical_gen, msg)
