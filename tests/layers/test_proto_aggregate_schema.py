"""AggregateExecNode field 14: datafusion 55.0.0 writes it and reads it as a ``Schema`` (its decode error names it
``AggregateExecNode.schema`` and walks into ``Schema.columns`` and ``Field.arrow_type``), so the scan validates
its body as one: a Field inside it whose tag has the wrong wire type is refused by both, with prost's text."""

from __future__ import annotations

import pyarrow as pa
from datafusion import SessionContext, col
from datafusion import functions as F
from support.decoding import decode_all

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.scan import scan
from datafusion_exprtool.layers.proto.wire import LEN, iter_raw
from datafusion_exprtool.reports.check.report import check_bytes


def _aggregate_plan() -> bytes:
    ctx = SessionContext()
    df = ctx.from_arrow(pa.table({"k": [1, 2, 1], "v": [3, 4, 5]})).aggregate([col("k")], [F.sum(col("v"))])
    return df.execution_plan().to_bytes()


def _field_14_bodies(blob: bytes) -> list[tuple[int, int]]:
    """(start, end) of every AggregateExecNode field 14 in the plan, found with the one wire reader."""
    out, stack = [], [Msg("PhysicalPlanNode", blob, 0, len(blob))]
    while stack:
        m = stack.pop()
        if m.type == "AggregateExecNode":
            out += [(a, b) for n, w, a, b, _t in iter_raw(blob, m.start, m.end) if n == 14 and w == LEN]
        stack += [f.value for f in m.fields() if isinstance(f.value, Msg) and f.value.known]
    return out


def test_field_14_is_read_as_a_schema(tmp_path) -> None:
    blob = _aggregate_plan()
    bodies = _field_14_bodies(blob)
    assert bodies, "datafusion wrote no AggregateExecNode field 14"
    a, b = bodies[0]
    at = blob.index(b"\x18\x01", a)  # the first Field's `nullable` (field 3, varint)...
    assert at < b
    damaged = blob[:at] + b"\x10" + blob[at + 1 :]  # ...retagged as field 2, arrow_type, a message: wrong wire type
    path = tmp_path / "agg.bin"
    path.write_bytes(damaged)
    (said,) = decode_all([(path, "physical")])
    assert said is not None and "AggregateExecNode.schema" in said and "invalid wire type" in said, said
    try:
        scan(damaged, "PhysicalPlanNode")
    except DecodeError as err:
        assert err.layer == "protobuf" and err.offset == at
    else:
        raise AssertionError("the scan read a Field with a wrong wire type inside AggregateExecNode.schema")
    first = check_bytes(damaged, message="physical").errors[0]
    assert first.datafusion_text and first.datafusion_text.split(": ")[-1] in said, (first, said[-200:])
    assert "AggregateExecNode.schema" in first.datafusion_text
