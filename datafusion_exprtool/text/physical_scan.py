"""File scans (Parquet, CSV, JSON, Arrow, Avro) as ``display_indent()`` shows them: ``DataSourceExec:
file_groups={1 group: [[path]]}, projection=[a, b], file_type=parquet``, from the node's ``FileScanExecConf``.

A Parquet scan whose predicate holds a dynamic filter adds ``dynamic_rg_pruning=eligible`` (text/dynamic_filter.py).

Left out, because datafusion derives it at planning time from what the bytes lack: a Parquet scan's
``pruning_predicate`` and ``required_guarantees`` (built from the predicate and the file schema's statistics
columns), ``constraints``, and the sort pushdown's ``sort_order_for_reorder=[…]`` and ``reverse_row_groups=true``
(set by the planner's sort pushdown under a TopK sort when ``datafusion.optimizer.enable_sort_pushdown`` is on, a
setting the bytes do not hold; datafusion 55 does not serialize them: a decoded plan shows neither).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.canonical import singles
from datafusion_exprtool.text.dynamic_filter import holds_dynamic_filter
from datafusion_exprtool.text.engine import Gen, children, render_with
from datafusion_exprtool.text.physical_expr import physical_gen, physical_sort_gen

#: datafusion's Default display shows at most this many file groups, and files per group, then ``...``
SHOWN = 5


def _up_to(items: Iterator[str], n: int = SHOWN) -> str:
    shown: list[str] = []
    for i, item in enumerate(items):
        if i == n:
            shown.append("...")
            break
        shown.append(item)
    return ", ".join(shown)


def _file_text(f: Msg) -> str:
    d = singles(f)
    text = str(d.get("path", ""))
    rng = d.get("range")
    if isinstance(rng, Msg):
        r = singles(rng)
        text += f":{r.get('start', 0)}..{r.get('end', 0)}"
    return text


def file_list_text(files: Iterator[Msg]) -> str:
    """``a, b, …`` of PartitionedFile messages, as datafusion's FileGroupDisplay shows one group."""
    return _up_to(_file_text(f) for f in files)


def file_groups_text(conf: Msg) -> str:
    """``{2 groups: [[a, b], [c]]}``"""
    groups = list(children(conf, 1, "FileGroup"))
    inner = _up_to("[" + file_list_text(children(g, 1, "PartitionedFile")) + "]" for g in groups)
    return f"{{{len(groups)} {'group' if len(groups) == 1 else 'groups'}: [{inner}]}}"


def _projection(conf: Msg) -> list[str]:
    exprs = singles(conf).get("projection_exprs")
    if isinstance(exprs, Msg):  # datafusion 55: what the scan computes, a column under its own name shown bare
        items = []
        for p in children(exprs, 1, "ProjectionExpr"):
            d = singles(p)
            text = render_with(physical_gen, d["expr"]) if "expr" in d else "?"
            alias = str(d.get("alias", ""))
            bare = alias and text == f"{alias}@{text.rpartition('@')[2]}"
            items.append(alias if bare else (f"{text} as {alias}" if alias else text))
        return items
    schema = singles(conf).get("schema")
    names = [str(singles(f).get("name", "")) for f in children(schema, 1, "Field")] if isinstance(schema, Msg) else []
    names += [f.value for f in conf.fields() if f.name == "table_partition_cols"]
    indices = [f.value for f in conf.fields() if f.name == "projection"]
    return [names[i] if i < len(names) else "?" for i in indices] if indices else names


def _sort_key(node: Msg, projection: list[str]) -> str | None:
    """A scan ordering's sort expression over the projected columns (``a@0 ASC``), None when its column is
    not projected; datafusion keeps an ordering up to its first column the projection drops."""
    d = singles(node)
    col = singles(d["expr"]).get("column") if "expr" in d else None
    if not isinstance(col, Msg):
        return render_with(physical_sort_gen, node)
    name = str(singles(col).get("name", ""))
    if name not in projection:
        return None
    opts = (" ASC" if d.get("asc") else " DESC") + ("" if d.get("nulls_first") else " NULLS LAST")
    return f"{name}@{projection.index(name)}{opts}"


def _orderings(conf: Msg, projection: list[str]) -> str:
    kept = []
    for o in children(conf, 9, "PhysicalSortExprNodeCollection"):
        keys = []
        for node in children(o, 1, "PhysicalSortExprNode"):
            key = _sort_key(node, projection)
            if key is None:
                break
            keys.append(key)
        if keys:
            kept.append(f"[{', '.join(keys)}]")
    if not kept:
        return ""
    return f", output_ordering={kept[0]}" if len(kept) == 1 else f", output_orderings=[{', '.join(kept)}]"


def scan_line(file_type: str) -> Callable[[Msg], Gen]:
    def line(m: Msg) -> Gen:
        d = singles(m)
        conf = d.get("base_conf")
        if not isinstance(conf, Msg):
            yield f"DataSourceExec: file_type={file_type}"
            return
        yield f"DataSourceExec: file_groups={file_groups_text(conf)}"
        projection = _projection(conf)
        if projection:
            yield f", projection=[{', '.join(projection)}]"
        limit = singles(conf).get("limit")
        if isinstance(limit, Msg):
            yield f", limit={singles(limit).get('limit', 0)}"
        yield _orderings(conf, projection)
        yield f", file_type={file_type}"
        if file_type == "csv":
            yield f", has_header={'true' if d.get('has_header') else 'false'}"
        if "predicate" in d:
            yield ", predicate="
            yield physical_gen(d["predicate"])
            if file_type == "parquet" and holds_dynamic_filter(d["predicate"]):
                yield ", dynamic_rg_pruning=eligible"

    return line


SCAN_LINES: dict[str, Callable[[Msg], Gen]] = {
    "parquet_scan": scan_line("parquet"), "csv_scan": scan_line("csv"), "json_scan": scan_line("json"),
    "arrow_scan": scan_line("arrow"), "avro_scan": scan_line("avro"),
}  # fmt: skip
