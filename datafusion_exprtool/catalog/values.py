"""Catalog entries for errors datafusion raises on *values*: a value a cast cannot hold or parse, a division by
zero, an arithmetic overflow — on the data while the query runs, or on a constant while datafusion simplifies
the expression.

The blob is fine and decodes. On the data, some rows hold values the expression's types or operators do not
allow, so the fix starts with finding those rows (``exprtool eval BLOB DATA --find-rows``); a constant that
fails is the expression's own mistake, whatever the rows. datafusion 55 words most of these
``DataFusion error: Arrow error: …``, the prefix Arrow IPC damage in a physical plan's memory-table rows shares
when the plan is decoded (``table-rows-corrupt``, in ``predicted``): these entries come before that one in the
catalog, so their more specific reading of the same text wins. Every pattern is a text datafusion 55 raised
(tests/reports/test_explain_data_errors.py raises each again).
"""

from __future__ import annotations

from datafusion_exprtool.catalog.entry import CatalogEntry, EvalHint

#: where a value stops in datafusion's text: a space, a quote closing a wrapper's repr, the line's end
_VALUE = r"[^\s\"']+"
#: a type as arrow-rs prints it, to the end of the message (``Int8``, ``Decimal128(5, 2)``, ``Timestamp(…)``)
_TYPE = r"[^\n\"']+?"
_TYPE_END = r"(?=\s*$|\s*[\"'\n])"
FIND_ROWS = (
    "`exprtool eval BLOB DATA --find-rows` names the file, row group and row of each value it fails on "
    "(`--bundle DIR` keeps them as a repro)"
)
#: how the cause of an error on a value ends: where the value comes from, and what --find-rows says when it is
#: a constant rather than the data
_WHOSE = (
    "The blob decoded and planned fine: the value comes from the data (or, when every row fails, from a constant "
    "in the expression)."
)

VALUE_FAILURES: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        id="constant-fails",
        title="A constant in the expression fails when datafusion simplifies it",
        layer="plan",
        stage="plan",
        ties_to="node",
        patterns=(r"Optimizer rule 'simplify_expressions' failed\s+caused by\s+(?P<detail>[^\n]+)",),
        cause="While planning, datafusion's optimizer evaluates once the parts of the expression that read no "
        "column (literals, and functions and casts of literals), and one of them fails: {detail}. No row has "
        "been read; the expression itself asks for it (a cast of a literal that does not fit its type, a string "
        "literal that does not parse).",
        fix="Fix the constant on the sender: a cast type wide enough for it, a literal that parses, or "
        "`TRY_CAST` (NULL instead of an error). `exprtool inspect BLOB` shows the expression; any data fails "
        "the same way, so `--find-rows` has no rows to find.",
        eval_hint=EvalHint(
            pattern=r"Optimizer rule 'simplify_expressions' failed",
            text="a constant in the expression fails while datafusion simplifies it (no row is read): fix the "
            "literal, or use TRY_CAST",
        ),
        datafusion_text="Optimizer rule 'simplify_expressions' failed\ncaused by\n{detail}",
    ),
    CatalogEntry(
        id="cast-overflow",
        title="A value does not fit the type it is cast to",
        layer="data",
        stage="execute",
        ties_to="data",
        patterns=(
            rf"(?P<detail>Cast error: Can't cast value (?P<value>{_VALUE}) to type (?P<type>{_TYPE})){_TYPE_END}",
            rf"(?P<detail>Cast error: value of (?P<value>{_VALUE}) is out of range (?P<type>{_TYPE})){_TYPE_END}",
            rf"(?P<detail>Cast error: Cannot cast to (?P<type>Decimal\d+\(\d+, -?\d+\))\. Overflowing on "
            rf"(?P<value>{_VALUE}))",
            rf"(?P<detail>Invalid argument error: (?P<value>{_VALUE}) is too large to store in a "
            r"(?P<type>Decimal\d+ of precision \d+)\. Max is [^\s\"']+)",
        ),
        cause="While the query ran, the value {value} did not fit {type}, the type a cast converts it to: a CAST "
        "/ `Expr.cast` / `arrow_cast` in the expression, or one datafusion inserted to match a function's or a "
        f"column's type. {_WHOSE}",
        fix=f"Find the rows: {FIND_ROWS}. Then cast to a type wide enough for them, filter or clean them before "
        "the cast, or use `TRY_CAST` (`Expr.try_cast`, `arrow_try_cast`), which gives NULL instead of failing.",
        eval_hint=EvalHint(
            pattern=r"Cast error: (?:Can't cast value|value of \S+ is out of range|Cannot cast to Decimal\d+\(.*"
            r"Overflowing on)|Invalid argument error: \S+ is too large to store in a Decimal",
            text="a value does not fit the cast's type: --find-rows names the rows; cast to a wider type or use "
            "TRY_CAST (NULL instead of an error)",
        ),
        datafusion_text="{detail}",
    ),
    CatalogEntry(
        id="cast-unparseable",
        title="A string does not parse as the type it is cast to",
        layer="data",
        stage="execute",
        ties_to="data",
        patterns=(
            rf"(?P<detail>Cast error: Cannot cast (?:string|value) '(?P<value>[^'\n]*)' to value of "
            rf"(?P<type>{_TYPE}) type)",
            r"(?P<detail>(?:Parser|Execution) error: Error parsing timestamp from '(?P<value>[^'\n]*)'"
            r"(?: using format '(?P<format>[^'\n]*)')?: [^\n\"']+)",
        ),
        cause="While the query ran, the string '{value}' did not parse as the type a cast or a parsing function "
        f"(`to_timestamp`, …) converts it to ({{detail}}). {_WHOSE}",
        fix=f"Find the rows: {FIND_ROWS}. Then clean or filter those strings, give the parsing function the "
        "format they are written in, or use `TRY_CAST` (`Expr.try_cast`, `arrow_try_cast`), which gives NULL "
        "instead of failing.",
        eval_hint=EvalHint(
            pattern=r"Cast error: Cannot cast (?:string|value) '.*' to value of|Error parsing timestamp from '",
            text="a string does not parse as the cast's type: --find-rows names the rows; clean them or use "
            "TRY_CAST (NULL instead of an error)",
        ),
        datafusion_text="{detail}",
    ),
    CatalogEntry(
        id="cast-bytes-invalid",
        title="A binary value does not convert to the type it is cast to",
        layer="data",
        stage="execute",
        ties_to="data",
        # arrow-rs words these "Invalid argument error", like a damaged Arrow IPC buffer met while a plan is
        # decoded (table-rows-corrupt): both texts come from the cast kernels, never from the IPC reader
        patterns=(
            r"(?P<detail>Invalid argument error: Encountered non UTF-8 data: [^\n\"']+)",
            r"(?P<detail>Invalid argument error: Byte slice does not have the same length as "
            r"FixedSizeBinaryBuilder value lengths)",
        ),
        cause="While the query ran, a binary value did not convert to the type a cast converts it to "
        f"({{detail}}): bytes that are not UTF-8 cast to a string type, or bytes of another length cast to "
        f"`FixedSizeBinary(n)`. {_WHOSE}",
        fix=f"Find the rows: {FIND_ROWS}. Then clean or filter those values, or use `TRY_CAST` "
        "(`Expr.try_cast`, `arrow_try_cast`), which gives NULL instead of failing.",
        eval_hint=EvalHint(
            pattern=r"Invalid argument error: (?:Encountered non UTF-8 data|Byte slice does not have the same "
            r"length as FixedSizeBinaryBuilder)",
            text="a binary value does not convert to the cast's type: --find-rows names the rows; clean them or "
            "use TRY_CAST (NULL instead of an error)",
        ),
        datafusion_text="{detail}",
    ),
    CatalogEntry(
        id="udf-return-type",
        title="A function returned another type than it declares",
        layer="worker",
        stage="execute",
        ties_to="function",
        # RecordBatch::try_new's check of an operator's output against its schema: the usual cause is a Python
        # UDF whose array is not of its declared return type (the IPC reader builds arrays of the schema's types)
        patterns=(
            r"(?P<detail>Invalid argument error: column types must match schema types, expected "
            r"(?P<declared>[^\n\"']+?) but found (?P<returned>[^\n\"']+?) at column index (?P<index>\d+))",
        ),
        cause="While the query ran, an operator's output column {index} was {returned} where the plan expects "
        "{declared}: a Python UDF returned an array of another type than the return type it was declared with. "
        "The blob decoded and planned fine; the function's code, not the data's values, is at fault (it fails "
        "on the first batch it returns so).",
        fix="Make the UDF return its declared type: cast its result (`pa.Array.cast`, `pc.cast`) before "
        "returning it, or declare the type it returns (`udf(fn, [arg types], <return type>, ...)`).",
        eval_hint=EvalHint(
            pattern=r"Invalid argument error: column types must match schema types",
            text="a UDF returned another type than it declares: cast its result to the declared return type",
        ),
        datafusion_text="{detail}",
        confidence="likely",
    ),
    CatalogEntry(
        id="division-by-zero",
        title="A division by zero while the query ran",
        layer="data",
        stage="execute",
        ties_to="data",
        patterns=(r"(?P<detail>Arrow error: Divide by zero error)",),
        cause="While the query ran, an integer or decimal division or modulo (`/`, `%`) met a divisor of 0 "
        f"(datafusion raises for those; a float division gives inf or NaN instead). {_WHOSE}",
        fix=f"Find the rows: {FIND_ROWS}. Then guard the divisor: `NULLIF(divisor, 0)` in SQL "
        "(`functions.nullif(divisor, lit(0))`) gives NULL for them, or filter them out first.",
        eval_hint=EvalHint(
            pattern=r"Arrow error: Divide by zero error",
            text="a divisor is 0: --find-rows names the rows; guard it with NULLIF(divisor, 0)",
        ),
        datafusion_text="{detail}",
    ),
    CatalogEntry(
        id="arithmetic-overflow",
        title="An arithmetic result overflows its type",
        layer="data",
        stage="execute",
        ties_to="data",
        patterns=(
            r"(?P<detail>(?:Arithmetic overflow|Execution error): Overflow happened on:? (?P<operation>[^\n\"']+))",
            r"(?P<detail>Compute error: (?P<operation>\w+Array overflow on [^\n\"']+))",
        ),
        cause="While the query ran, an operation overflowed the type of its result ({operation}): a decimal's "
        f"precision, or an integer kernel that checks for overflow (`abs`, `factorial`, …). {_WHOSE}",
        fix=f"Find the rows: {FIND_ROWS}. Then compute in a wider type (cast to a larger integer, a decimal "
        "with more precision, or a float) or filter the values that overflow.",
        eval_hint=EvalHint(
            pattern=r"(?:Arithmetic overflow|Execution error): Overflow happened on|Compute error: \w+Array overflow on",
            text="a result overflows its type: --find-rows names the rows; compute in a wider type",
        ),
        datafusion_text="{detail}",
    ),
)
