"""The pieces of ``--find-rows``: row sets, where rows live, how sets are cut, and what counts as the same
failure (judged on errors datafusion raises)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from datafusion import SessionContext, col, lit, udf
from hypothesis import given, settings
from hypothesis import strategies as st

from datafusion_exprtool.actions.eval.failure import classify
from datafusion_exprtool.actions.rows.layout import Layout, Rows
from datafusion_exprtool.actions.rows.signature import FailureShape, exception_type

ranges = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 30)).map(lambda t: (t[0], t[0] + t[1])), max_size=8)


@settings(max_examples=200, deadline=None)
@given(ranges, ranges, st.integers(0, 250), st.integers(0, 250))
def test_row_sets_behave_like_sets(a: list, b: list, first: int, last: int) -> None:
    x, y = Rows.of(a), Rows.of(b)
    sx, sy = {r for lo, hi in a for r in range(lo, hi)}, {r for lo, hi in b for r in range(lo, hi)}
    assert list(x) == sorted(sx) and len(x) == len(sx)
    assert set(x.minus(y)) == sx - sy
    assert list(x.take(first, last)) == sorted(sx)[first:last]
    assert all((r in x) == (r in sx) for r in range(-1, 240))


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    out, first = [], 0
    for i, (size, group) in enumerate(((250, 100), (70, 30), (5, 5))):
        path = tmp_path / f"f{i}.parquet"
        pq.write_table(pa.table({"n": pa.array(range(first, first + size), pa.int64())}), path, row_group_size=group)
        out.append(str(path))
        first += size
    return out


def test_layout_places_every_row_where_pyarrow_reads_it(files: list[str]) -> None:
    layout = Layout.from_files(files)
    assert layout.total == 325 and len(layout.groups) == 3 + 3 + 1
    for number in (0, 99, 100, 249, 250, 289, 319, 320, 324):
        where = layout.origin(number)
        meta = pq.ParquetFile(where.file)
        assert meta.read_row_group(where.row_group).column("n")[where.row_in_group].as_py() == number
        assert pq.read_table(where.file).column("n")[where.row].as_py() == number


@pytest.mark.parametrize("n", [2, 3, 4, 7, 16, 64])
def test_splits_partition_the_set_in_scan_order(files: list[str], n: int) -> None:
    layout = Layout.from_files(files)
    layout.batch_size = 16
    for rows in (layout.all(), Rows.of([(10, 90), (120, 130)]), Rows.of([(260, 280)])):
        chunks = layout.split(rows, n)
        assert 1 < len(chunks) <= n
        assert [r for c in chunks for r in c] == list(rows)


def test_splits_cut_at_the_coarsest_boundary(files: list[str]) -> None:
    layout = Layout.from_files(files)
    layout.batch_size = 16
    assert layout.level(layout.all()) == "files"
    # cuts at row-group boundaries (100), and a file boundary (250) wins over the row group nearer the middle
    assert [len(c) for c in layout.split(layout.all(), 3)] == [100, 150, 75]
    assert layout.level(Rows.of([(100, 200)])) == "batches"
    assert [len(c) for c in layout.split(Rows.of([(100, 200)]), 2)] == [48, 52]  # whole batches of 16
    assert layout.level(Rows.of([(100, 110)])) == "rows"
    spans = layout.spans(Rows.of([(95, 105), (300, 301)]))
    assert [(Path(s.file).name, s.row_group, s.first_row, s.last_row, s.rows) for s in spans] == [
        ("f0.parquet", 0, 95, 99, 5), ("f0.parquet", 1, 100, 104, 5), ("f1.parquet", 1, 50, 50, 1),
    ]  # fmt: skip


def _failure(expr, values: list[int]):
    """What eval's classifier makes of datafusion's error for ``expr`` on a column ``a`` of ``values``."""
    df = SessionContext().from_pydict({"a": pa.array(values, pa.int64())})
    with pytest.raises(Exception) as info:
        df.select(expr).collect()
    return classify(info.value, "execute", {"check": "check"})


def _check(a: pa.Array) -> pa.Array:
    bad = pc.filter(a, pc.less(a, 0))
    if len(bad):
        raise ValueError(f"negative value {bad[0].as_py()} among {len(a)} rows")
    if pc.any(pc.equal(a, 0)).as_py():
        raise KeyError("zero")
    return a


CHECK = udf(_check, [pa.int64()], pa.int64(), "immutable", name="check")


def test_same_failure_is_the_same_exception_and_message_shape() -> None:
    few, many = _failure(CHECK(col("a")), [-5]), _failure(CHECK(col("a")), [1, 2, -300, 4])
    assert exception_type(few) == "ValueError"
    assert FailureShape.of(few).matches(FailureShape.of(many))  # other numbers, same shape
    other = _failure(CHECK(col("a")), [3, 0])
    assert exception_type(other) == "KeyError" and not FailureShape.of(few).matches(FailureShape.of(other))
    cast_a, cast_b = _failure(col("a").cast(pa.int8()), [300]), _failure(col("a").cast(pa.int8()), [1, -1000])
    assert exception_type(cast_a) == "datafusion" and FailureShape.of(cast_a).matches(FailureShape.of(cast_b))
    div = _failure(col("a") / (col("a") - lit(1)), [1])
    assert not FailureShape.of(div).matches(FailureShape.of(cast_a))


def test_control_rows_repeat_any_type() -> None:
    """A control probe fills a batch with copies of one row, whatever its types (view types have no ``take``)."""
    from datafusion_exprtool.actions.rows.probe import repeat_row

    one = pa.table({
        "s": pa.array(["x"], pa.string_view()),
        "l": pa.array([[1, None]], pa.list_(pa.int64())),
        "st": pa.array([{"k": "v"}], pa.struct([("k", pa.string())])),
        "n": pa.array([None], pa.float64()),
    })  # fmt: skip
    assert repeat_row(one, 3) == pa.concat_tables([one] * 3)
