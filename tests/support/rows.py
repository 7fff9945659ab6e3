"""Data and UDFs for the ``eval --find-rows`` tests: 2 million rows over several files and row groups,
with a few rows that make an expression fail. Every column is computed from the row's global number, so
a test knows which file and row hold a value without reading anything back.

The UDFs here are importable by name: cloudpickle ships them by reference (``support.rows.<name>``), so
the report can show their source line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SIZES = (700_000, 800_000, 500_000)  # rows per file: 2 million in all
ROW_GROUP = 150_000
MARKER = 1_234_567  # the value of column a that fails_on_marker refuses
CAST_ROW = 1_900_001  # column c holds 40,000 here (Int16 cannot), a % 30,000 elsewhere
DIV_ROW = 345_678  # column d is 0 here, 1 + a % 7 elsewhere
PAIR = (1_500_010, 1_500_020)  # pair_seen raises when a batch holds a = first and b = 2 * second


@dataclass(frozen=True)
class Place:
    file: str
    row_group: int
    row: int  # in the file


def place(root: Path, row: int) -> Place:
    """Where the global row ``row`` was written."""
    first = 0
    for i, size in enumerate(SIZES):
        if row < first + size:
            local = row - first
            return Place(str(root / f"part{i}.parquet"), local // ROW_GROUP, local)
        first += size
    raise IndexError(row)


def write_data(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    first = 0
    for i, size in enumerate(SIZES):
        a = pa.array(range(first, first + size), pa.int64())
        c = pc.remainder(a, 30_000)
        d = pc.add(pc.remainder(a, 7), 1)
        for row, column, value in ((CAST_ROW, "c", 40_000), (DIV_ROW, "d", 0)):
            if first <= row < first + size:
                values = (c if column == "c" else d).to_pylist()
                values[row - first] = value
                if column == "c":
                    c = pa.array(values, pa.int64())
                else:
                    d = pa.array(values, pa.int64())
        table = pa.table({"a": a, "b": pc.multiply(a, 2), "c": c, "d": d})
        pq.write_table(table, root / f"part{i}.parquet", row_group_size=ROW_GROUP)
        first += size
    return root


def fails_on_marker(a: pa.Array) -> pa.Array:
    if pc.any(pc.equal(a, MARKER)).as_py():
        raise ValueError(f"marker {MARKER} in a batch of {len(a)} rows")
    return a


def pair_seen(a: pa.Array, b: pa.Array) -> pa.Array:
    if pc.any(pc.equal(a, PAIR[0])).as_py() and pc.any(pc.equal(b, 2 * PAIR[1])).as_py():
        raise KeyError("the two halves of a pair met in one batch")
    return a


def batch_too_large(a: pa.Array) -> pa.Array:
    if len(a) > 5_000:
        raise RuntimeError(f"cannot take a batch of {len(a)} rows")
    return a
