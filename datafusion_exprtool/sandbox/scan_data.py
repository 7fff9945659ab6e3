"""The data a plan's scans name, as this machine has it: which files exist, what their Parquet footers hold.

A plan decodes fine whatever its files have become; what happens next depends on the plan (measured with
datafusion 55.0.0, ``tests/reports/test_check_plans.py``): a logical plan whose file is gone (or whose
directory holds no file) returns **0 rows with no error**, the physical plan fails at execution with an
object-store "not found" error, and a file that lacks a column the scan reads gives that column as nulls,
silently. ``data_problems`` finds each of these before anything runs, reading only directory listings and
Parquet footers, for ``check`` (as findings) and ``eval`` (as a refusal). Object-store URLs (``s3://``…)
cannot be looked at from here: they are listed with the store the worker context must register.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the plan reader loads the text renderers: eval of an expression never needs it
    from datafusion_exprtool.inspection.plan_scans import PlanScan


#: datafusion 55 reading a Parquet file at the size a physical plan recorded, once the file grew / shrank
GROWN_TEXT = "Invalid Parquet file. Corrupt footer"
SHRUNK_TEXT = "Requested range was invalid"


@dataclass
class DataProblem:
    """One thing about a scan's data that makes the replay differ from the run the plan was made for."""

    kind: str  # "missing" | "empty-directory" | "changed" | "columns-missing" | "unreadable" | "object-store"
    scan: PlanScan
    location: str  # the local path, or the URL for an object store
    columns: list[str] = field(default_factory=list)  # columns-missing: what the scan reads that the file lacks
    has: list[str] = field(default_factory=list)  # columns-missing: the columns the file has
    detail: str = ""  # unreadable: the reader's words
    sizes: tuple[int, int] = (0, 0)  # changed: (the size the physical plan recorded, the file's size now)

    @property
    def severity(self) -> str:
        return "info" if self.kind == "object-store" else "error"

    @property
    def datafusion_text(self) -> str:
        """What datafusion raises for it; empty when it raises nothing (the trap)."""
        from datafusion_exprtool.catalog import CATALOG
        from datafusion_exprtool.catalog.entry import render

        if self.kind == "missing" and self.scan.physical:
            return render(CATALOG["plan-file-missing"].datafusion_text, {"path": self.location})
        if self.kind == "changed":
            grown = self.sizes[1] > self.sizes[0]
            return GROWN_TEXT if grown else SHRUNK_TEXT
        return ""

    @property
    def consequence(self) -> str:
        """What datafusion 55 does with it, as measured (``tests/reports/test_check_plans.py``)."""
        if self.kind == "missing" and self.scan.physical:
            return f"executing the plan fails: {self.datafusion_text}"
        if self.kind in ("missing", "empty-directory"):
            return "datafusion decodes the plan and returns 0 rows with no error"
        if self.kind == "changed":
            return f"datafusion looks for the Parquet footer at the recorded size and fails: {self.datafusion_text}"
        if self.kind == "columns-missing":
            return "datafusion reads the missing columns as nulls, with no error"
        if self.kind == "unreadable":
            return f"datafusion cannot read it as Parquet ({self.detail})"
        return f"the worker context must register an object store for {self.scan.store}"

    @property
    def what(self) -> str:
        """The problem in a few words: ``/data/x.parquet does not exist``."""
        return {
            "missing": f"{self.location} does not exist",
            "empty-directory": f"the directory {self.location} holds no *{self.scan.extension} file",
            "changed": f"{self.location} is {self.sizes[1]} bytes, the plan recorded {self.sizes[0]}",
            "columns-missing": f"{self.location} lacks {', '.join(self.columns)} (it has {', '.join(self.has) or 'no column'})",
            "unreadable": f"{self.location} is not a readable Parquet file",
            "object-store": f"it reads {self.location} from the object store {self.scan.store}",
        }[self.kind]


def parquet_metadata(path: str) -> Any:
    """``pyarrow.parquet.read_metadata(path)`` without importing ``pyarrow.parquet``.

    That module imports ``pyarrow.fs`` (and ssl): ~13 ms of an eval whose whole fixed cost is ~0.15 s, for
    a footer read. ``ParquetFile`` reads it with this same reader; the public call is the fallback.
    """
    try:
        from pyarrow._parquet import ParquetReader
    except ImportError:  # pragma: no cover - another pyarrow layout
        import pyarrow.parquet as pq

        return pq.read_metadata(path)
    reader = ParquetReader()
    reader.open(path)
    return reader.metadata


def footer_columns(path: str) -> list[str]:
    """The top-level column names a Parquet file's footer declares (its Arrow schema)."""
    return list(parquet_metadata(path).schema.to_arrow_schema().names)


def listed_files(directory: str, extension: str, recursive: bool = False) -> list[str]:
    """The files in ``directory`` ending with ``extension``, sorted, as datafusion 55's listing finds them:
    its top level only (``listing_table_ignore_subdirectory`` defaults to true), every level below for a
    table with partition columns (``year=2024/…``). Measured: ``_x.parquet`` and ``.x.parquet`` are read."""
    if not recursive:
        names = sorted(os.listdir(directory))
        return [os.path.join(directory, n) for n in names if n.endswith(extension) and os.path.isfile(os.path.join(directory, n))]
    found = []
    for top, dirs, files in os.walk(directory):
        dirs.sort()
        found += [os.path.join(top, f) for f in files if f.endswith(extension)]
    return sorted(found)


def scan_paths(scan: PlanScan, extension: str | None = None) -> tuple[list[str], list[DataProblem]]:
    """(the local files the scan reads, the problems found on the way): missing paths, directories with no
    file, object stores. A logical path ending in ``/`` is a directory datafusion lists."""
    from datafusion_exprtool.inspection.plan_scans import local_path

    files: list[str] = []
    problems: list[DataProblem] = []
    stores: set[str] = set()
    ext = extension if extension is not None else scan.extension
    for url in scan.files:
        path = local_path(url)
        if path is None:
            if scan.store not in stores:
                stores.add(scan.store)
                problems.append(DataProblem("object-store", scan, url))
            continue
        if os.path.isdir(path):
            inside = listed_files(path, ext, recursive=bool(scan.partition_cols))
            if not inside:
                problems.append(DataProblem("empty-directory", scan, path))
            files += inside
        elif os.path.isfile(path):
            files.append(path)
            recorded = scan.sizes.get(url)
            if recorded is not None and os.path.getsize(path) != recorded:
                problems.append(DataProblem("changed", scan, path, sizes=(recorded, os.path.getsize(path))))
        else:
            problems.append(DataProblem("missing", scan, path))
    return files, problems


def column_problems(scan: PlanScan, files: list[str]) -> list[DataProblem]:
    """Parquet files that lack a column the scan reads (their footers only), or cannot be read as Parquet."""
    if scan.format != "parquet":
        return []
    problems = []
    for path in files:
        try:
            names = footer_columns(path)
        except Exception as exc:  # pyarrow's reader: not Parquet, cut short, unreadable
            problems.append(DataProblem("unreadable", scan, path, detail=" ".join(str(exc).split())))
            continue
        lacking = [c for c in scan.projected if c not in names]
        if lacking:
            problems.append(DataProblem("columns-missing", scan, path, columns=lacking, has=names))
    return problems


def data_problems(scans: list[PlanScan]) -> list[DataProblem]:
    """Every problem of every file scan's data on this machine, scan by scan."""
    out: list[DataProblem] = []
    for scan in scans:
        if scan.source != "files":
            continue
        files, problems = scan_paths(scan)
        out += problems
        out += column_problems(scan, files)
    return out
