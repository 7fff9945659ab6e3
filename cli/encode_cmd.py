"""`exprtool encode`: a blob from SQL expression text, for repros and tests."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .common import Exit, datafusion_failure, fail, shorten
from .reencode_cmd import OUT_HELP, Text, To, write_output


def encode(
    sql: Annotated[str, typer.Argument(metavar="SQL", help='A SQL expression, e.g. "a + 1 > b".')],
    schema: Annotated[
        str,
        typer.Option(
            "--schema", help='Columns: a data file (.parquet, .arrow) or text like "a int64, b utf8".'
        ),
    ],
    out: Annotated[str, typer.Option("--output", "-o", help=OUT_HELP)],
    to: Annotated[To | None, typer.Option("--to", help="Container: pickle (default) or bytes.")] = None,
    text: Annotated[
        Text | None, typer.Option("--text", help="Write base64 or hex text instead of binary.")
    ] = None,
    by_name: Annotated[bool, typer.Option("--by-name", help="Encode with Python UDF inlining off.")] = False,
    protocol: Annotated[int | None, typer.Option("--protocol", help="Pickle protocol (0-5).")] = None,
    table: Annotated[str, typer.Option("--table", help="Table name that qualifies the columns.")] = "t",
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
) -> None:
    """Build a serialized Expr from SQL text over a table with the given schema (datafusion's
    parse_sql_expr; columns come out qualified with --table).

    Example:  exprtool encode "a + 1 > 2 AND b LIKE 'x%'" --schema "a int64, b utf8" -o expr.pkl
    """

    from datafusion_exprtool.actions.encode_sql import encode_sql
    from datafusion_exprtool.actions.reencode import DataFusionFailed, ReencodeError, resolve_format
    from datafusion_exprtool.atomic import preflight

    try:
        container, text_enc = resolve_format(out, to and to.value, text and text.value, None)
        if out != "-":
            try:
                preflight(out, force)
            except OSError as err:
                raise fail(str(err)) from None
        data, rendered = encode_sql(
            sql, schema, container=container, text=text_enc, by_name=by_name, protocol=protocol, table=table
        )
    except DataFusionFailed as err:
        raise fail(datafusion_failure(str(err)), Exit.EVAL_FAILED) from None
    except ReencodeError as err:
        raise fail(str(err), err.code) from None
    write_output(out, data, force)
    print(
        f"exprtool: wrote {out}: {container}{' as ' + text_enc if text_enc else ''}, {len(data)} B: "
        f"{shorten(rendered)}",
        file=sys.stderr,
    )


def register(app: typer.Typer) -> None:
    app.command("encode")(encode)
