"""Physical plan nodes as ``ExecutionPlan.display_indent()`` shows them: one line per node, keyed by the node's
arm of ``PhysicalPlanNode``.

``LINES[arm](node)`` returns the text after the indentation (``ProjectionExec: expr=[a@0 as a]``) as a rendering
generator; an arm without an entry falls back to the wire-level outline line (``text/plan.py``).

Some of what datafusion shows is not in the bytes but follows from them: a RepartitionExec's
``input_partitions`` is its input's output partition count (``text/physical_props.py``). What datafusion derives
at planning time from things the bytes lack (a Parquet scan's ``pruning_predicate``, an aggregate's
``ordering_mode``) is left out; a window's output field follows from its function (text/physical_window.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from datafusion_exprtool.layers.arrow_ipc import stream_batch_count
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.canonical import singles
from datafusion_exprtool.text.dynamic_filter import sort_filter_gen
from datafusion_exprtool.text.engine import Gen, arm, children, render_with, separated
from datafusion_exprtool.text.physical_expr import physical_gen
from datafusion_exprtool.text.physical_joins import JOIN_LINES
from datafusion_exprtool.text.physical_props import output_names, output_partitions
from datafusion_exprtool.text.physical_scan import SCAN_LINES, file_list_text
from datafusion_exprtool.text.physical_window import window_line

#: Rust Debug names of the enums datafusion's display prints with ``{:?}``
AGGREGATE_MODES = {0: "Partial", 1: "Final", 2: "FinalPartitioned", 3: "Single", 4: "SinglePartitioned",
                   5: "PartialReduce"}  # fmt: skip
#: datafusion writes an aggregate's alias in front of its human display: ``<prefix><len>:<alias><display>``,
#: the length in UTF-8 bytes
HUMAN_ALIAS = "\x1fdatafusion_human_display_alias_v1:"


def _expr_text(m: Msg) -> str:
    return render_with(physical_gen, m)


def aliased(text: str, alias: str) -> str:
    """``e as alias``, or ``e`` alone when the alias is its own text (datafusion's projection and group by)."""
    return text if text == alias else f"{text} as {alias}"


def _strings(m: Msg, name: str) -> list[str]:
    return [f.value for f in m.fields() if f.name == name]


def _exprs_with_names(m: Msg, number: int, names: str) -> Iterator[str]:
    labels = iter(_strings(m, names))
    for e in children(m, number, "PhysicalExprNode"):
        yield aliased(_expr_text(e), next(labels, ""))


def _sort_list(m: Msg, number: int) -> Gen:
    """``a@0 ASC NULLS LAST, b@1 DESC NULLS FIRST`` of a repeated PhysicalExprNode{sort} field."""
    yield from separated(children(m, number, "PhysicalExprNode"), physical_gen)


def fetch_value(value: object) -> int | None:
    """A fetch as datafusion reads it back: absent, or -1 (written as int64 or as a wrapped uint64), is none."""
    if not isinstance(value, int) or value < 0 or value >= 1 << 63:
        return None
    return value


def _fetch(value: object) -> str:
    fetch = fetch_value(value)
    return "" if fetch is None else f", fetch={fetch}"


def projection_line(m: Msg) -> Gen:
    yield f"ProjectionExec: expr=[{', '.join(_exprs_with_names(m, 2, 'expr_name'))}]"


def memory_line(m: Msg) -> Gen:
    sizes = [stream_batch_count(p) for p in _strings(m, "partitions")]
    d = singles(m)
    text = f"DataSourceExec: partitions={len(sizes)}"
    if d.get("show_sizes"):
        text += f", partition_sizes=[{', '.join(map(str, sizes))}]"
    yield text + _fetch(d.get("fetch"))


def _aggregate_name(m: Msg, name: str) -> str:
    """An aggregate as AggregateExec shows it: its human display (``alias`` appended when it carries one)."""
    human = singles(m).get("human_display") or ""
    if not human or not human.startswith(HUMAN_ALIAS):  # datafusion shows the name unless an alias is stored
        return name
    size, _, rest = human[len(HUMAN_ALIAS) :].partition(":")
    if not size.isdigit():
        return name
    raw = rest.encode()
    return aliased(raw[int(size) :].decode(errors="replace"), raw[: int(size)].decode(errors="replace"))


def aggregate_line(m: Msg) -> Gen:
    d = singles(m)
    names = _strings(m, "group_expr_name")
    groups = [e for e in children(m, 1, "PhysicalExprNode")]
    nulls = [e for e in children(m, 8, "PhysicalExprNode")]
    texts = [aliased(_expr_text(e), n) for e, n in zip(groups, names, strict=False)]
    if nulls:  # grouping sets: one (…) per set, a null expression where the set leaves a column out
        null_texts = [aliased(_expr_text(e), n) for e, n in zip(nulls, names, strict=False)]
        flags = [bool(f.value) for f in m.fields() if f.name == "groups"]
        width = len(texts) or 1
        sets = [flags[i : i + width] for i in range(0, len(flags), width)]
        gby = [
            "(" + ", ".join(null_texts[i] if off else texts[i] for i, off in enumerate(s)) + ")" for s in sets
        ]
    else:
        gby = texts
    aggr_names = iter(_strings(m, "aggr_expr_name"))
    aggr = []
    for e in children(m, 2, "PhysicalExprNode"):
        name = next(aggr_names, "")
        inner = singles(e).get("aggregate_expr")
        aggr.append(_aggregate_name(inner, name) if isinstance(inner, Msg) else name)
    text = f"AggregateExec: mode={AGGREGATE_MODES.get(d.get('mode', 0), d.get('mode'))}, gby=[{', '.join(gby)}]"
    text += f", aggr=[{', '.join(aggr)}]"
    limit = d.get("limit")
    if isinstance(limit, Msg):
        lim = singles(limit)
        text += f", lim=[{lim.get('limit', 0)}]"
    yield text


def sort_line(m: Msg) -> Gen:
    d = singles(m)
    fetch = fetch_value(d.get("fetch"))
    yield "SortExec: expr=[" if fetch is None else f"SortExec: TopK(fetch={fetch}), expr=["
    yield _sort_list(m, 2)
    yield f"], preserve_partitioning=[{'true' if d.get('preserve_partitioning') else 'false'}]"
    yield sort_filter_gen(d.get("dynamic_filter"), physical_gen)


def sort_preserving_merge_line(m: Msg) -> Gen:
    yield "SortPreservingMergeExec: ["
    yield _sort_list(m, 2)
    yield "]" + _fetch(singles(m).get("fetch"))


def filter_line(m: Msg) -> Gen:
    d = singles(m)
    yield "FilterExec: "
    yield physical_gen(d["expr"]) if "expr" in d else "<missing expr>"
    projection = [f.value for f in m.fields() if f.name == "projection"]
    names = output_names(d["input"]) if "input" in d else None
    # datafusion shows any projection but its input's own columns in order, an empty one too (count(*))
    if names is not None and projection != list(range(len(names))):
        shown = [f"{names[i]}@{i}" if i < len(names) else f"?@{i}" for i in projection]
        yield f", projection=[{', '.join(shown)}]"
    yield _fetch(d.get("fetch"))


def coalesce_batches_line(m: Msg) -> Gen:
    d = singles(m)
    yield f"CoalesceBatchesExec: target_batch_size={d.get('target_batch_size', 0)}" + _fetch(d.get("fetch"))


def merge_line(m: Msg) -> Gen:
    fetch = singles(m).get("fetch")
    yield "CoalescePartitionsExec" if fetch is None else f"CoalescePartitionsExec: fetch={fetch}"


def partitioning_text(m: Msg) -> Gen:
    """``RoundRobinBatch(n)``, ``Hash([exprs], n)``, ``UnknownPartitioning(n)`` of a Partitioning."""
    d = singles(m)
    if "hash" in d:
        h = d["hash"]
        yield "Hash(["
        yield from separated(children(h, 1, "PhysicalExprNode"), physical_gen)
        yield f"], {singles(h).get('partition_count', 0)})"
    elif "unknown" in d:
        yield f"UnknownPartitioning({d['unknown']})"
    else:
        yield f"RoundRobinBatch({d.get('round_robin', 0)})"


def repartition_line(m: Msg) -> Gen:
    d = singles(m)
    yield "RepartitionExec: partitioning="
    yield partitioning_text(d["partitioning"]) if "partitioning" in d else "?"
    count = output_partitions(d["input"]) if "input" in d else None
    yield f", input_partitions={'?' if count is None else count}"
    if d.get("preserve_order"):
        yield ", preserve_order=true"


def global_limit_line(m: Msg) -> Gen:
    d = singles(m)
    fetch = fetch_value(d.get("fetch"))
    yield f"GlobalLimitExec: skip={d.get('skip', 0)}, fetch={'None' if fetch is None else fetch}"


def local_limit_line(m: Msg) -> Gen:
    yield f"LocalLimitExec: fetch={singles(m).get('fetch', 0)}"


#: GenerateSeriesName -> the generator's name in its display
SERIES_NAMES = {0: "generate_series", 1: "range"}


def lazy_memory_line(m: Msg) -> Gen:
    """``LazyMemoryExec: partitions=1, batch_generators=[range: start=0, end=10, batch_size=8192]``: the one
    generator a GenerateSeriesNode rebuilds (``generate_series: empty`` when an argument was NULL). Timestamps
    and dates show as the nanoseconds datafusion holds; the step and ``include_end`` are not shown."""
    d = singles(m)
    name, args, _n = arm(m)
    a = singles(args) if isinstance(args, Msg) else {}
    series = SERIES_NAMES.get(a.get("name", 0), str(a.get("name")))
    if name == "contains_null" or name is None or name not in ("int64_args", "timestamp_args", "date_args"):
        generator = f"{series}: empty"
    else:
        generator = f"{series}: start={_int64(a.get('start', 0))}, end={_int64(a.get('end', 0))}, "
        generator += f"batch_size={d.get('target_batch_size', 0)}"
    yield f"LazyMemoryExec: partitions=1, batch_generators=[{generator}]"


def _int64(v: int) -> int:
    """A raw varint read as int64."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


#: sink arm -> the sink's name in ``DataSinkExec: sink=ParquetSink(file_groups=[…])``
SINK_NAMES = {"parquet_sink": "ParquetSink", "csv_sink": "CsvSink", "json_sink": "JsonSink"}


def sink_line(name: str) -> Callable[[Msg], Gen]:
    """``DataSinkExec: sink=ParquetSink(file_groups=[path, …])``: the files the sink's config lists."""

    def line(m: Msg) -> Gen:
        sink = singles(m).get("sink")
        config = singles(sink).get("config") if isinstance(sink, Msg) else None
        files = children(config, 2, "PartitionedFile") if isinstance(config, Msg) else iter(())
        yield f"DataSinkExec: sink={name}(file_groups=[{file_list_text(files)}])"

    return line


def async_func_line(m: Msg) -> Gen:
    """``AsyncFuncExec: async_expr=[async_expr(name=x, expr=f(a@0)), …]``: each async call with the column
    name it adds to its input's."""
    names = iter(_strings(m, "async_expr_names"))
    first = True
    yield "AsyncFuncExec: async_expr=["
    for e in children(m, 2, "PhysicalExprNode"):
        yield "" if first else ", "
        first = False
        yield f"async_expr(name={next(names, '')}, expr="
        yield physical_gen(e)
        yield ")"
    yield "]"


def buffer_line(m: Msg) -> Gen:
    yield f"BufferExec: capacity={singles(m).get('capacity', 0)}"


def scalar_subquery_line(m: Msg) -> Gen:
    """``ScalarSubqueryExec: subqueries=1``: its input first, then one child per subquery."""
    yield f"ScalarSubqueryExec: subqueries={sum(1 for f in m.fields() if f.name == 'subqueries')}"


def analyze_line(m: Msg) -> Gen:
    yield f"AnalyzeExec verbose={'true' if singles(m).get('verbose') else 'false'}"


def _fixed(text: str) -> Callable[[Msg], Gen]:
    def line(_m: Msg) -> Gen:
        yield text

    return line


#: arm of PhysicalPlanNode -> the node's display line
LINES: dict[str, Callable[[Msg], Gen]] = {
    "projection": projection_line, "memory_scan": memory_line, "aggregate": aggregate_line, "sort": sort_line,
    "sort_preserving_merge": sort_preserving_merge_line, "filter": filter_line,
    "coalesce_batches": coalesce_batches_line, "merge": merge_line, "repartition": repartition_line,
    "global_limit": global_limit_line, "local_limit": local_limit_line,
    "placeholder_row": _fixed("PlaceholderRowExec"), "empty": _fixed("EmptyExec"), "union": _fixed("UnionExec"),
    "cross_join": _fixed("CrossJoinExec"), "cooperative": _fixed("CooperativeExec"),
    "interleave": _fixed("InterleaveExec"), "unnest": _fixed("UnnestExec"), "window": window_line,
    "generate_series": lazy_memory_line, "explain": _fixed("ExplainExec"), "analyze": analyze_line,
    "async_func": async_func_line, "buffer": buffer_line, "scalar_subquery": scalar_subquery_line, **JOIN_LINES,
    **{arm: sink_line(name) for arm, name in SINK_NAMES.items()}, **SCAN_LINES,
}  # fmt: skip
