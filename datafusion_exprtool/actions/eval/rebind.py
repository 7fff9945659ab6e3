"""``--table NAME=PATH``: point a plan's scans at other data by rewriting the blob before it is decoded.

datafusion-python 55 has no call that swaps a decoded plan's table, and a plan carries its data source
with it (``inspection/plan_scans``), so the rebinding happens in the bytes (``layers/proto/splice``):

* a logical ``ListingTableScanNode`` gets the new files' ``file://`` URLs (or the one directory's) as its
  ``paths``; its table schema, projection, filters and format options stay as they were;
* a physical file scan's ``FileScanExecConf`` gets new file groups (as many as it had: the plan's
  partitioning does not change; the files in path order, split into contiguous runs), each file with its
  size and modification time (the Parquet reader finds the footer by the size), ``file:///`` as its
  store, and unknown statistics in place of the old files' (datafusion requires the field).

A scan answers to a NAME that is its table's name (logical), or that names its files: a file's name or
stem, its directory's name, or a glob over the path. The new files must hold every column the scan reads:
datafusion would read a missing one as nulls (measured), so that is refused with the columns named.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.wire import LEN, encode_len_field, encode_varint, iter_raw
from datafusion_exprtool.sandbox.failure import fail

if TYPE_CHECKING:  # the plan reader loads the text renderers: parsing --table at start-up must not
    from datafusion_exprtool.inspection.plan_scans import PlanScan

_LISTING_PATHS = 2  # ListingTableScanNode.paths
_CONF_GROUPS, _CONF_SCHEMA, _CONF_STATS, _CONF_STORE = 1, 2, 6, 8  # FileScanExecConf fields
_GROUP_FILES = 1  # FileGroup.files
_FILE_PATH, _FILE_SIZE, _FILE_MTIME = 1, 2, 3  # PartitionedFile fields
_STATS_COLUMNS = 3  # Statistics.column_stats
_SCHEMA_COLUMNS = 1  # Schema.columns
_FILE_SCAN_NODES = frozenset({"ParquetScanExecNode", "CsvScanExecNode", "JsonScanExecNode"})


@dataclass
class TableBinding:
    """One ``--table NAME=PATH``: the name and the Parquet files PATH stands for."""

    name: str
    spec: str  # PATH as given
    files: list[str]  # absolute paths of the Parquet files
    directory: str | None = None  # PATH is one directory: a logical scan lists it itself
    given_as: str = ""  # how the user said it: "--table NAME" (default) or "DATA"

    @property
    def option(self) -> str:
        return self.given_as or f"--table {self.name}"


@dataclass
class Rebinding:
    """A scan and the data it reads instead."""

    scan: PlanScan
    binding: TableBinding


def parse_tables(items: list[str]) -> list[tuple[str, str]]:
    """``--table NAME=PATH`` (repeatable) -> [(NAME, PATH)], in order."""
    out = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise fail(
                "input",
                f"--table {item!r} is not NAME=PATH",
                exit_code=ExitCode.USAGE,
                hint="e.g. --table orders=sample/orders.parquet (a file, a directory or a glob)",
            )
        out.append((name.strip(), path.strip()))
    return out


def matches(scan: PlanScan, name: str) -> bool:
    from datafusion_exprtool.inspection.plan_scans import local_path

    if scan.table and (name == scan.table or name == scan.table.rsplit(".", 1)[-1]):
        return True
    if name in scan.names:
        return True
    return any(fnmatch.fnmatchcase((local_path(url) or url).rstrip("/"), name) for url in scan.files)


def _describe(scans: list[PlanScan]) -> str:
    parts = []
    for scan in scans:
        names, why = scan.names, _refusal(scan)
        if why is not None:
            parts.append(f"{scan.label}: cannot be rebound: {why}")
        else:
            parts.append(f"{scan.label}" + (f": answers to {', '.join(names[:4])}" if names else ""))
    return "; ".join(parts) or "the plan has no scans"


def _refusal(scan: PlanScan) -> str | None:
    """Why a scan cannot read other data, or None."""
    said = _refusal_and_fix(scan)
    return said[0] if said else None


def _refusal_and_fix(scan: PlanScan) -> tuple[str, str] | None:
    """(why a scan cannot read other data, what to do instead), or None."""
    if scan.source in ("memory", "values"):
        why = ("its rows travel inside the plan (a memory table): there is no file to replace" if scan.source == "memory"
               else "its rows are literal VALUES inside the plan")  # fmt: skip
        return why, "drop this --table: the plan replays its own rows"
    if scan.source == "custom":
        return (
            "its table provider is an extension codec's bytes, opaque to exprtool",
            "drop this --table; the worker context that installs the codec (--worker-ctx) decides what it reads",
        )
    if scan.format != "parquet":
        return (
            f"it reads {scan.format or 'an unknown format'}; exprtool rebinds Parquet scans only",
            "drop this --table and put the data at the path the plan names, or ship a plan over Parquet data",
        )
    if scan.physical and (scan.partition_cols or scan.partitioned_by_file_group):
        return (
            "its files carry partition values (" + ", ".join(scan.partition_cols or ["by file group"]) + ") "
            "decided when the plan was made: rebind the logical plan instead",
            "ship the logical plan (`df.logical_plan().to_bytes()`) and rebind that one with --table",
        )
    return None


def bind(scans: list[PlanScan], bindings: list[TableBinding]) -> list[Rebinding]:
    """The scans each binding names, refused (usage errors) when none does, when one is named twice, when a
    scan cannot be rebound, or when the new files lack a column the scan reads."""
    out: list[Rebinding] = []
    taken: dict[int, str] = {}
    for binding in bindings:
        found = [s for s in scans if matches(s, binding.name)]
        if not found:
            raise fail(
                "input",
                f"--table {binding.name}: no scan of the plan answers to {binding.name!r} ({_describe(scans)})",
                exit_code=ExitCode.USAGE,
                hint="name a scan by its table (logical plans), a file or directory name it reads, or a glob "
                "over its paths",
            )
        for scan in found:
            refused = _refusal_and_fix(scan)
            if refused is not None:
                raise fail(
                    "input", f"{binding.option}: {scan.label} cannot be rebound: {refused[0]}",
                    exit_code=ExitCode.USAGE, hint=refused[1],
                )  # fmt: skip
            if scan.index in taken:
                said = (f"{binding.option} is given twice" if taken[scan.index] == binding.option
                        else f"{binding.option} and {taken[scan.index]} both name {scan.label}")  # fmt: skip
                raise fail(
                    "input", said, exit_code=ExitCode.USAGE,
                    hint="one --table per scan: for several files give a directory or a glob",
                )  # fmt: skip
            taken[scan.index] = binding.option
            check_columns(scan, binding)
            out.append(Rebinding(scan, binding))
    return out


def check_columns(scan: PlanScan, binding: TableBinding) -> None:
    """Every new file holds every column the scan reads (Parquet footers only), else a usage error."""
    from datafusion_exprtool.sandbox.scan_data import column_problems

    for problem in column_problems(scan, binding.files):
        if problem.kind == "unreadable":
            raise fail(
                "input", f"{binding.option}: not a readable Parquet file: {problem.detail}",
                file=problem.location, exit_code=ExitCode.USAGE,
                hint="a scan is rebound to Parquet only: pass Parquet files, a directory of them or a quoted glob",
            )  # fmt: skip
        raise fail(
            "schema",
            f"{binding.option}: {problem.location} lacks column{'s' if len(problem.columns) > 1 else ''} "
            f"{', '.join(problem.columns)}, which {scan.label} reads ({reads_text(scan)}); "
            f"the file has {', '.join(problem.has) or 'no columns'}",
            file=problem.location,
            exit_code=ExitCode.USAGE,
            hint="pass data with those columns (datafusion would read a missing column as nulls, silently)",
        )


def reads_text(scan: PlanScan) -> str:
    """Which columns a scan reads, and why those."""
    if scan.projection_given:
        return f"its projection: {', '.join(scan.projected)}"
    return f"an unoptimized plan's scan reads every column of the table: {', '.join(scan.projected)}"


def rebound_scan(rebinding: Rebinding) -> PlanScan:
    """The scan as it reads after the rebinding (for summaries and the data checks)."""
    scan, binding = rebinding.scan, rebinding.binding
    urls = [_file_url(f) for f in binding.files]
    if scan.physical:
        return dataclasses.replace(scan, groups=_groups(urls, len(scan.groups)), locations=urls, store="file:///")
    if binding.directory:
        urls = [_file_url(binding.directory) + "/"]
    return dataclasses.replace(scan, locations=urls, store="file:///")


def _file_url(path: str) -> str:
    return "file://" + quote(os.path.abspath(path))


def _groups(items: list, count: int) -> list[list]:
    """``items`` in ``count`` contiguous runs (the later ones empty when there are fewer items)."""
    count = max(count, 1)
    size = -(-len(items) // count) if items else 0
    return [items[i * size : (i + 1) * size] for i in range(count)]


def _listing_body(node: Msg, urls: list[str]) -> bytes:
    out, written = bytearray(), False
    for number, _wire, _a, b, tag in iter_raw(node.buf, node.start, node.end):
        if number == _LISTING_PATHS:
            if not written:
                out += b"".join(encode_len_field(_LISTING_PATHS, u.encode()) for u in urls)
                written = True
            continue
        out += node.buf[tag:b]
    if not written:
        out += b"".join(encode_len_field(_LISTING_PATHS, u.encode()) for u in urls)
    return bytes(out)


def _partitioned_file(path: str) -> bytes:
    st = os.stat(path)
    return (
        encode_len_field(_FILE_PATH, os.path.abspath(path).lstrip("/").encode())
        + encode_varint(_FILE_SIZE << 3) + encode_varint(st.st_size)
        + encode_varint(_FILE_MTIME << 3) + encode_varint(st.st_mtime_ns)
    )  # fmt: skip


def _unknown_statistics(conf: Msg) -> bytes:
    """A Statistics with nothing known: one empty ColumnStats per column of the conf's schema."""
    columns = 0
    for number, wire, a, b, _tag in iter_raw(conf.buf, conf.start, conf.end):
        if number == _CONF_SCHEMA and wire == LEN:
            columns = sum(1 for n, *_rest in iter_raw(conf.buf, a, b) if n == _SCHEMA_COLUMNS)
    return b"".join(encode_len_field(_STATS_COLUMNS, b"") for _ in range(columns))


def _conf_body(conf: Msg, files: list[str], group_count: int) -> bytes:
    groups = _groups(files, group_count)
    new_groups = b"".join(
        encode_len_field(_CONF_GROUPS, b"".join(encode_len_field(_GROUP_FILES, _partitioned_file(f)) for f in g))
        for g in groups
    )
    out, written = bytearray(), False
    for number, _wire, _a, b, tag in iter_raw(conf.buf, conf.start, conf.end):
        if number == _CONF_GROUPS:
            if not written:
                out += new_groups
                written = True
        elif number == _CONF_STATS:
            out += encode_len_field(_CONF_STATS, _unknown_statistics(conf))
        elif number == _CONF_STORE:
            out += encode_len_field(_CONF_STORE, b"file:///")
        else:
            out += conf.buf[tag:b]
    return bytes(out if written else new_groups + out)


def _scan_node_body(node: Msg, files: list[str], group_count: int) -> bytes:
    from datafusion_exprtool.inspection.plan_scans import file_scan_conf

    out = bytearray()
    conf = file_scan_conf(node)
    for number, _wire, _a, b, tag in iter_raw(node.buf, node.start, node.end):
        if number == 1 and conf is not None:
            out += encode_len_field(1, _conf_body(conf, files, group_count))
        else:
            out += node.buf[tag:b]
    return bytes(out)


def rebind(data: bytes, message: str, rebindings: list[Rebinding], origin: int = 0) -> bytes:
    """``data`` (a plan whose bytes start at ``origin`` of the inspected input) with each rebinding's scan
    reading its new files."""
    from datafusion_exprtool.layers.proto.splice import holders, splice

    by_offset = {r.scan.offset - origin: r for r in rebindings}

    def swap(msg: Msg) -> bytes | None:
        r = by_offset.get(msg.start)
        if r is None or msg.type != r.scan.node:
            return None
        if r.scan.physical:
            return _scan_node_body(msg, r.binding.files, len(r.scan.groups))
        return _listing_body(msg, rebound_scan(r).locations)

    out, count = splice(data, message, swap, into=holders({"ListingTableScanNode", *_FILE_SCAN_NODES}))
    if count != len(by_offset):  # every scan was found by its offset: anything else is exprtool's bug
        raise fail("input", f"rebinding rewrote {count} of {len(by_offset)} scans", exit_code=ExitCode.UNDECODABLE)
    return out
