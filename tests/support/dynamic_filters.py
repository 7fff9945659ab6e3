"""Physical plans that carry dynamic filters, built by datafusion: planned, and executed (every partition run at
once, then serialized: the filters then hold what the run put in them), and a byte-level editor of their dynamic
filter nodes (the edited bytes are decoded by datafusion itself, whose display is the answer)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datafusion import ExecutionPlan, SessionConfig, SessionContext

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.splice import splice
from datafusion_exprtool.layers.proto.wire import encode_len_field, encode_varint, iter_raw

#: name -> (SQL, the session's target partitions): a TopK pushes its filter into the scan, a hash join its build
#: side's bounds (on a computed key through the scan's projection: remapped children), MIN/MAX their bound
QUERIES = {
    "topk_desc": ("SELECT * FROM t ORDER BY a DESC LIMIT 5", 1),
    "topk_two_keys": ("SELECT * FROM t ORDER BY b, a DESC LIMIT 2", 1),
    "topk_filtered": ("SELECT a FROM t WHERE a > 3 ORDER BY a + 1 LIMIT 2", 1),
    "join": ("SELECT * FROM u JOIN t ON t.a = u.a", 1),
    "join_computed_keys": ("SELECT t.b, u.c FROM u JOIN t ON t.a + 1 = u.a AND t.b = CAST(u.c AS VARCHAR)", 1),
    "min_max": ("SELECT max(a), min(a) FROM t WHERE b <> 'x'", 2),
    "join_partitioned": ("SELECT * FROM ud JOIN td ON td.a = ud.a", 2),
}
#: a partitioned hash join only with these (small tables otherwise collect the build side)
PARTITIONED = {"datafusion.optimizer.hash_join_single_partition_threshold": "0",
               "datafusion.optimizer.hash_join_single_partition_threshold_rows": "0"}  # fmt: skip


def write_tables(tmp: Path) -> Path:
    pq.write_table(pa.table({"a": list(range(100)), "b": [str(i) for i in range(100)]}), tmp / "t.parquet",
                   row_group_size=10)  # fmt: skip
    pq.write_table(pa.table({"a": [1, 2, 3], "c": [10, 20, 30]}), tmp / "u.parquet")
    for i in range(2):
        for name, table in (("td", pa.table({"a": list(range(i * 100, i * 100 + 100))})),
                            ("ud", pa.table({"a": [1 + i, 150 + i], "c": [10, 20]}))):  # fmt: skip
            (tmp / name).mkdir(exist_ok=True)
            pq.write_table(table, tmp / name / f"{i}.parquet")
    return tmp


def context(tmp: Path, partitions: int) -> SessionContext:
    config = SessionConfig().with_target_partitions(partitions)
    for key, value in PARTITIONED.items():
        config = config.set(key, value)
    ctx = SessionContext(config)
    for name in ("t", "u"):
        ctx.register_parquet(name, str(tmp / f"{name}.parquet"))
    for name in ("td", "ud"):
        ctx.register_parquet(name, f"{tmp}/{name}/")
    return ctx


def executed(ctx: SessionContext, plan: ExecutionPlan) -> ExecutionPlan:
    """``plan`` after a run of all its partitions at once (a partitioned join's filter waits for every build
    side: one partition at a time would never end)."""
    streams = [ctx.execute(plan, i) for i in range(plan.partition_count)]
    threads = [threading.Thread(target=lambda s=s: all(True for _ in s)) for s in streams]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a partition did not end"
    return plan


def plans(tmp: Path) -> dict[str, ExecutionPlan]:
    """``<name>`` planned and ``<name>.run`` executed, for every query of QUERIES."""
    write_tables(tmp)
    out = {}
    for name, (sql, partitions) in QUERIES.items():
        ctx = context(tmp, partitions)
        out[name] = ctx.sql(sql).execution_plan()
        out[f"{name}.run"] = executed(ctx, ctx.sql(sql).execution_plan())
    return out


def edit_arm(blob: bytes, arm: int, edit: Callable[[Msg], bytes]) -> bytes:
    """``blob`` (a PhysicalPlanNode) with the body of every PhysicalExprNode arm ``arm`` (23: a dynamic filter,
    21: a partition hash) replaced by ``edit(body)``."""

    def replace(m: Msg) -> bytes | None:
        if m.type != "PhysicalExprNode" or not any(n == arm for n, *_ in iter_raw(m.buf, m.start, m.end)):
            return None
        out = b""
        for number, _wire, a, b, tag in iter_raw(m.buf, m.start, m.end):
            body = Msg("", m.buf, a, b)
            out += encode_len_field(arm, edit(body)) if number == arm else bytes(m.buf[tag:b])
        return out

    edited, count = splice(blob, "PhysicalPlanNode", replace)
    assert count, "no such node"
    return edited


def with_fields(body: Msg, drop: tuple[int, ...] = (), **fields: bytes) -> bytes:
    """A message body without fields ``drop``, then ``fields`` (``f3=<encoded value>``) appended."""
    out = b"".join(bytes(body.buf[tag:b]) for n, _w, _a, b, tag in iter_raw(body.buf, body.start, body.end)
                   if n not in drop)  # fmt: skip
    return out + b"".join(v for v in fields.values())


def varint_field(number: int, value: int) -> bytes:
    return encode_varint(number << 3) + encode_varint(value)


def bool_literal(value: bool) -> bytes:
    """A PhysicalExprNode ``literal`` (arm 2) holding ScalarValue ``bool_value`` (1)."""
    return encode_len_field(2, varint_field(1, int(value)))
