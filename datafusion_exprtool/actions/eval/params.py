"""Placeholders (``$1``, ``$name``) bound to values, and the table name qualified columns expect.

datafusion-python 55 binds placeholder values only for SQL text (``ctx.sql(query, param_values=...)``);
an ``Expr`` has no such call and no way to rebuild one with a node replaced. So the worker re-encodes the
decoded expression (``Expr.to_bytes(ctx)``, the same codec it was decoded with), replaces each placeholder
node in the protobuf by the value's own encoding (``parse_sql_expr(value).to_bytes()``, cast to the type
the placeholder declares), and decodes the result again. The rewrite walks the message tree iteratively
and touches only the replaced nodes and the length prefixes of their ancestors.
"""

from __future__ import annotations

from typing import Any

from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.splice import splice
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import encode_len_field
from datafusion_exprtool.sandbox.failure import fail


def _number(message: str, name: str) -> int:
    return next(n for n, spec in MESSAGES[message].items() if spec.name == name)


_EXPR_CAST = _number("LogicalExprNode", "cast")
_CAST_EXPR, _CAST_TYPE = _number("CastNode", "expr"), _number("CastNode", "arrow_type")
_EXPR_COLUMN = _number("LogicalExprNode", "column")
_COLUMN_NAME, _COLUMN_RELATION = _number("Column", "name"), _number("Column", "relation")
_RELATION = _number("ColumnRelation", "relation")


_ld = encode_len_field


def parse_params(items: list[str]) -> dict[str, str]:
    """``--param '$1=value'`` (repeatable) -> {"$1": "value"}; a missing ``$`` is added."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or key == "$" or not value.strip():
            raise fail(
                "input",
                f"--param {item!r} is not '$1=value'",
                exit_code=ExitCode.USAGE,
                hint="the value is a SQL literal: --param '$1=5' --param \"$2='text'\"",
            )
        out[key if key.startswith("$") else "$" + key] = value.strip()
    return out


def check_params(placeholders: list[str], params: dict[str, str]) -> None:
    """Every placeholder has a value and every value a placeholder (before any code runs)."""
    missing = [p for p in placeholders if p not in params]
    unknown = [p for p in params if p not in placeholders]
    if missing:
        have = f"the expression has placeholders {', '.join(placeholders)}"
        raise fail(
            "input",
            f"{have}; no value for {', '.join(missing)}",
            exit_code=ExitCode.USAGE,
            hint="bind each with --param '$1=<SQL literal>' (repeatable), e.g. --param '$1=5' --param \"$2='x'\"",
        )
    if unknown:
        have = f"placeholders {', '.join(placeholders)}" if placeholders else "no placeholders"
        raise fail(
            "input",
            f"--param {', '.join(unknown)}: the expression has {have}",
            exit_code=ExitCode.USAGE,
        )


def substitute(buf: bytes, values: dict[str, bytes]) -> tuple[bytes, list[str]]:
    """``buf`` (a LogicalExprNode) with each placeholder whose id is in ``values`` replaced by that
    LogicalExprNode body, cast to the placeholder's declared type; also the ids replaced, in order."""
    replaced: list[str] = []

    def swap(msg: Msg) -> bytes | None:
        if msg.type != "LogicalExprNode":
            return None
        arm = msg.which("expr_type")
        if not arm or arm[0] != "placeholder":
            return None
        d = arm[1].to_dict()
        pid = d.get("id")
        if pid not in values:
            return None
        body = values[pid]
        declared = d.get("data_type")
        if isinstance(declared, Msg):
            body = _ld(_EXPR_CAST, _ld(_CAST_EXPR, body) + _ld(_CAST_TYPE, declared.raw()))
        replaced.append(pid)
        return body

    out, _count = splice(buf, "LogicalExprNode", swap)
    return out, replaced


def literal_bytes(ctx: Any, pid: str, value: str) -> bytes:
    """The LogicalExprNode of ``value`` read as SQL against no columns (so it must be a constant)."""
    try:
        expr = ctx.read_empty().parse_sql_expr(value)
        return expr.to_bytes()
    except Exception as exc:
        reason = " ".join(str(exc).split())
        raise fail(
            "input",
            f"--param {pid}={value}: not a SQL literal ({reason})",
            exit_code=ExitCode.USAGE,
            hint="quote text: --param \"$2='x'\"; numbers, TRUE/FALSE, NULL, DATE '2024-01-01' work as is",
        ) from None


def bind(expr: Any, params: dict[str, str], ctx: Any) -> Any:
    """``expr`` with its placeholders replaced by the values (see the module docstring)."""
    from datafusion import Expr

    values = {pid: literal_bytes(ctx, pid, value) for pid, value in params.items()}
    data, replaced = substitute(expr.to_bytes(ctx), values)
    missing = [p for p in params if p not in replaced]
    if missing:
        raise fail("input", f"placeholder {', '.join(missing)} not found in the decoded expression")
    return Expr.from_bytes(data, ctx)


def column_probe(relation: str, name: str) -> Any:
    """A Column ``relation.name`` decoded the way the blob's columns are (datafusion keeps the qualifier's
    case there, while ``DataFrame.alias`` and table names are normalised)."""
    from datafusion import Expr

    column = _ld(_COLUMN_NAME, name.encode()) + _ld(_COLUMN_RELATION, _ld(_RELATION, relation.encode()))
    return Expr.from_bytes(_ld(_EXPR_COLUMN, column))


def qualify(df: Any, relation: str, name: str) -> Any:
    """``df`` under the table name ``relation``, spelled so that the blob's ``relation.name`` resolves."""
    probe = column_probe(relation, name)
    quoted = '"' + relation.replace('"', '""') + '"'
    parts = ".".join('"' + p.replace('"', '""') + '"' for p in relation.split("."))
    for spelling in dict.fromkeys((relation, quoted, parts)):
        aliased = df.alias(spelling)
        try:
            aliased.select(probe)
        except Exception:
            continue
        return aliased
    return df.alias(relation)  # datafusion's own error comes out of the plan
