"""Result sinks: files written atomically, stdout writers, a preview, and the --expect comparer.

Every sink takes record batches one at a time and keeps at most one Parquet row group buffered, so memory
stays flat however large the result is. Files go to a temporary name in the target's directory and are
renamed over the target only when the whole result was written.

When nothing in Python needs to see the batches, ``write_parquet_direct`` lets datafusion write a Parquet
result itself (scan, compute and encode overlap on datafusion's threads), with the same atomic rename.
Both ways write the same Parquet settings (``PARQUET_COMPRESSION``, ``ROW_GROUP_ROWS``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, BinaryIO

from .failure import USAGE_EXIT, fail

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".arrow": "arrow",
    ".ipc": "arrow",
    ".feather": "arrow",
}
ROW_GROUP_ROWS = 1 << 20  # datafusion's max_row_group_size default too
ROW_GROUP_BYTES = 64 << 20
# datafusion-python 55's DataFrame.write_parquet default (Compression.ZSTD, its default level 4); the
# streaming writer uses it too, so an -o file does not depend on which path wrote it (was pyarrow's snappy)
PARQUET_COMPRESSION = ("zstd", 4)


def format_for(path: str, forced: str | None = None) -> str:
    if forced:
        return forced
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise fail(
            "write",
            f"cannot tell the output format of {path!r} from its extension",
            file=path,
            exit_code=USAGE_EXIT,
            hint="use .parquet, .csv, .json, .ndjson or .arrow",
        )
    return FORMATS[ext]


def temp_path_for(path: str) -> str:
    """A sibling temporary name (same filesystem, so the final rename is atomic)."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


def check_target(path: str, force: bool) -> None:
    """Refuse to replace an existing file without --force, before any work is done."""
    if os.path.exists(path) and not force:
        raise fail(
            "write", f"{path} exists", file=path, exit_code=USAGE_EXIT, hint="pass --force to replace it"
        )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise fail("write", f"directory {directory} does not exist", file=path, exit_code=USAGE_EXIT)


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


def _json_default(value: Any) -> Any:
    import base64
    import datetime
    import decimal

    if isinstance(value, (datetime.date, datetime.time, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


class Sink:
    """Base: ``write`` batches, then ``close`` once (or ``abort`` on failure)."""

    def write(self, batch: Any) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self, schema: Any) -> None:
        """``schema`` is the result schema, for sinks that saw no batch at all."""

    def abort(self) -> None:
        pass


class _StreamSink(Sink):
    """csv / json / ndjson / arrow / parquet onto an open binary stream."""

    def __init__(self, fmt: str, stream: BinaryIO):
        self.fmt, self.stream = fmt, stream
        self.writer: Any = None
        self.pending: list[Any] = []
        self.pending_rows = self.pending_bytes = 0
        self.first_json = True

    def _open(self, schema: Any) -> None:
        import pyarrow as pa

        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            codec, level = PARQUET_COMPRESSION
            self.writer = pq.ParquetWriter(self.stream, schema, compression=codec, compression_level=level)
        elif self.fmt == "csv":
            import pyarrow.csv as pcsv

            self.writer = pcsv.CSVWriter(self.stream, schema)
        elif self.fmt == "arrow":
            self.writer = pa.ipc.new_file(self.stream, schema)
        else:
            self.writer = self.fmt
            if self.fmt == "json":
                self.stream.write(b"[")

    def write(self, batch: Any) -> None:
        if self.writer is None:
            self._open(batch.schema)
        if self.fmt == "parquet":
            self.pending.append(batch)
            self.pending_rows += batch.num_rows
            self.pending_bytes += batch.nbytes
            if self.pending_rows >= ROW_GROUP_ROWS or self.pending_bytes >= ROW_GROUP_BYTES:
                self._flush()
        elif self.fmt in ("csv", "arrow"):
            self.writer.write_batch(batch)
        else:
            self._write_json(batch)

    def _flush(self) -> None:
        import pyarrow as pa

        if self.pending:
            table = pa.Table.from_batches(self.pending)
            self.pending, self.pending_rows, self.pending_bytes = [], 0, 0
            self.writer.write_table(table, row_group_size=max(table.num_rows, 1))

    def _write_json(self, batch: Any) -> None:
        import json  # here: the Parquet path does not need it at start-up

        dumps = json.dumps
        lines = []
        for row in batch.to_pylist():
            text = dumps(row, default=_json_default, ensure_ascii=False)
            if self.fmt == "json":
                text = ("\n" if self.first_json else ",\n") + text
                self.first_json = False
            lines.append(text)
        body = ("\n".join(lines) + "\n") if self.fmt == "ndjson" and lines else "".join(lines)
        self.stream.write(body.encode("utf-8"))

    def close(self, schema: Any) -> None:
        if self.writer is None:
            self._open(schema)
        if self.fmt == "parquet":
            self._flush()
        if self.fmt in ("parquet", "csv", "arrow"):
            self.writer.close()
        elif self.fmt == "json":
            self.stream.write(b"\n]\n" if not self.first_json else b"]\n")
        self.stream.flush()


class FileSink(Sink):
    """A file written under a temporary name and renamed over ``path`` on success only."""

    def __init__(self, path: str, fmt: str, temp: str | None = None):
        self.path, self.temp = path, temp or temp_path_for(path)
        self.handle = open(self.temp, "wb")  # noqa: SIM115 - closed in close/abort
        self.inner = _StreamSink(fmt, self.handle)

    def write(self, batch: Any) -> None:
        self.inner.write(batch)

    def close(self, schema: Any) -> None:
        try:
            self.inner.close(schema)
            self.handle.close()
            os.replace(self.temp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        try:
            self.handle.close()
        finally:
            if os.path.exists(self.temp):
                os.unlink(self.temp)


def _remove_partial(temp: str) -> None:
    """Remove ``temp`` and the object store's staging files beside it (``<temp>#<n>``).

    After an interrupt datafusion drops its upload in the background, so a staging file may vanish
    between the listing and the unlink: that is not an error.
    """
    directory, name = os.path.split(temp)
    for entry in os.listdir(directory or "."):
        if entry == name or entry.startswith(name + "#"):
            try:
                os.unlink(os.path.join(directory, entry))
            except FileNotFoundError:
                pass


def write_parquet_direct(df: Any, path: str, temp: str | None = None) -> int:
    """Execute ``df`` with datafusion's own Parquet writer into ``temp``, rename it over ``path``; rows written.

    One file whatever the path looks like (``single_file_output``); on any failure, interrupts included,
    the temporary file and datafusion's staging files are removed and the target is left as it was.
    """
    from datafusion import DataFrameWriteOptions

    temp = temp or temp_path_for(path)
    codec, level = PARQUET_COMPRESSION
    try:
        df.write_parquet(temp, codec, level, write_options=DataFrameWriteOptions(single_file_output=True))
        rows = parquet_metadata(temp).num_rows
        os.replace(temp, path)
    except BaseException:
        _remove_partial(temp)
        raise
    return rows


def stdout_sink(fmt: str, stream: BinaryIO) -> Sink:
    return _StreamSink(fmt, stream)


class PreviewSink(Sink):
    """Keeps the first ``maxrows`` rows for the terminal table."""

    def __init__(self, maxrows: int):
        self.maxrows = maxrows
        self.batches: list[Any] = []
        self.kept = 0
        self.schema: Any = None

    def write(self, batch: Any) -> None:
        if self.kept < self.maxrows:
            part = batch.slice(0, self.maxrows - self.kept)
            self.batches.append(part)
            self.kept += part.num_rows

    def close(self, schema: Any) -> None:
        self.schema = schema

    def table(self) -> Any:
        import pyarrow as pa

        return pa.Table.from_batches(self.batches, schema=self.schema) if self.schema is not None else None


class ExpectSink(Sink):
    """Compares the result, batch by batch, with a golden stream; remembers the first differing rows."""

    def __init__(self, golden: Iterator[Any], golden_schema: Any, max_diffs: int = 5):
        self.golden = golden
        self.golden_schema = golden_schema
        self.max_diffs = max_diffs
        self.buffer: Any = None  # unconsumed golden rows
        self.row = 0
        self.diffs: list[str] = []
        self.extra_result = 0
        self.checked_schema = False

    def _golden_rows(self, n: int) -> Any:
        """Up to ``n`` golden rows as one batch (fewer when the golden file ends)."""
        import pyarrow as pa

        parts, have = [], 0
        while have < n:
            if self.buffer is None or self.buffer.num_rows == 0:
                self.buffer = next(self.golden, None)
                if self.buffer is None:
                    break
            take = self.buffer.slice(0, n - have)
            self.buffer = self.buffer.slice(take.num_rows)
            parts.append(take)
            have += take.num_rows
        if not parts:
            return None
        return pa.Table.from_batches(parts).combine_chunks().to_batches()[0] if len(parts) > 1 else parts[0]

    def _check_schema(self, schema: Any) -> None:
        self.checked_schema = True
        got = [(f.name, str(f.type)) for f in schema]
        want = [(f.name, str(f.type)) for f in self.golden_schema]
        if got != want:
            self.diffs.append(f"schema differs: result has {got}, golden file has {want}")

    def write(self, batch: Any) -> None:
        if not self.checked_schema:
            self._check_schema(batch.schema)
        if len(self.diffs) >= self.max_diffs or self.diffs and self.diffs[0].startswith("schema"):
            self.row += batch.num_rows
            return
        other = self._golden_rows(batch.num_rows)
        n = 0 if other is None else other.num_rows
        if n < batch.num_rows:
            self.extra_result += batch.num_rows - n
        if n:
            self._compare(batch.slice(0, n), other)
        self.row += batch.num_rows

    def _compare(self, got: Any, want: Any) -> None:
        import pyarrow.compute as pc

        if got.equals(want):
            return
        bad = None
        for i in range(got.num_columns):
            a, b = got.column(i), want.column(i)
            if a.equals(b):
                continue
            neq = pc.fill_null(pc.not_equal(a, b), False)
            nulls = pc.not_equal(pc.is_null(a), pc.is_null(b))
            col_bad = pc.or_(neq, nulls)
            bad = col_bad if bad is None else pc.or_(bad, col_bad)
        if bad is None:
            return
        for idx in pc.indices_nonzero(bad).to_pylist():
            if len(self.diffs) >= self.max_diffs:
                break
            self.diffs.append(
                f"row {self.row + idx}: result {got.slice(idx, 1).to_pylist()[0]} != "
                f"golden {want.slice(idx, 1).to_pylist()[0]}"
            )

    def close(self, schema: Any) -> None:
        if not self.checked_schema:
            self._check_schema(schema)
        rest = 0
        if self.buffer is not None:
            rest += self.buffer.num_rows
        for batch in self.golden:
            rest += batch.num_rows
        if self.extra_result:
            self.diffs.append(f"the result has {self.extra_result} more rows than the golden file")
        if rest:
            self.diffs.append(f"the golden file has {rest} more rows than the result ({self.row})")
