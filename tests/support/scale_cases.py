"""The cases `eval --workers` and `--engine ray` are tested on: Parquet with several files and row groups,
one blob per eval mode, and datafusion's own one-process answer for each.

The UDFs are nested functions, so cloudpickle ships them by value: a spawned worker or a Ray actor decodes
them without importing anything from tests/.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datafusion import Accumulator, SessionContext, col, lit, udaf, udf
from datafusion import functions as F
from datafusion.expr import Window

ROWS = 6000


def gil_udf() -> Any:
    def times3(x: pa.Array) -> pa.Array:  # a Python loop: holds the GIL, like the UDFs eval scales for
        return pa.array([None if v is None else v * 3 for v in x.to_pylist()], pa.int64())

    return udf(times3, [pa.int64()], pa.int64(), "immutable", name="times3")


def python_udaf() -> Any:
    class SumSquares(Accumulator):
        def __init__(self) -> None:
            self.total = 0

        def update(self, values: pa.Array) -> None:
            self.total += sum(v * v for v in values.to_pylist() if v is not None)

        def merge(self, states: list[pa.Array]) -> None:
            self.total += pc.sum(states[0]).as_py() or 0

        def state(self) -> list[pa.Scalar]:
            return [pa.scalar(self.total, pa.int64())]

        def evaluate(self) -> pa.Scalar:
            return pa.scalar(self.total, pa.int64())

    return udaf(SumSquares, [pa.int64()], pa.int64(), [pa.int64()], "immutable", name="sum_squares")


def failing_udfs() -> dict[str, Any]:
    def boom(x: pa.Array) -> pa.Array:
        raise ValueError("boom from the UDF")

    def abort_late(x: pa.Array) -> pa.Array:
        import os

        if (pc.max(x).as_py() or 0) >= ROWS - 1000:  # the last row groups: the other worker is mid-work
            os.abort()
        return x

    return {
        "boom": udf(boom, [pa.int64()], pa.int64(), "immutable", name="boom")(col("a")),
        "abort": udf(abort_late, [pa.int64()], pa.int64(), "immutable", name="abort_late")(col("a")),
    }


@dataclass
class Case:
    """One eval mode: the blob's expression, the CLI options, and datafusion's answer for it."""

    expr: Any
    mode: str = "project"
    keep: list[str] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)

    @property
    def args(self) -> list[str]:
        out = ["--filter"] if self.mode == "filter" else []
        if self.keep:
            out += ["--keep", ",".join(self.keep)]
        if self.group_by:
            out += ["--group-by", ",".join(self.group_by)]
        return out

    def truth(self, data: str) -> pa.Table:
        """datafusion's one-process result (exprtool names a result column by its schema name)."""
        df = SessionContext().read_parquet(data)
        named = self.expr.alias(self.expr.schema_name())
        if self.mode == "filter":
            return df.filter(self.expr).to_arrow_table()
        if self.mode == "aggregate":
            return df.aggregate([col(c) for c in self.group_by], [named]).to_arrow_table()
        return df.select(*[col(c) for c in self.keep], named).to_arrow_table()


def cases() -> dict[str, Case]:
    times3 = gil_udf()
    return {
        "project": Case(times3(col("a")) + lit(1), keep=["a"]),
        "filter": Case(times3(col("a")) % lit(7) == lit(0), "filter"),
        "grouped_udaf": Case(python_udaf()(col("a")), "aggregate", group_by=["g"]),
        "partitioned_window": Case(
            F.sum(times3(col("a"))).over(Window(partition_by=[col("g")])), "window", keep=["g", "a"]
        ),
        "row_number": Case(F.row_number(partition_by=[col("g")], order_by=[col("a")]), "window", keep=["g", "a"]),
        "global_aggregate": Case(F.sum(times3(col("a"))), "aggregate"),
    }


def write_data(directory: Path) -> dict[str, str]:
    """One file of several row groups (split by row groups), and three files (split by files)."""
    table = pa.table(
        {
            "a": pa.array(range(ROWS), pa.int64()),
            "b": pa.array([i / 4 for i in range(ROWS)], pa.float64()),
            "g": pa.array([f"k{i % 5}" for i in range(ROWS)]),
        }
    )
    one = directory / "one.parquet"
    pq.write_table(table, one, row_group_size=1000)
    many = directory / "many"
    many.mkdir()
    for i in range(3):
        pq.write_table(table.slice(i * 2000, 2000), many / f"part-{i}.parquet", row_group_size=2000)
    return {"one": str(one), "many": str(many)}


def write_blobs(directory: Path) -> dict[str, str]:
    out = {}
    for name, case in {**cases(), **{k: Case(v) for k, v in failing_udfs().items()}}.items():
        path = directory / f"{name}.pkl"
        path.write_bytes(pickle.dumps(case.expr))
        out[name] = str(path)
    return out


def rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """A table's rows in sorted order (pyarrow 26 has no take kernel for string_view: sorted in Python)."""
    return sorted(zip(*table.to_pydict().values(), strict=True), key=repr)


def loopback_env() -> dict[str, str]:
    """The environment that keeps a Ray cluster on 127.0.0.1 (Ray's own switch for single-host clusters)."""
    return dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")


def write_sliced(directory: Path) -> str:
    """One file of two 200,000-row row groups: on 2 workers the second is cut in two (``plan.balanced``)."""
    path = directory / "sliced.parquet"
    pq.write_table(pa.table({"a": pa.array(range(400_000), pa.int64())}), path, row_group_size=200_000)
    return str(path)
