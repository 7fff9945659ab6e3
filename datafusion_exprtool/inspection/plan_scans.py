"""The scans a plan names, read from its bytes: which table, which files, which columns it reads.

A serialized plan carries its data sources with it (fact sheet §4.2): a logical ``ListingTableScanNode``
holds the table's name, its ``file://`` or object-store URLs, the table schema and (once optimized) the
projected columns; a physical file scan's ``FileScanExecConf`` holds the object store, the files split into
file groups (one per partition), the schema and the projection. A memory table's rows travel inside the
physical plan; a custom table's provider is opaque codec bytes. ``plan_scans`` lists them all, in the order
the plan tree holds them, for ``check`` (do the files exist here, do they hold the columns) and ``eval``
(replay, ``--table`` rebinding, ``--partition``). Nothing is decoded with datafusion and no file is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, iter_raw
from datafusion_exprtool.model import UNRESOLVED_ID, Finding
from datafusion_exprtool.text.canonical import singles, table_reference
from datafusion_exprtool.text.engine import children

#: logical scan node -> the kind of source it reads
LOGICAL_SCANS = {
    "ListingTableScanNode": "files",
    "CustomTableScanNode": "custom",
    "ValuesNode": "values",
}
#: physical scan arm of PhysicalPlanNode -> file format (the arms whose node holds a FileScanExecConf)
PHYSICAL_FILE_SCANS = {
    "parquet_scan": "parquet", "csv_scan": "csv", "json_scan": "json", "avro_scan": "avro", "arrow_scan": "arrow",
}  # fmt: skip
#: a listing table's format oneof arm -> file format
LISTING_FORMATS = {"parquet": "parquet", "csv": "csv", "json": "json", "avro": "avro", "arrow": "arrow"}
#: the file stores ``check`` and ``eval`` can look at themselves; any other scheme needs the worker's store
LOCAL_SCHEMES = ("file", "")


@dataclass
class PlanScan:
    """One data source of a plan, as its bytes name it."""

    index: int  # position among the plan's scans, in tree order (0 = the first one met from the root)
    node: str  # ListingTableScanNode, ParquetScanExecNode, MemoryScanExecNode, CustomTableScanNode, ...
    source: str  # "files" | "memory" (rows inside the plan) | "values" | "custom" (an extension codec's provider)
    physical: bool
    offset: int  # absolute offset of the scan node's body
    format: str = ""  # parquet | csv | json | avro | arrow for file scans
    extension: str = ""  # logical: the file extension a directory's listing keeps (``.parquet``)
    table: str | None = None  # logical: the table reference (``t``, ``?table?`` for ctx.read_parquet)
    locations: list[str] = field(default_factory=list)  # every URL the scan names, as written (logical: paths)
    groups: list[list[str]] = field(default_factory=list)  # physical: the file URLs of each file group
    store: str = ""  # the object store URL (``file:///``, ``s3://bucket``)
    schema: list[str] = field(default_factory=list)  # the table schema's column names
    projected: list[str] = field(default_factory=list)  # the columns the scan reads
    projection_given: bool = False  # False: the plan reads every column (an unoptimized logical plan)
    partition_cols: list[str] = field(default_factory=list)
    partitioned_by_file_group: bool = False  # physical: output partitioning follows the file groups
    ranged: bool = False  # physical: a file is split into byte ranges across groups
    sizes: dict[str, int] = field(default_factory=dict)  # physical: file URL -> the size the plan recorded
    #: physical: (offset, index) of each column of the projection past the schema (``unresolved_columns``)
    unresolved: list[tuple[int, int]] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        """Every URL the scan reads (physical: the files of all groups; logical: its paths)."""
        return [f for group in self.groups for f in group] if self.physical else list(self.locations)

    @property
    def local(self) -> bool:
        """The scan reads the local filesystem (``file://``), which check and eval can look at."""
        return all(urlsplit(url).scheme in LOCAL_SCHEMES for url in self.files)

    @property
    def names(self) -> list[str]:
        """The names ``eval --table NAME=PATH`` knows the scan by (besides a glob over its paths): its table,
        a listed directory's name, its files' directories' names, its files' names and stems."""
        import os

        paths = [(local_path(url) or url).rstrip("/") for url in self.files]
        names = [self.table] if self.table else []
        if not self.physical:  # a listing of a directory: the directory's own name first
            names += [os.path.basename(p) for p in paths]
        names += [os.path.basename(os.path.dirname(p)) for p in paths]
        for path in paths:
            base = os.path.basename(path)
            names += [base, base.split(".")[0]]
        return [n for n in dict.fromkeys(names) if n]

    @property
    def label(self) -> str:
        """How messages name the scan: ``scan 0 (table t, parquet)``."""
        what = f"table {self.table}" if self.table else ""
        kind = {"memory": "memory table", "values": "VALUES", "custom": "custom provider"}.get(self.source, self.format)
        return f"scan {self.index} ({', '.join(p for p in (what, kind) if p)})"


def local_path(url: str) -> str | None:
    """The filesystem path of a ``file://`` URL (percent-decoded, as datafusion's ListingTableUrl writes
    it); None for another store."""
    parts = urlsplit(url)
    if parts.scheme not in LOCAL_SCHEMES:
        return None
    return unquote(parts.path) if parts.scheme else url


def store_of(url: str) -> str:
    """``s3://bucket`` of ``s3://bucket/key``; ``file:///`` for a local path."""
    parts = urlsplit(url)
    return "file:///" if parts.scheme in LOCAL_SCHEMES else f"{parts.scheme}://{parts.netloc}"


def _schema_names(schema: object) -> list[str]:
    if not isinstance(schema, Msg):
        return []
    return [str(singles(f).get("name", "")) for f in children(schema, 1, "Field")]


def _columns_in(msg: Msg) -> list[str]:
    """Names of every Column / PhysicalColumn under ``msg`` (iterative), first-seen order.

    A dynamic filter reads the columns of its ``remapped_children`` (the scan's own, when it was pushed through a
    projection), else of its ``children``: its predicate and original children name the producer's columns (a
    join's ``t.a + Int64(1)``), which the scan's file need not hold."""
    out: list[str] = []
    stack = [msg]
    while stack:
        m = stack.pop()
        if m.type in ("Column", "PhysicalColumn"):
            name = singles(m).get("name")
            if isinstance(name, str) and name not in out:
                out.append(name)
            continue
        fields = [f for f in m.fields() if isinstance(f.value, Msg) and f.value.type in MESSAGES]
        if m.type == "PhysicalDynamicFilterNode":
            remapped = [f for f in fields if f.name == "remapped_children"]
            fields = remapped or [f for f in fields if f.name == "children"]
        stack.extend(reversed([f.value for f in fields]))
    return out


def _column_indices(msg: Msg) -> list[tuple[int, int, str]]:
    """(offset, index, name) of every PhysicalColumn under ``msg``."""
    out: list[tuple[int, int, str]] = []
    stack = [msg]
    while stack:
        m = stack.pop()
        if m.type == "PhysicalColumn":
            d = singles(m)
            index, name = d.get("index", 0), d.get("name", "")
            out.append((m.offset, index if isinstance(index, int) else 0, name if isinstance(name, str) else ""))
            continue
        stack.extend(reversed([f.value for f in m.fields() if isinstance(f.value, Msg) and f.value.type in MESSAGES]))
    return out


def unresolved_columns(root: Msg) -> list[Finding]:
    """Physical file scans whose projection names a column past the scan's schema (its file columns and
    partition columns): datafusion's from_proto refuses the plan. A virtual column is the case met: a plan using
    ``file_row_index()`` projects ``__datafusion_file_row_index@N``, N the schema's length, and the schema in the
    bytes does not hold it (measured with datafusion 55: every such plan is refused on decode)."""
    out = []
    for scan in plan_scans(root):
        length = len(scan.schema) + len(scan.partition_cols)
        for offset, index in scan.unresolved:
            text = (f"Internal error: Column index {index} out of bounds for projected expressions of length "
                    f"{length}.")  # fmt: skip
            out.append(Finding(id=UNRESOLVED_ID, severity="error", layer="protobuf", offset=offset,
                               datafusion_text=text))  # fmt: skip
    return out


def _listing(m: Msg, index: int) -> PlanScan:
    d = singles(m)
    schema = _schema_names(d.get("schema"))
    projection = d.get("projection")
    given = isinstance(projection, Msg)
    projected = [f.value for f in projection.fields() if f.name == "columns"] if given else []
    partition_cols = [str(singles(p).get("name", "")) for p in children(m, 7, "PartitionColumn")]
    filters = [c for f in children(m, 6, "LogicalExprNode") for c in _columns_in(f)]
    reads = projected if given else [c for c in schema if c not in partition_cols]
    reads += [c for c in filters if c not in reads and c not in partition_cols]
    fmt = next((LISTING_FORMATS[f.name] for f in m.fields() if f.name in LISTING_FORMATS), "")
    paths = [f.value for f in m.fields() if f.name == "paths"]
    table = d.get("table_name")
    return PlanScan(
        index=index, node=m.type, source="files", physical=False, offset=m.offset, format=fmt,
        extension=str(d.get("file_extension", "")),
        table=table_reference(table) if isinstance(table, Msg) else None, locations=paths,
        store=store_of(paths[0]) if paths else "", schema=schema, projected=reads, projection_given=given,
        partition_cols=partition_cols,
    )  # fmt: skip


def file_scan_conf(node: Msg) -> Msg | None:
    """The FileScanExecConf (field 1, ``base_conf``) of a physical file scan node, also of the Avro and
    Arrow scan nodes the tables do not expand."""
    for number, wire, a, b, _tag in iter_raw(node.buf, node.start, node.end):
        if number == 1 and wire == LEN:
            return Msg("FileScanExecConf", node.buf, a, b, node.origin)
    return None


def _file_scan(node: Msg, fmt: str, index: int) -> PlanScan:
    conf = file_scan_conf(node)
    scan = PlanScan(index=index, node=node.type, source="files", physical=True, offset=node.offset, format=fmt)
    if conf is None:
        return scan
    d = singles(conf)
    store = str(d.get("object_store_url", "")) or "file:///"
    scan.store = store.rstrip("/") if store != "file:///" else store
    for group in children(conf, 1, "FileGroup"):
        urls = []
        for f in children(group, 1, "PartitionedFile"):
            fd = singles(f)
            path = str(fd.get("path", ""))
            path = path.lstrip("/")  # an object-store path: relative to the store, not percent-encoded
            urls.append("file:///" + quote(path) if scan.store == "file:///" else f"{scan.store}/{path}")
            if "size" in fd:
                scan.sizes[urls[-1]] = int(fd["size"])
            scan.ranged = scan.ranged or isinstance(fd.get("range"), Msg)
        scan.groups.append(urls)
    scan.locations = scan.files
    scan.schema = _schema_names(d.get("schema"))
    scan.partition_cols = [f.value for f in conf.fields() if f.name == "table_partition_cols"]
    scan.partitioned_by_file_group = bool(d.get("partitioned_by_file_group"))
    names = scan.schema + scan.partition_cols
    exprs = d.get("projection_exprs")
    if isinstance(exprs, Msg):
        scan.projection_given = True
        past = [(at, i, name) for at, i, name in _column_indices(exprs) if i >= len(names)]
        scan.unresolved = [(at, i) for at, i, _name in past]
        virtual = {name for _at, _i, name in past if name not in names}  # not a file's column
        scan.projected = [c for c in _columns_in(exprs) if c not in virtual]
    else:
        indices = [f.value for f in conf.fields() if f.name == "projection"]
        scan.projection_given = bool(indices)
        scan.projected = [names[i] for i in indices if i < len(names)] if indices else list(scan.schema)
    predicate = singles(node).get("predicate") if node.type in MESSAGES else None
    if isinstance(predicate, Msg):
        scan.projected += [c for c in _columns_in(predicate) if c not in scan.projected]
    scan.projected = [c for c in scan.projected if c not in scan.partition_cols]
    return scan


def plan_scans(root: Msg) -> list[PlanScan]:
    """Every scan of the plan ``root`` (a LogicalPlanNode or PhysicalPlanNode view), in tree order
    (pre-order, inputs left to right); scans inside subqueries and views included."""
    scans: list[PlanScan] = []
    stack = [root]
    while stack:
        m = stack.pop()
        if m.type == "PhysicalPlanNode":
            arm = next(((f.name, f.value) for f in m.fields() if f.name in PHYSICAL_FILE_SCANS), None)
            if arm is not None and isinstance(arm[1], Msg):  # avro / arrow: a view of a type the tables lack
                scans.append(_file_scan(arm[1], PHYSICAL_FILE_SCANS[arm[0]], len(scans)))
                continue
        elif m.type == "MemoryScanExecNode":
            d = singles(m)
            schema = _schema_names(d.get("schema"))
            scans.append(
                PlanScan(index=len(scans), node=m.type, source="memory", physical=True, offset=m.offset,
                         schema=schema, projected=schema)  # fmt: skip
            )
            continue
        elif m.type == "ListingTableScanNode":
            scans.append(_listing(m, len(scans)))
            continue
        elif m.type in LOGICAL_SCANS:
            d = singles(m)
            table = d.get("table_name")
            scans.append(
                PlanScan(index=len(scans), node=m.type, source=LOGICAL_SCANS[m.type], physical=False,
                         offset=m.offset, table=table_reference(table) if isinstance(table, Msg) else None,
                         schema=_schema_names(d.get("schema")))  # fmt: skip
            )
            if m.type != "ValuesNode":
                continue
        elif m.type == "PhysicalExtensionNode":
            scans.append(PlanScan(index=len(scans), node=m.type, source="custom", physical=True, offset=m.offset))
        stack.extend(reversed([f.value for f in m.fields() if isinstance(f.value, Msg) and f.value.type in _HOLDERS]))
    return scans


def waiting_joins(root: Msg) -> list[int]:
    """Offsets of the physical hash joins that carry a dynamic filter (``HashJoinExecNode.dynamic_filter``):
    executed one partition at a time they wait for every partition's build side (datafusion 55)."""
    out: list[int] = []
    stack = [root]
    while stack:
        m = stack.pop()
        if m.type == "HashJoinExecNode" and "dynamic_filter" in singles(m):
            out.append(m.offset)
        stack.extend(reversed([f.value for f in m.fields() if isinstance(f.value, Msg) and f.value.type in _HOLDERS]))
    return out


def _holders() -> frozenset[str]:
    """Message types that are or can contain a plan node, and the scan nodes: the walk enters no other
    (schemas, statistics, options and literals cannot hold a scan)."""
    from datafusion_exprtool.layers.proto.splice import holders

    scans = {*LOGICAL_SCANS, "MemoryScanExecNode", "PhysicalExtensionNode"}
    return holders({"LogicalPlanNode", "PhysicalPlanNode"}) | scans


_HOLDERS = _holders()
