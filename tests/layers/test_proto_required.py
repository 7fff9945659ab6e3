"""layers/proto/semantics: the plan node fields datafusion's from_proto requires, proved against datafusion.

Plans of many node kinds are written by datafusion; for each (message, field) of a non-repeated message field
found in them, the field is dropped (its tag renumbered to a free field number, so prost skips it and nothing
else moves) and the plan is decoded by datafusion in a child process. Then, for every case:

- what datafusion accepts is never damage for ``inspect`` (exit 3) — no false alarm;
- what ``inspect`` calls damage datafusion refuses, with the text exprtool predicts;
- every entry of ``PLAN_REQUIRED_FIELDS`` met here is confirmed; the refusals exprtool does not predict are the
  known ones below (their text depends on where the message sits, or is a bare ``unwrap`` panic).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from datafusion import SessionConfig, SessionContext
from support.decoding import decode_all

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.inspection.pipeline import inspect_bytes
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.semantics import PLAN_REQUIRED_FIELDS
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import iter_raw

#: refusals not predicted: the same message reads differently elsewhere, or datafusion only panics on an unwrap
KNOWN_MISSES = {
    "PartitionColumn.arrow_type", "PhysicalScalarUdfNode.return_type", "RecursionUnnestOption.input_column",
    "RecursionUnnestOption.output_column", "TableParquetOptions.global", "PhysicalSortExprNode.expr",
}  # fmt: skip
SQL = [
    "select a, s from p where a > 1 order by a desc limit 2", "select s, count(*), sum(a) from p group by s",
    "select a, row_number() over (partition by s order by a) from p", "select * from p t1 join p t2 on t1.a = t2.a",
    "select a from p union all select a from p", "select distinct s from p", "select * from (values (1, 'x')) v",
    "select unnest(l) from p", "select * from ar", "select * from range(3)",
    "select * from generate_series(timestamp '2020-01-01', timestamp '2020-01-02', interval '6 hours')",
    "select * from range(date '2020-01-01', date '2020-03-01', interval '1 month')",
    "explain select a from p", "explain analyze select a from p", "select a from m where a > 1",
    "select x.a from (select a from p) x where x.a > 1 offset 1", "select a from p order by a",
    "select * from p t1 cross join p t2", "select distinct on (s) s, a from p order by s, a",
    "with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) select * from r",
    "select a from p where a in (select a from p)", "select * from p t1 left join p t2 on t1.a < t2.a",
    "select a from p limit 1", "select count(distinct s) from p",
]  # fmt: skip
COPY = ["COPY (select a from p) TO '{tmp}/o.csv'", "COPY (select a from p) TO '{tmp}/o.json'",
        "COPY (select a from p) TO '{tmp}/o.parquet'", "INSERT INTO d SELECT * FROM p"]  # fmt: skip


def _plans(tmp: Path) -> list[tuple[str, bytes]]:
    table = pa.table({"a": [1, 2], "s": ["x", "y"], "l": [[1, 2], None]})
    pq.write_table(table, tmp / "t.parquet")
    with ipc.new_file(tmp / "t.arrow", table.schema) as writer:
        writer.write_table(table)
    (tmp / "d").mkdir()
    pq.write_table(table, tmp / "d" / "part.parquet")
    ctx = SessionContext(SessionConfig().with_target_partitions(2))
    ctx.register_parquet("p", str(tmp / "t.parquet"))
    ctx.register_parquet("d", f"{tmp}/d/")
    ctx.register_arrow("ar", str(tmp / "t.arrow"))
    ctx.register_record_batches("m", [table.to_batches()])
    out = []
    for sql in SQL + [c.format(tmp=tmp) for c in COPY]:
        df = ctx.sql(sql)
        for kind, plan in (("physical", df.execution_plan), ("logical", df.logical_plan),
                           ("logical", df.optimized_logical_plan)):  # fmt: skip
            try:
                out.append((kind, plan().to_bytes()))
            except Exception:  # noqa: BLE001 - a memory table's logical plan, a recursive query's physical one
                pass
    return out


def _walk(root: Msg):
    stack = [root]
    while stack:
        m = stack.pop()
        yield m
        stack += reversed([f.value for f in m.fields() if isinstance(f.value, Msg) and f.value.known])


def _dropped(kind: str, blob: bytes, seen: set[str]) -> list[tuple[str, str, bytes]]:
    """(``Message.field``, kind, the blob without it) for each field met for the first time."""
    out = []
    root = Msg("PhysicalPlanNode" if kind == "physical" else "LogicalPlanNode", blob, 0, len(blob))
    for m in _walk(root):
        table = MESSAGES.get(m.type, {})
        free = next((n for n in range(15, 0, -1) if n not in table), None)
        for n, wire, _a, _b, tag in iter_raw(m.buf, m.start, m.end):
            spec = table.get(n)
            key = f"{m.type}.{spec.name}" if spec is not None else ""
            if spec is None or spec.kind != "message" or spec.repeated or spec.oneof or key in seen:
                continue
            if free is None or blob[tag] >= 0x80:
                continue
            seen.add(key)
            data = bytearray(blob)
            data[tag] = free << 3 | wire
            out.append((key, kind, bytes(data)))
    return out


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory) -> list[tuple[str, str, bytes, str | None]]:
    tmp = tmp_path_factory.mktemp("required")
    seen: set[str] = set()
    cases = [c for kind, blob in _plans(tmp) for c in _dropped(kind, blob, seen)]
    paths = []
    for i, (_key, kind, data) in enumerate(cases):
        path = tmp / f"dropped.{i}"
        path.write_bytes(data)
        paths.append((path, kind))
    return [(*c, said) for c, said in zip(cases, decode_all(paths), strict=True)]


def _damage(kind: str, data: bytes) -> list:
    try:
        return inspect_bytes(data, message=kind).damage
    except DecodeError as err:  # the scan itself refuses: damage too
        return [err]


def test_nothing_datafusion_accepts_is_damage(verdicts) -> None:
    false = [key for key, kind, data, said in verdicts if said is None and _damage(kind, data)]
    assert not false, false
    assert sum(said is None for *_rest, said in verdicts) >= 10  # the accepted drops were tried too


def test_what_inspect_calls_damage_datafusion_refuses_in_its_words(verdicts) -> None:
    for key, kind, data, said in verdicts:
        damage = _damage(kind, data)
        if not damage:
            continue
        assert said is not None, key
        text = getattr(damage[0], "datafusion_text", "") or ""
        assert text and text in said.replace('\\"', '"'), (key, text, said[:300])


def test_every_refusal_is_predicted_but_the_known_ones(verdicts) -> None:
    missed = {key for key, kind, data, said in verdicts if said is not None and not _damage(kind, data)}
    assert missed <= KNOWN_MISSES, missed - KNOWN_MISSES
    confirmed = {key for key, kind, data, said in verdicts if said is not None and _damage(kind, data)}
    listed = {f"{t}.{f}" for t, fields in PLAN_REQUIRED_FIELDS.items() for f in fields}
    assert len(confirmed & listed) >= 45, sorted(listed - confirmed)
