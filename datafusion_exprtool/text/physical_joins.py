"""The join nodes besides HashJoinExec as ``ExecutionPlan.display_indent()`` shows them: SortMergeJoinExec,
SymmetricHashJoinExec and NestedLoopJoinExec (datafusion 55's ``DisplayAs`` of each, Default format).

What they share with HashJoinExec lives here too: the join types and partition modes as Rust's ``{:?}`` prints
them, the ``on=[(l, r), …]`` pairs, the ``filter=`` of a JoinFilter and a join's ``projection=[name@i, …]``
over its own output columns (both inputs' names, by join type: ``physical_props.join_names``).

A NestedLoopJoinExec shows a projection only when one is stored; its output columns are derived from the
inputs' bytes. Nothing these lines show is derived at planning time beyond that.
"""

from __future__ import annotations

from collections.abc import Callable

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.canonical import singles
from datafusion_exprtool.text.engine import Gen, children
from datafusion_exprtool.text.physical_expr import physical_gen
from datafusion_exprtool.text.physical_props import join_names, output_names

#: Rust Debug names of the enums datafusion's display prints with ``{:?}``
JOIN_TYPES = {0: "Inner", 1: "Left", 2: "Right", 3: "Full", 4: "LeftSemi", 5: "LeftAnti", 6: "RightSemi",
              7: "RightAnti", 8: "LeftMark", 9: "RightMark"}  # fmt: skip
PARTITION_MODES = {0: "CollectLeft", 1: "Partitioned", 2: "Auto"}
#: StreamPartitionMode (SINGLE_PARTITION, PARTITIONED_EXEC) -> StreamJoinPartitionMode's Debug name
STREAM_PARTITION_MODES = {0: "SinglePartition", 1: "Partitioned"}
NULL_EQUALS_NULL = 1  # NullEquality.NULL_EQUALS_NULL: shown as ``, NullsEqual: true``


def join_type_name(d: dict) -> str:
    value = d.get("join_type", 0)
    return JOIN_TYPES.get(value, str(value))


def join_on_gen(m: Msg, number: int = 3) -> Gen:
    """``(a@0, a@0), (b@1, c@1)``: the equi-join pairs of a repeated JoinOn field."""
    first = True
    for on in children(m, number, "JoinOn"):
        o = singles(on)
        yield "(" if first else ", ("
        first = False
        yield physical_gen(o["left"]) if "left" in o else "?"
        yield ", "
        yield physical_gen(o["right"]) if "right" in o else "?"
        yield ")"


def join_filter_gen(d: dict) -> Gen:
    """``, filter=b@0 > c@1``: a JoinFilter's expression over its own intermediate schema, if the join has one."""
    filt = d.get("filter")
    if isinstance(filt, Msg) and "expression" in singles(filt):
        yield ", filter="
        yield physical_gen(singles(filt)["expression"])


def join_projection(d: dict, indices: list[int]) -> str:
    """``, projection=[name@i, …]`` over the join's own output columns (both inputs' names, by join type)."""
    if not indices or "left" not in d or "right" not in d:
        return ""
    names = join_names(d.get("join_type", 0), output_names(d["left"]), output_names(d["right"]))
    shown = [f"{names[i] if names is not None and i < len(names) else '?'}@{i}" for i in indices]
    return f", projection=[{', '.join(shown)}]"


def _indices(m: Msg) -> list[int]:
    return [f.value for f in m.fields() if f.name == "projection"]


def hash_join_line(m: Msg) -> Gen:
    d = singles(m)
    mode = PARTITION_MODES.get(d.get("partition_mode", 0), d.get("partition_mode"))
    yield f"HashJoinExec: mode={mode}, join_type={join_type_name(d)}, on=["
    yield join_on_gen(m)
    yield "]"
    yield join_filter_gen(d)
    yield join_projection(d, _indices(m))
    if d.get("null_equality") == NULL_EQUALS_NULL:
        yield ", NullsEqual: true"


def sort_merge_join_line(m: Msg) -> Gen:
    """``SortMergeJoinExec: join_type=Left, on=[(a@0, a@0)], filter=b@0 > c@1, NullsEqual: true``. The sort
    options it stores (one per key) are not shown."""
    d = singles(m)
    yield f"SortMergeJoinExec: join_type={join_type_name(d)}, on=["
    yield join_on_gen(m)
    yield "]"
    yield join_filter_gen(d)
    if d.get("null_equality") == NULL_EQUALS_NULL:
        yield ", NullsEqual: true"


def symmetric_hash_join_line(m: Msg) -> Gen:
    """``SymmetricHashJoinExec: mode=Partitioned, join_type=Inner, on=[(a@0, a@0)], filter=…``: its null
    equality and the sort expressions of each side are stored but not shown."""
    d = singles(m)
    mode = STREAM_PARTITION_MODES.get(d.get("partition_mode", 0), str(d.get("partition_mode")))
    yield f"SymmetricHashJoinExec: mode={mode}, join_type={join_type_name(d)}, on=["
    yield join_on_gen(m)
    yield "]"
    yield join_filter_gen(d)


def nested_loop_join_line(m: Msg) -> Gen:
    """``NestedLoopJoinExec: join_type=Inner, filter=a@0 < c@1, projection=[b@2]``."""
    d = singles(m)
    yield f"NestedLoopJoinExec: join_type={join_type_name(d)}"
    yield join_filter_gen(d)
    yield join_projection(d, _indices(m))


#: arm of PhysicalPlanNode -> the join's display line
JOIN_LINES: dict[str, Callable[[Msg], Gen]] = {
    "hash_join": hash_join_line, "sort_merge_join": sort_merge_join_line,
    "symmetric_hash_join": symmetric_hash_join_line, "nested_loop_join": nested_loop_join_line,
}  # fmt: skip
