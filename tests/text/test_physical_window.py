"""text/physical_window: WindowAggExec / BoundedWindowAggExec lines (the output field derived from the function,
the frame in Debug or Display) equal datafusion's own ``display_indent()``."""

from __future__ import annotations

import pyarrow as pa
import pytest
from datafusion import SessionConfig, SessionContext, col, udwf
from datafusion.user_defined import WindowEvaluator

from datafusion_exprtool.inspection.pipeline import inspect_bytes


def _ctx() -> SessionContext:
    ctx = SessionContext(SessionConfig().with_target_partitions(1))
    batch = pa.record_batch({"a": [1, 2, 3], "b": [2.0, 3.0, 4.0], "g": ["x", "y", "x"]})
    ctx.register_record_batches("t", [[batch]])
    return ctx


WINDOW_SQL = [
    "select a, row_number() over (order by b) from t",
    "select rank() over (partition by g order by a), dense_rank() over (order by a) from t",
    "select ntile(2) over (order by a), percent_rank() over (order by a), cume_dist() over (order by a) from t",
    "select lag(a, 1, 0) over (order by a), lead(b) over (partition by g order by a) from t",
    "select lag(g) over (order by a) from t",
    "select row_number() over () from t",
]


def _assert_same(plan) -> None:
    assert inspect_bytes(plan.to_bytes()).rendered == plan.display_indent().removesuffix("\n")


@pytest.mark.parametrize("sql", WINDOW_SQL)
def test_builtin_window_functions_render_as_datafusion_displays_them(sql: str) -> None:
    _assert_same(_ctx().sql(sql).execution_plan())


class _Count(WindowEvaluator):
    def evaluate_all(self, values, num_rows):
        return pa.array(list(range(num_rows)), type=pa.int64())


class _Smooth(WindowEvaluator):
    def evaluate_all(self, values, num_rows):
        return pa.array([0.5] * num_rows)


@pytest.mark.parametrize(
    ("evaluator", "arg", "ret", "frame"),
    [
        (_Count, pa.int64(), pa.int64(), None),
        (_Smooth, pa.float64(), pa.float64(), ("order", None)),
        (_Smooth, pa.float64(), pa.float64(), ("order", 0)),
        (_Count, pa.int64(), pa.uint64(), ("partition", None)),
    ],
)
def test_python_window_udfs_render_as_datafusion_displays_them(evaluator, arg, ret, frame) -> None:
    from datafusion import WindowFrame

    fn = udwf(evaluator, arg, ret, "immutable", name="my_window")
    ctx = _ctx()
    call = fn(col("a") if arg == pa.int64() else col("b"))
    if frame is not None and frame[0] == "order":
        call = call.order_by(col("a")).window_frame(WindowFrame("rows", None, frame[1])).build()
    elif frame is not None:
        call = call.partition_by(col("g")).build()
    _assert_same(ctx.table("t").select(call.alias("w")).execution_plan())


@pytest.mark.parametrize("frame", [("rows", 2, 1), ("rows", None, 0), ("range", 1, 1), ("range", None, 0),
                                   ("range", None, None), ("rows", 3, None)])  # fmt: skip
def test_window_frames_show_in_debug_and_display(frame) -> None:
    """WindowAggExec prints the frame's Debug (bounds as ScalarValue Debug, ``is_causal`` computed as
    ``WindowFrame::new_bounds`` does), BoundedWindowAggExec its Display."""
    from datafusion import WindowFrame

    fn = udwf(_Smooth, pa.float64(), pa.float64(), "immutable", name="sm")
    call = fn(col("b")).order_by(col("a")).window_frame(WindowFrame(*frame)).build()
    _assert_same(_ctx().table("t").select(call.alias("w")).execution_plan())
