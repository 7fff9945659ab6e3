"""What a physical plan node's display shows about its input without the bytes storing it: the input's output
partition count (RepartitionExec's ``input_partitions``) and its output column names (FilterExec's
``projection=[name@i]``), derived from the plan below the node the way datafusion's planner computes them.

Both walk down the plan with an explicit stack (no Python recursion on blob structure) and answer None where the
bytes do not decide it (an aggregate's partial state columns, an extension node).
"""

from __future__ import annotations

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.canonical import singles
from datafusion_exprtool.text.engine import Gen, arm, children, evaluate

#: nodes whose output partitioning is their (first) input's
SAME_AS_INPUT = {"projection", "filter", "aggregate", "coalesce_batches", "local_limit", "window", "cooperative",
                 "unnest", "interleave", "async_func", "buffer", "scalar_subquery"}  # fmt: skip
#: nodes that always output one partition
SINGLE = {"merge", "sort_preserving_merge", "global_limit", "analyze", "explain", "generate_series"}
SCANS = {"parquet_scan", "csv_scan", "json_scan", "avro_scan", "arrow_scan"}
#: nodes whose output columns are their input's
PASS_THROUGH = {"sort", "sort_preserving_merge", "coalesce_batches", "merge", "repartition", "global_limit",
                "local_limit", "cooperative", "buffer", "scalar_subquery"}  # fmt: skip
#: joins whose output partitioning is their left input's (datafusion's symmetric_join_output_partitioning)
LEFT_PARTITIONED_JOINS = {"sort_merge_join", "symmetric_hash_join"}
#: joins that compute no projection of their own: their columns are both inputs', by join type
UNPROJECTED_JOINS = {"cross_join", "sort_merge_join", "symmetric_hash_join"}
#: nodes that store their output schema (field ``schema``)
OWN_SCHEMA = {"generate_series", "unnest", "analyze", "explain", "placeholder_row", "empty"}


def _partitioning_count(p: Msg) -> int | None:
    d = singles(p)
    if "hash" in d:
        return int(singles(d["hash"]).get("partition_count", 0))
    for key in ("round_robin", "unknown"):
        if key in d:
            return int(d[key])
    return None


def output_partitions(plan: Msg) -> int | None:
    """The output partition count of a PhysicalPlanNode, or None where the bytes do not decide it."""
    total = 0
    stack = [plan]
    while stack:
        name, node, _n = arm(stack.pop())
        if not isinstance(node, Msg) or not node.known:
            return None
        d = singles(node)
        if name in SINGLE or (name == "sort" and not d.get("preserve_partitioning")):
            total += 1
        elif name == "memory_scan":
            total += sum(1 for f in node.fields() if f.name == "partitions")
        elif name in SCANS:
            conf = d.get("base_conf")
            if not isinstance(conf, Msg):
                return None
            total += sum(1 for _ in children(conf, 1, "FileGroup"))
        elif name in ("placeholder_row", "empty"):
            total += int(d.get("partitions", 0))
        elif name == "repartition":
            count = _partitioning_count(d["partitioning"]) if "partitioning" in d else None
            if count is None:
                return None
            total += count
        elif name == "union":
            stack.extend(children(node, 1, "PhysicalPlanNode"))
        elif name == "hash_join" and d.get("partition_mode") == 1 and "left" in d:  # partitioned: the left's
            stack.append(d["left"])
        elif name in ("hash_join", "cross_join", "nested_loop_join") and "right" in d:  # collect left: the right's
            stack.append(d["right"])
        elif name in LEFT_PARTITIONED_JOINS and "left" in d:
            stack.append(d["left"])
        elif (name in SAME_AS_INPUT or name == "sort") and "input" in d:
            stack.append(d["input"])
        elif name == "interleave":
            first = next(children(node, 1, "PhysicalPlanNode"), None)
            if first is None:
                return None
            stack.append(first)
        else:
            return None
    return total


def _schema_names(schema: object) -> list[str]:
    if not isinstance(schema, Msg):
        return []
    return [str(singles(f).get("name", "")) for f in children(schema, 1, "Field")]


def _projected(names: list[str] | None, indices: list[int]) -> list[str] | None:
    if names is None or not indices:
        return names
    return [names[i] if i < len(names) else "?" for i in indices]


def join_names(join_type: int, left: list[str] | None, right: list[str] | None) -> list[str] | None:
    """A join's output columns before its projection (datafusion's ``build_join_schema``)."""
    if left is None or right is None:
        return None
    if join_type in (4, 5):  # LeftSemi, LeftAnti
        return left
    if join_type in (6, 7):  # RightSemi, RightAnti
        return right
    if join_type == 8:  # LeftMark
        return [*left, "mark"]
    if join_type == 9:  # RightMark
        return [*right, "mark"]
    return [*left, *right]


def _scan_names(conf: object) -> list[str] | None:
    """A file scan's output columns: what it computes (``projection_exprs``, by alias), else its schema's fields
    and partition columns, projected."""
    if not isinstance(conf, Msg):
        return None
    d = singles(conf)
    exprs = d.get("projection_exprs")
    if isinstance(exprs, Msg):
        return [str(singles(p).get("alias", "")) for p in children(exprs, 1, "ProjectionExpr")]
    names = _schema_names(d.get("schema")) + [f.value for f in conf.fields() if f.name == "table_partition_cols"]
    return _projected(names, _indices(conf))


def _indices(node: Msg) -> list[int]:
    return [f.value for f in node.fields() if f.name == "projection"]


def names_gen(plan: Msg) -> Gen:
    """Rendering-engine generator returning a PhysicalPlanNode's output column names (None: not decided)."""
    name, node, _n = arm(plan)
    if not isinstance(node, Msg) or not node.known:
        return None
    d = singles(node)
    if name in PASS_THROUGH or name == "filter":
        if "input" not in d:
            return None
        names = yield names_gen(d["input"])
        return _projected(names, _indices(node)) if name == "filter" else names
    if name == "projection":
        return [f.value for f in node.fields() if f.name == "expr_name"]
    if name in SCANS:
        return _scan_names(d.get("base_conf"))
    if name in OWN_SCHEMA:
        return _schema_names(d.get("schema")) if "schema" in d else None
    if name == "memory_scan":
        return _projected(_schema_names(d.get("schema")), _indices(node))
    if name == "aggregate" and d.get("mode", 0) not in (0, 5):  # final modes: groups, then aggregates
        return [f.value for f in node.fields() if f.name in ("group_expr_name", "aggr_expr_name")]
    if name in ("hash_join", "nested_loop_join", *UNPROJECTED_JOINS) and "left" in d and "right" in d:
        left = yield names_gen(d["left"])
        right = yield names_gen(d["right"])
        names = join_names(0 if name == "cross_join" else d.get("join_type", 0), left, right)
        return names if name in UNPROJECTED_JOINS else _projected(names, _indices(node))
    if name == "async_func" and "input" in d:  # the input's columns, then one per async call
        names = yield names_gen(d["input"])
        return None if names is None else [*names, *(f.value for f in node.fields() if f.name == "async_expr_names")]
    return None


def output_names(plan: Msg) -> list[str] | None:
    """The output column names of a PhysicalPlanNode, or None where the bytes do not decide them."""
    return evaluate(names_gen(plan))
