"""Plans built with datafusion for the plan-replay tests: data on disk, the queries, their blobs, and
datafusion's own result for a blob (the ground truth exprtool's replay is compared with)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datafusion import ExecutionPlan, LogicalPlan, SessionConfig, SessionContext, udf

ROWS = 400
#: name -> SQL over orders (a directory of two files), customers (one file), mem (a memory table)
QUERIES = {
    "udf_agg": "select cust, sum(bump(amount)) as s from orders where amount > 10 group by cust",
    "join": "select o.o_id, c.region from orders o join customers c on o.cust = c.cust where o.amount < 5",
    "window": "select o_id, cust, sum(amount) over (partition by cust order by o_id) as w from orders",
    "values": "select x, y from (values (1, 'a'), (2, 'b'), (3, 'c')) as v(x, y) where x > 1",
    "memory": "select k, v from mem where k > 1",
    "sort_limit": "select o_id, amount from orders order by amount desc, o_id limit 5",
    "scan": "select o_id, bump(amount) as b from orders where cust = 3",
}
#: datafusion 55 cannot encode a memory table in a logical plan (only the physical plan carries its rows)
NOT_LOGICAL = {"memory"}


def bump_udf():
    """A Python UDF defined in a function: cloudpickle ships it by value, inside the plan."""

    def bump(x: pa.Array) -> pa.Array:
        return pc.add(x, 1.5)

    return udf(bump, [pa.float64()], pa.float64(), "immutable", name="bump")


def write_data(root: Path) -> Path:
    """orders/part-0.parquet, orders/part-1.parquet and customers.parquet under ``root``."""
    (root / "orders").mkdir(parents=True, exist_ok=True)
    orders = pa.table(
        {
            "o_id": pa.array(range(ROWS), pa.int64()),
            "cust": pa.array([i % 7 for i in range(ROWS)], pa.int64()),
            "amount": pa.array([float(i % 50) for i in range(ROWS)]),
        }
    )
    pq.write_table(orders.slice(0, 250), root / "orders" / "part-0.parquet")
    pq.write_table(orders.slice(250), root / "orders" / "part-1.parquet")
    customers = pa.table({"cust": pa.array(range(7), pa.int64()), "region": [f"r{i % 3}" for i in range(7)]})
    pq.write_table(customers, root / "customers.parquet")
    return root


def sender(root: Path) -> SessionContext:
    """The context the plans are made in: two partitions, the tables registered, the UDF, a memory table."""
    ctx = SessionContext(SessionConfig().with_target_partitions(2))
    ctx.register_parquet("orders", str(root / "orders") + "/")
    ctx.register_parquet("customers", str(root / "customers.parquet"))
    ctx.register_udf(bump_udf())
    ctx.register_record_batches("mem", [[pa.record_batch({"k": [1, 2, 3], "v": ["a", "b", "c"]})]])
    return ctx


def write_plans(root: Path, out: Path) -> dict[str, Path]:
    """``<query>.logical.bin`` / ``<query>.physical.bin`` for every query, made over the data in ``root``."""
    ctx = sender(root)
    blobs = {}
    for name, sql in QUERIES.items():
        df = ctx.sql(sql)
        for kind in ("logical", "physical"):
            if kind == "logical" and name in NOT_LOGICAL:
                continue
            plan = df.logical_plan() if kind == "logical" else df.execution_plan()
            path = out / f"{name}.{kind}.bin"
            path.write_bytes(plan.to_bytes())
            blobs[f"{name}.{kind}"] = path
    return blobs


def datafusion_result(blob: bytes, kind: str) -> pa.Table:
    """datafusion's own run of a plan blob in a fresh context: a logical plan as a DataFrame, a physical one
    with all its partitions executed at once (threads), as datafusion's collect runs them."""
    ctx = SessionContext()
    if kind == "logical":
        return ctx.create_dataframe_from_logical_plan(LogicalPlan.from_bytes(ctx, blob)).to_arrow_table()
    plan = ExecutionPlan.from_bytes(ctx, blob)
    with ThreadPoolExecutor(plan.partition_count) as pool:
        parts = list(pool.map(lambda i: [b.to_pyarrow() for b in ctx.execute(plan, i)], range(plan.partition_count)))
    return pa.Table.from_batches([b for part in parts for b in part])


def rows(table: pa.Table) -> list[tuple]:
    """The rows as a sorted multiset (order-free comparison)."""
    return sorted(tuple(r.values()) for r in table.to_pylist())


def on_object_store(blob: bytes, message: str) -> bytes:
    """The plan with its scans moved to ``s3://bucket`` (a listing table's path, a physical scan's store):
    datafusion writes such a plan only with a reachable store, so the bytes are rewritten."""
    from datafusion_exprtool.layers.proto.splice import splice
    from datafusion_exprtool.layers.proto.wire import encode_len_field, iter_raw

    new = {"ListingTableScanNode": (2, b"s3://bucket/orders/"), "FileScanExecConf": (8, b"s3://bucket")}

    def swap(m):  # noqa: ANN001, ANN202 - a splice callback
        if m.type not in new:
            return None
        field, value = new[m.type]
        fields = iter_raw(m.buf, m.start, m.end)
        return b"".join(encode_len_field(field, value) if n == field else m.buf[t:e] for n, _w, _a, e, t in fields)

    return splice(blob, message, swap)[0]
