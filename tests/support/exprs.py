"""datafusion expressions the tests encode: one of every kind datafusion writes (``EXPRS``), and one call
of each kind of Python UDF (``UDF_EXPRS``: kind -> a function that builds it)."""

from __future__ import annotations

import datetime
import decimal

import pyarrow as pa
from datafusion import Expr, col, lit, udaf, udwf
from datafusion import functions as F
from datafusion.expr import Window

from support.blobs import MySum, RowOnes, double_it_udf

# --- one expression of every kind (test_proto_scan checks each decodes in datafusion and scans clean) -------
DOUBLE = double_it_udf()
MY_SUM = udaf(MySum, [pa.int64()], pa.int64(), [pa.int64()], "immutable", "my_sum")
ONES = udwf(RowOnes, [pa.int64()], pa.int64(), "immutable", "ones")

EXPRS = {
    "column": col("a"),
    "qualified": col("t.a"),
    "alias_plus": (col("a") + lit(1)).alias("x"),
    "alias_metadata": col("a").alias("x", metadata={"k": "v"}),
    "literals": F.concat(lit("s"), lit(1.5), lit(True), lit(None), lit(b"\x00\x01")),
    "date_ts_dec": F.coalesce(
        lit(datetime.date(2024, 1, 2)),
        lit(datetime.datetime(2024, 1, 2, 3, 4, 5)),
        lit(decimal.Decimal("1.25")),
    ),
    "typed_null": lit(pa.scalar(None, pa.int32())),
    "list_literal": lit(pa.scalar([1, 2])),
    "struct_literal": lit(pa.scalar({"x": 1})),
    "chain": col("a") + lit(0) + lit(1) + lit(2),
    "nested_ops": (col("a") * (col("b") - lit(3))) / lit(2) > lit(1),
    "bool": (col("a").is_null() | ~col("b").is_not_null()) & (col("c") == lit(True)),
    "case": F.when(col("a") > lit(1), lit("big")).otherwise(lit("small")),
    "cast": col("a").cast(pa.float64()),
    "in_list": F.in_list(col("a"), [lit(1), lit(2)], negated=True),
    "between": col("a").between(lit(1), lit(5)),
    "regexp_like": F.regexp_like(col("s"), lit("x.*")),
    "try_cast": col("a").try_cast(pa.int32()),
    "negative": lit(0) - col("a"),
    "abs": F.abs(col("a")),
    "random": F.random(),
    "sum": F.sum(col("a")),
    "count_distinct_filter": F.count(col("a"), distinct=True, filter=col("b") > lit(0)),
    "array_agg_order": F.array_agg(col("a"), order_by=[col("b").sort(ascending=False)]),
    "row_number": F.row_number(partition_by=[col("s")], order_by=[col("a")]),
    "lag": F.lag(col("a"), 2, partition_by=[col("s")]),
    "sum_over": F.sum(col("a")).over(Window(partition_by=[col("s")], order_by=[col("a")])),
    "udf_inline": DOUBLE(col("a")) + lit(1),
    "udaf_inline": MY_SUM(col("a")),
    "udwf_inline": ONES(col("a")),
}


# --- one call of each kind of Python UDF (inline unless the session says otherwise) -------------------------
def scalar_expr() -> Expr:
    return double_it_udf()(col("a"))


def aggregate_expr() -> Expr:
    return udaf(MySum, [pa.int64()], pa.int64(), [pa.int64()], "immutable", name="my_sum")(col("a"))


def window_expr() -> Expr:
    return udwf(RowOnes, [pa.int64()], pa.int64(), "immutable", name="row_ones")(col("a"))


UDF_EXPRS = {"scalar": scalar_expr, "aggregate": aggregate_expr, "window": window_expr}
