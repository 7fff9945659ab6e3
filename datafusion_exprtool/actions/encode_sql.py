"""``exprtool encode``: build a blob from SQL expression text and a schema, for repros and tests.

The expression is planned by datafusion against an empty table of the given schema, then written the way
``reencode`` writes (pickle or raw bytes, optionally base64/hex text, inline or by name).
"""

from __future__ import annotations

import os
import re
from typing import Any

from datafusion_exprtool.actions.reencode import DataFusionFailed, ReencodeError, apply_text, encode_object


def parse_schema(spec: str) -> Any:
    """A pyarrow schema from a data file (.parquet, .arrow/.feather/.ipc) or text like ``"a int64, b utf8"``."""
    import pyarrow as pa

    ext = os.path.splitext(spec)[1].lower()
    if os.path.exists(spec) and ext in (".parquet", ".parq", ".pq"):
        import pyarrow.parquet as pq

        try:
            return pq.read_schema(spec)
        except (pa.ArrowException, OSError) as exc:
            raise ReencodeError(f"{spec}: not a readable Parquet file ({exc})") from None
    if os.path.exists(spec) and ext in (".arrow", ".feather", ".ipc", ".arrows"):
        import pyarrow.ipc as ipc

        try:
            try:
                return ipc.open_file(spec).schema
            except pa.ArrowInvalid:
                return ipc.open_stream(spec).schema
        except (pa.ArrowException, OSError) as exc:
            raise ReencodeError(f"{spec}: not a readable Arrow IPC file ({exc})") from None
    if ext in (".parquet", ".arrow", ".feather", ".ipc") and not os.path.exists(spec):
        raise ReencodeError(f"{spec}: no such file")
    if os.path.exists(spec):  # an existing path of no known format is not meant as schema text
        raise ReencodeError(
            f"{spec}: not a Parquet or Arrow file: give a .parquet / .arrow file or text like 'a int64, b utf8'"
        )
    fields = []
    for part in _split_top(spec):
        m = re.fullmatch(r"\s*([^\s:]+)\s*:?\s+(.+?)(\s+not\s+null)?\s*", part, re.IGNORECASE)
        if not m:
            raise ReencodeError(
                f"cannot read schema column {part.strip()!r}: expected 'NAME TYPE' (e.g. 'a int64')"
            )
        try:
            typ = _arrow_type(m.group(2).strip())
        except (ValueError, KeyError):
            raise ReencodeError(f"unknown type {m.group(2).strip()!r} for column {m.group(1)!r}") from None
        fields.append(pa.field(m.group(1), typ, nullable=m.group(3) is None))
    if not fields:
        raise ReencodeError("empty schema")
    return pa.schema(fields)


def _arrow_type(text: str) -> Any:
    """pyarrow type from its string form: aliases (int64, utf8, ...), decimalNN(p, s), timestamp[unit, tz=...]."""
    import pyarrow as pa

    m = re.fullmatch(r"decimal(32|64|128|256)\((\d+),\s*(-?\d+)\)", text)
    if m:
        return getattr(pa, f"decimal{m.group(1)}")(int(m.group(2)), int(m.group(3)))
    m = re.fullmatch(r"timestamp\[(s|ms|us|ns)(?:,\s*tz=(.+))?\]", text)
    if m:
        return pa.timestamp(m.group(1), tz=m.group(2))
    return pa.type_for_alias(text)


def _split_top(spec: str) -> list[str]:
    """Split on commas outside brackets (``decimal128(10, 2)`` and ``timestamp[us, tz=UTC]`` stay whole)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(spec):
        if ch in "([<":
            depth += 1
        elif ch in ")]>":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(spec[start:i])
            start = i + 1
    parts.append(spec[start:])
    return [p for p in parts if p.strip()]


def expr_from_sql(sql: str, schema: Any, table: str = "t") -> Any:
    """The datafusion Expr for SQL expression text over an empty table ``table`` with ``schema``."""
    import pyarrow as pa
    from datafusion import SessionContext

    ctx = SessionContext()
    ctx.register_record_batches(table, [[pa.RecordBatch.from_pylist([], schema=schema)]])
    try:
        return ctx.table(table).parse_sql_expr(sql)
    except Exception as exc:
        raise DataFusionFailed("parse the SQL expression", str(exc)) from None


def encode_sql(
    sql: str,
    schema_spec: str,
    *,
    container: str = "pickle",
    text: str | None = None,
    by_name: bool = False,
    protocol: int | None = None,
    table: str = "t",
) -> tuple[bytes, str]:
    """(blob, datafusion's canonical_name) for SQL expression text; columns are qualified with ``table``."""
    expr = expr_from_sql(sql, parse_schema(schema_spec), table)
    raw = encode_object(expr, container, by_name=by_name, protocol=protocol)
    return apply_text(raw, text), expr.canonical_name()
