"""``Expr.canonical_name()`` rebuilt from a LogicalExprNode, plus SortExprNode and PhysicalExprNode text.

Every node kind is an expander: a generator that yields text and child generators. ``drive`` (the one
engine, engine.py) runs them on an explicit stack, so depth costs heap, not Python frames, and
output is a list of chunks joined once. Lists of expressions go through ``expr_list``: entries that are
one literal or column are read from the bytes (leaves.py) and emitted in large joined chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.tables import ENUMS, MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, VARINT, iter_raw
from datafusion_exprtool.text.engine import (
    UNSUPPORTED,
    Gen,
    arm,
    children,
    known_text,
    placeholder,
    render_with,
)
from datafusion_exprtool.text.leaves import int_run, leaf_text, next_field, skip_entries
from datafusion_exprtool.text.scalar import scalar_gen, simple_scalar_debug, type_gen

# Operator Debug name -> (Display symbol, precedence); datafusion_expr::Operator
OPERATORS: dict[str, tuple[str, int]] = {
    "Or": ("OR", 5), "And": ("AND", 10),
    "Eq": ("=", 15), "NotEq": ("!=", 15), "LtEq": ("<=", 15), "GtEq": (">=", 15),
    "Lt": ("<", 20), "Gt": (">", 20),
    "LikeMatch": ("~~", 25), "ILikeMatch": ("~~*", 25), "NotLikeMatch": ("!~~", 25), "NotILikeMatch": ("!~~*", 25),
    "IsDistinctFrom": ("IS DISTINCT FROM", 30), "IsNotDistinctFrom": ("IS NOT DISTINCT FROM", 30),
    "RegexMatch": ("~", 30), "RegexIMatch": ("~*", 30), "RegexNotMatch": ("!~", 30), "RegexNotIMatch": ("!~*", 30),
    "BitwiseAnd": ("&", 30), "BitwiseOr": ("|", 30), "BitwiseXor": ("BIT_XOR", 30),
    "BitwiseShiftLeft": ("<<", 30), "BitwiseShiftRight": (">>", 30), "StringConcat": ("||", 30),
    "AtArrow": ("@>", 30), "ArrowAt": ("<@", 30), "Arrow": ("->", 30), "LongArrow": ("->>", 30),
    "HashArrow": ("#>", 30), "HashLongArrow": ("#>>", 30), "AtAt": ("@@", 30), "IntegerDivide": ("DIV", 30),
    "HashMinus": ("#-", 30), "AtQuestion": ("@?", 30), "Question": ("?", 30), "QuestionAnd": ("?&", 30),
    "QuestionPipe": ("?|", 30), "Colon": (":", 30),
    "Plus": ("+", 40), "Minus": ("-", 40),
    "Multiply": ("*", 45), "Divide": ("/", 45), "Modulo": ("%", 45),
}  # fmt: skip

_SUFFIX = {
    "is_null_expr": " IS NULL", "is_not_null_expr": " IS NOT NULL", "is_true": " IS TRUE",
    "is_false": " IS FALSE", "is_unknown": " IS UNKNOWN", "is_not_true": " IS NOT TRUE",
    "is_not_false": " IS NOT FALSE", "is_not_unknown": " IS NOT UNKNOWN",
}  # fmt: skip
_BOUND_WORD = {0: "CURRENT ROW", 1: "PRECEDING", 2: "FOLLOWING"}


def singles(msg: Msg) -> dict[str, Any]:
    """The non-repeated known fields of a message (last occurrence wins), without touching repeated ones.

    Unlike ``Msg.to_dict`` this never builds a list for a repeated field, and a stretch of repeated
    entries is stepped over in bulk (``skip_entries``), so a node with a million list entries costs
    little time and no memory.
    """
    table = MESSAGES.get(msg.type, {})
    out: dict[str, Any] = {}
    buf, origin, pos, end = msg.buf, msg.origin, msg.start, msg.end
    while pos < end:
        for n, wire, a, b, tag in iter_raw(buf, pos, end, origin):
            spec = table.get(n)
            if spec is None:
                continue
            if spec.repeated:
                if wire == LEN and buf[tag] < 0x80 and b < end and buf[b] == buf[tag]:
                    pos = skip_entries(buf, b, end, buf[tag])[0]
                    break  # iter_raw restarts after the stretch
                continue
            name, kind, type_name = spec.name, spec.kind, spec.type
            if wire == LEN and kind == "message":
                out[name] = Msg(type_name or "?", buf, a, b, origin)
            elif wire == LEN and kind == "string":
                out[name] = bytes(buf[a:b]).decode("utf-8", "replace")
            elif wire == LEN and kind == "bytes":
                out[name] = bytes(buf[a:b])
            elif wire == VARINT:
                out[name] = a if kind not in ("bool",) else a != 0
        else:
            break
    return out


_BATCH = 10_000  # leaves per emitted chunk: ~150 KB of text, never a million small strings alive


def expr_list(m: Msg, number: int, sep: str = ", ", child: Callable[[Msg], Gen] | None = None) -> Gen:
    """The entries of repeated LogicalExprNode field ``number`` of ``m`` joined by ``sep``.

    One-literal/one-column entries become text straight from the bytes and leave as joined chunks
    (runs of integer literals in bulk); any other entry is expanded by ``child`` (default ``expr_gen``)
    on the engine. A malformed field raises the same DecodeError, after the same text, as a plain walk.
    """
    expand = child or expr_gen
    buf, origin, end = m.buf, m.origin, m.end
    tag = number << 3 | LEN if number < 16 else -1  # the one-byte tag of the field, if it has one
    parts: list[str] = []
    lead = ""  # separator owed before the next chunk
    pos = m.start
    try:
        while pos < end:
            n = buf[pos + 1] if buf[pos] == tag and pos + 1 < end else 0x80
            if n < 0x80 and pos + 2 + n <= end:
                a, b = pos + 2, pos + 2 + n
                run = int_run(buf, pos, end, sep, _BATCH)
                if run is not None:
                    if parts:
                        yield lead + sep.join(parts)
                        lead, parts = sep, []
                    text, pos, _count = run
                    yield lead + text
                    lead = sep
                    continue
            else:
                number_, wire, a, b, nxt = next_field(buf, pos, end, origin)
                if number_ != number or wire != LEN:
                    pos = nxt
                    continue
            pos = b
            text = leaf_text(buf, a, b)
            if text is not None:
                parts.append(text)
                if len(parts) >= _BATCH:
                    yield lead + sep.join(parts)
                    lead, parts = sep, []
                continue
            if parts:
                yield lead + sep.join(parts)
                lead, parts = sep, []
            yield lead
            yield expand(Msg("LogicalExprNode", buf, a, b, origin))
            lead = sep
    except DecodeError:
        if parts:
            yield lead + sep.join(parts)
        raise
    if parts:
        yield lead + sep.join(parts)


def placeholder_text(kind: str, msg: Msg, number: int, offset: Any) -> str:
    if number == 0:
        return f"<empty {kind} @{msg.offset}>"
    at = offset if offset is not None else msg.offset
    return placeholder(UNSUPPORTED, "protobuf", at, f"<unsupported {kind} field {number} @{at}>")


# --------------------------------------------------------------------------- logical expressions


def expr_gen(msg: Msg) -> Gen:
    """Expander of one LogicalExprNode."""
    known = known_text(msg)  # a diagram's label of this sub-expression, already rendered
    if known is not None:
        yield known
        return
    name, value, number = arm(msg)
    if name == "literal":  # fast path: most literals are one string, no generator needed
        text = simple_scalar_debug(value)
        if text is not None:
            yield text
            return
    elif name == "column":
        yield column_text(value)
        return
    handler = _LOGICAL.get(name or "")
    if handler is None:
        yield placeholder_text("LogicalExprNode", msg, number, value if name is None else None)
        return
    yield handler(name, value)


def _text(s: str) -> Gen:
    yield s


def column_text(m: Msg) -> str:
    """``relation.name`` or ``name`` of a Column."""
    d = singles(m)
    rel = d.get("relation")
    rel_name = singles(rel).get("relation") if rel is not None else None
    return f"{rel_name}.{d.get('name', '')}" if rel_name else d.get("name", "")


def column_gen(_n: str, m: Msg) -> Gen:
    yield column_text(m)


def _alias(_n: str, m: Msg) -> Gen:
    d = singles(m)
    yield _child(d, "expr")
    yield f" AS {d.get('alias', '')}"


def _child(d: dict[str, Any], key: str) -> Gen | str:
    return expr_gen(d[key]) if key in d else f"<missing {key}>"


def _binary_child(m: Msg, prec: int) -> Gen:
    """datafusion's write_child: parentheses only for a BinaryExpr child of lower precedence."""
    name, value, _n = arm(m)
    if name == "binary_expr":
        op = singles(value).get("op", "")
        p = OPERATORS.get(op, (op, 0))[1]
        if p == 0 or p < prec:
            yield "("
            yield expr_gen(m)
            yield ")"
            return
    yield expr_gen(m)


def _binary(_n: str, m: Msg) -> Gen:
    op = singles(m).get("op", "")
    sym, prec = OPERATORS.get(op, (f"<op {op}>", 0))
    yield from expr_list(m, 1, f" {sym} ", lambda c: _binary_child(c, prec))


def _prefix(text: str, close: str = "") -> Callable[[str, Msg], Gen]:
    def gen(_n: str, m: Msg) -> Gen:
        yield text
        yield _child(singles(m), "expr")
        if close:
            yield close

    return gen


def _is(n: str, m: Msg) -> Gen:
    yield _child(singles(m), "expr")
    yield _SUFFIX[n]


def _between(_n: str, m: Msg) -> Gen:
    d = singles(m)
    yield _child(d, "expr")
    yield " NOT BETWEEN " if d.get("negated") else " BETWEEN "
    yield _child(d, "low")
    yield " AND "
    yield _child(d, "high")


def _like(n: str, m: Msg) -> Gen:
    d = singles(m)
    yield _child(d, "expr")
    if d.get("negated"):
        yield " NOT"
    yield {"like": " LIKE ", "ilike": " ILIKE ", "similar_to": " SIMILAR TO "}[n]
    yield _child(d, "pattern")
    if d.get("escape_char"):
        yield f" ESCAPE '{d['escape_char']}'"


def case_gen(m: Msg, when_then: str, child: Callable[[Msg], Gen]) -> Gen:
    """CASE [e ]WHEN w THEN t … [ELSE x ]END; shared by logical and physical expressions."""
    d = singles(m)
    yield "CASE "
    if "expr" in d:
        yield child(d["expr"])
        yield " "
    for wt in children(m, 2, when_then):
        w = singles(wt)
        for word, key in (("WHEN ", "when_expr"), (" THEN ", "then_expr")):
            yield word
            yield child(w[key]) if key in w else f"<missing {key}>"
        yield " "
    if "else_expr" in d:
        yield "ELSE "
        yield child(d["else_expr"])
        yield " "
    yield "END"


def cast_gen(n: str, m: Msg, child: Callable[[Msg], Gen]) -> Gen:
    """CAST(e AS type) / TRY_CAST(…); shared by logical and physical expressions."""
    d = singles(m)
    yield "CAST(" if n == "cast" else "TRY_CAST("
    yield child(d["expr"]) if "expr" in d else "<missing expr>"
    yield " AS "
    yield type_gen(d.get("arrow_type"))
    yield ")"


def _case(_n: str, m: Msg) -> Gen:
    return case_gen(m, "WhenThen", expr_gen)


def _cast(n: str, m: Msg) -> Gen:
    return cast_gen(n, m, expr_gen)


def _in_list(_n: str, m: Msg) -> Gen:
    d = singles(m)
    yield _child(d, "expr")
    yield " NOT IN ([" if d.get("negated") else " IN (["
    yield from expr_list(m, 2)
    yield "])"


def _scalar_fn(_n: str, m: Msg) -> Gen:
    d = singles(m)
    yield f"{d.get('fun_name', '')}("
    yield from expr_list(m, 2)
    yield ")"


def sort_gen(m: Msg) -> Gen:
    """Expander of a SortExprNode: ``<e> ASC|DESC NULLS FIRST|LAST``."""
    d = singles(m)
    yield _child(d, "expr")
    yield " ASC" if d.get("asc") else " DESC"
    yield " NULLS FIRST" if d.get("nulls_first") else " NULLS LAST"


def _null_treatment(d: dict[str, Any], sep: str = " ") -> str:
    if "null_treatment" not in d:
        return ""
    return sep + ENUMS["NullTreatment"].get(d["null_treatment"], "?").replace("_", " ")


def _aggregate(_n: str, m: Msg) -> Gen:
    d = singles(m)
    yield f"{d.get('fun_name', '')}(" + ("DISTINCT " if d.get("distinct") else "")
    yield from expr_list(m, 2)
    yield ")" + _null_treatment(d)
    if "filter" in d:
        yield " FILTER (WHERE "
        yield expr_gen(d["filter"])
        yield ")"
    yield from _order_by(m, 4)


def _order_by(m: Msg, number: int) -> Gen:
    first = True
    for s in children(m, number, "SortExprNode"):
        yield " ORDER BY [" if first else ", "
        first = False
        yield sort_gen(s)
    if not first:
        yield "]"


def _bound_gen(b: Msg | None, default: str) -> Gen:
    if b is None:
        yield default
        return
    d = singles(b)
    kind = d.get("window_frame_bound_type", 0)
    if kind == 0:
        yield "CURRENT ROW"
        return
    v = d.get("bound_value")
    if v is None or arm(v)[0] in (None, "null_value"):
        yield f"UNBOUNDED {_BOUND_WORD.get(kind, '?')}"
        return
    yield scalar_gen(v, display=True)
    yield f" {_BOUND_WORD.get(kind, '?')}"


def frame_gen(wf: Msg | None) -> Gen:
    """`` <UNITS> BETWEEN <start> AND <end>`` (a missing end bound is CURRENT ROW, as datafusion reads it)."""
    if wf is None:
        yield " <missing window frame>"
        return
    d = singles(wf)
    yield f" {ENUMS['WindowFrameUnits'].get(d.get('window_frame_units', 0), '?')} BETWEEN "
    yield _bound_gen(d.get("start_bound"), "UNBOUNDED PRECEDING")
    yield " AND "
    yield _bound_gen(d.get("bound"), "CURRENT ROW")


def _window(_n: str, m: Msg) -> Gen:
    d = singles(m)
    fun = d.get("udaf", d.get("udwf", ""))
    yield f"{fun}(" + ("DISTINCT " if d.get("distinct") else "")
    yield from expr_list(m, 4)
    # datafusion's Display puts no space before a window function's (udwf: lag, lead) null treatment, one
    # before an aggregate's used as a window function: lag(v, Int64(1), NULL)IGNORE NULLS
    yield ")" + _null_treatment(d, "" if "udwf" in d else " ")
    if "filter" in d:
        yield " FILTER (WHERE "
        yield expr_gen(d["filter"])
        yield ")"
    first = True
    for p in children(m, 5, "LogicalExprNode"):
        yield " PARTITION BY [" if first else ", "
        first = False
        yield expr_gen(p)
    if not first:
        yield "]"
    yield from _order_by(m, 6)
    yield frame_gen(d.get("window_frame"))


def _grouping(n: str, m: Msg) -> Gen:
    if n == "grouping_set":
        yield "GROUPING SETS ("
        for i, lst in enumerate(children(m, 1, "LogicalExprList")):
            yield ", (" if i else "("
            yield from expr_list(lst, 1)
            yield ")"
        yield ")"
        return
    yield "ROLLUP (" if n == "rollup" else "CUBE ("
    yield from expr_list(m, 1)
    yield ")"


def _placeholder_node(_n: str, m: Msg) -> Gen:
    yield singles(m).get("id", "")


def _wildcard(_n: str, m: Msg) -> Gen:
    q = singles(m).get("qualifier")
    yield f"{table_reference(q)}.*" if q is not None else "*"


def _unnest(_n: str, m: Msg) -> Gen:
    yield "UNNEST("
    yield from expr_list(m, 1)
    yield ")"


def _subquery(_n: str, _m: Msg) -> Gen:
    yield "(<subquery>)"


def _literal(_n: str, m: Msg) -> Gen:
    yield scalar_gen(m)


def _lambda(_n: str, m: Msg) -> Gen:
    params = [f.value for f in m.fields() if f.name == "params"]
    yield f"({', '.join(params)}) -> "
    yield _child(singles(m), "body")


def _lambda_var(_n: str, m: Msg) -> Gen:
    yield singles(m).get("name", "")


def table_reference(m: Msg) -> str:
    """``catalog.schema.table`` text of a TableReference."""
    name, value, _n = arm(m)
    if name is None:
        return "?"
    d = singles(value)
    return ".".join(d[k] for k in ("catalog", "schema", "table") if k in d)


_LOGICAL: dict[str, Callable[[str, Msg], Gen]] = {
    "column": column_gen, "alias": _alias, "literal": _literal, "binary_expr": _binary,
    "not_expr": _prefix("NOT "), "negative": _prefix("(- ", ")"),
    **{k: _is for k in _SUFFIX},
    "between": _between, "case_": _case, "cast": _cast, "try_cast": _cast, "in_list": _in_list,
    "like": _like, "ilike": _like, "similar_to": _like,
    "scalar_udf_expr": _scalar_fn, "higher_order_udf_expr": _scalar_fn, "aggregate_udf_expr": _aggregate,
    "window_expr": _window, "grouping_set": _grouping, "cube": _grouping, "rollup": _grouping,
    "placeholder": _placeholder_node, "wildcard": _wildcard, "unnest": _unnest,
    "scalar_subquery_expr": _subquery, "lambda": _lambda, "lambda_variable": _lambda_var,
}  # fmt: skip


def render_expr(msg: Msg) -> str:
    """``Expr.canonical_name()`` of a LogicalExprNode, without datafusion."""
    return render_with(expr_gen, msg)


def render_sort(msg: Msg) -> str:
    """Display of a SortExprNode (``a ASC NULLS LAST``)."""
    return render_with(sort_gen, msg)

