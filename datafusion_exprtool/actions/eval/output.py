"""Result sinks: files written atomically, stdout writers, a preview, and the --expect comparer.

Every sink takes record batches one at a time and keeps at most one Parquet row group buffered, so memory
stays flat however large the result is. Files are written through ``atomic.AtomicFile``: a temporary name in
the target's directory, fsynced and moved into place only when the whole result was written, never over a
file that appeared meanwhile unless --force.

When nothing in Python needs to see the batches, ``write_parquet_direct`` lets datafusion write a Parquet
result itself (scan, compute and encode overlap on datafusion's threads), moved into place the same way.
Both ways write the same Parquet settings (``PARQUET_COMPRESSION``, ``ROW_GROUP_ROWS``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, BinaryIO

from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.sandbox.failure import fail
from datafusion_exprtool.sandbox.scan_data import parquet_metadata  # noqa: F401 - eval's footer reader

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
# streaming writer uses it too, so an -o file does not depend on which path wrote it
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
            exit_code=ExitCode.USAGE,
            hint="use .parquet, .csv, .json, .ndjson or .arrow",
        )
    return FORMATS[ext]


def temp_path_for(path: str) -> str:
    """A sibling temporary name (same filesystem, so the final rename is atomic)."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


def check_target(path: str, force: bool) -> None:
    """Refuse a directory, a missing parent, or an existing file without --force, before any work is done."""
    from datafusion_exprtool.atomic import OutputExists, preflight

    try:
        preflight(path, force)
    except OutputExists:
        raise fail(
            "write", f"{path} exists", file=path, exit_code=ExitCode.USAGE, hint="pass --force to replace it"
        ) from None
    except OSError as err:
        raise fail("write", str(err), file=path, exit_code=ExitCode.USAGE) from None


def json_default(value: Any) -> Any:
    """What ``json`` cannot encode, as JSON: dates ISO, Decimal as text, bytes base64 (the JSON writers and
    the ``--find-rows`` report)."""
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


def _plain_type(t: Any) -> Any:
    """``t`` with every view type (string_view, binary_view, list_view, at any depth) in its plain form."""
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_string_view(t):
        return pa.string()
    if pt.is_binary_view(t):
        return pa.binary()
    if pt.is_list_view(t) or pt.is_large_list_view(t) or pt.is_list(t) or pt.is_large_list(t):
        item = t.value_field
        plain = item.with_type(_plain_type(item.type))
        if pt.is_list_view(t):
            return pa.list_(plain)
        if pt.is_large_list_view(t):
            return pa.large_list(plain)
        return t if plain.equals(item) else (pa.list_(plain) if pt.is_list(t) else pa.large_list(plain))
    if pt.is_fixed_size_list(t):
        item = t.value_field
        plain = item.with_type(_plain_type(item.type))
        return t if plain.equals(item) else pa.list_(plain, t.list_size)
    if pt.is_struct(t):
        fields = [t.field(i) for i in range(t.num_fields)]
        plain_fields = [f.with_type(_plain_type(f.type)) for f in fields]
        same = all(a.equals(b) for a, b in zip(fields, plain_fields, strict=True))
        return t if same else pa.struct(plain_fields)
    if pt.is_map(t):
        key, item = t.key_field, t.item_field
        pk, pi = key.with_type(_plain_type(key.type)), item.with_type(_plain_type(item.type))
        return t if pk.equals(key) and pi.equals(item) else pa.map_(pk, pi, t.keys_sorted)
    if pt.is_dictionary(t):
        value = _plain_type(t.value_type)
        return t if value.equals(t.value_type) else pa.dictionary(t.index_type, value, t.ordered)
    return t


def plain_batch(batch: Any) -> Any:
    """``batch`` with view types cast to their plain forms (pyarrow's CSV writer takes no view type);
    the same object when there is nothing to cast."""
    import pyarrow as pa

    schema = pa.schema(
        [f.with_type(_plain_type(f.type)) for f in batch.schema], metadata=batch.schema.metadata
    )
    if schema.equals(batch.schema):
        return batch
    columns = [
        # pyarrow 26 casts list_view to list into an invalid array (offsets one short): rebuild those
        pa.array(column.to_pylist(), f.type) if _has_list_view(column.type) else column.cast(f.type)
        for f, column in zip(schema, batch.columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _has_list_view(t: Any) -> bool:
    import pyarrow.types as pt

    stack = [t]
    while stack:
        t = stack.pop()
        if pt.is_list_view(t) or pt.is_large_list_view(t):
            return True
        stack.extend(t.field(i).type for i in range(t.num_fields))
    return False


def _nested(t: Any) -> bool:
    import pyarrow.types as pt

    return pt.is_nested(t) or pt.is_list_view(t) or pt.is_large_list_view(t)


def csv_schema(schema: Any) -> Any:
    """The schema pyarrow's CSV writer gets for ``schema``: plain types; nested columns become JSON text."""
    import pyarrow as pa

    return pa.schema(
        [f.with_type(pa.string() if _nested(f.type) else _plain_type(f.type)) for f in schema],
        metadata=schema.metadata,
    )


def _csv_batch(batch: Any) -> Any:
    """What pyarrow's CSV writer can take: plain types, and nested values (lists, structs, maps) as JSON
    text, since a CSV cell holds one scalar."""
    import json

    import pyarrow as pa

    batch = plain_batch(batch)
    if not any(_nested(f.type) for f in batch.schema):
        return batch
    dumps = json.dumps
    columns = []
    for f, column in zip(batch.schema, batch.columns, strict=True):
        if _nested(f.type):
            texts = [
                None if v is None else dumps(v, default=json_default, ensure_ascii=False)
                for v in column.to_pylist()
            ]
            column = pa.array(texts, pa.string())
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=csv_schema(batch.schema))


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
        if self.fmt == "csv":
            batch = _csv_batch(batch)
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
            text = dumps(row, default=json_default, ensure_ascii=False)
            if self.fmt == "json":
                text = ("\n" if self.first_json else ",\n") + text
                self.first_json = False
            lines.append(text)
        body = ("\n".join(lines) + "\n") if self.fmt == "ndjson" and lines else "".join(lines)
        self.stream.write(body.encode("utf-8"))

    def close(self, schema: Any) -> None:
        if self.writer is None:
            self._open(csv_schema(schema) if self.fmt == "csv" else schema)
        if self.fmt == "parquet":
            self._flush()
        if self.fmt in ("parquet", "csv", "arrow"):
            self.writer.close()
        elif self.fmt == "json":
            self.stream.write(b"\n]\n" if not self.first_json else b"]\n")
        self.stream.flush()

    def abort(self) -> None:
        """Close the format's writer before its stream goes: a Parquet or Arrow writer left open closes
        itself when collected and writes to the closed file (an 'Exception ignored' traceback on stderr)."""
        writer, self.writer = self.writer, None
        if writer is not None and not isinstance(writer, str):
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away; its footer may not fit
                pass


class FileSink(Sink):
    """A file written under a temporary name and moved over ``path`` on success only (``atomic.AtomicFile``:
    fsynced, and without ``force`` never over a file that appeared meanwhile)."""

    def __init__(self, path: str, fmt: str, temp: str | None = None, force: bool = False):
        from datafusion_exprtool.atomic import AtomicFile

        self.path = path
        self.file = AtomicFile(path, force, temp or temp_path_for(path))
        self.temp = self.file.temp
        self.inner = _StreamSink(fmt, self.file.handle)

    def write(self, batch: Any) -> None:
        self.inner.write(batch)

    def close(self, schema: Any) -> None:
        try:
            self.inner.close(schema)
        except BaseException:
            self.abort()
            raise
        self.file.commit()

    def abort(self) -> None:
        self.inner.abort()
        self.file.abort()


def remove_partial(temp: str) -> None:
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


def write_parquet_direct(df: Any, path: str, temp: str | None = None, force: bool = False) -> int:
    """Execute ``df`` with datafusion's own Parquet writer into ``temp``, move it to ``path``; rows written.

    One file whatever the path looks like (``single_file_output``); on any failure, interrupts included,
    the temporary file and datafusion's staging files are removed and the target is left as it was.
    """
    from datafusion import DataFrameWriteOptions

    from datafusion_exprtool.atomic import publish_written

    temp = temp or temp_path_for(path)
    codec, level = PARQUET_COMPRESSION
    try:
        df.write_parquet(temp, codec, level, write_options=DataFrameWriteOptions(single_file_output=True))
        rows = parquet_metadata(temp).num_rows
        publish_written(temp, path, force)
    except BaseException:
        remove_partial(temp)
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
        self.schema_differs = False

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
        """Column names first, then the types of same-named columns; rows are not compared after that."""
        self.checked_schema = True
        got = [(f.name, str(f.type)) for f in schema]
        want = [(f.name, str(f.type)) for f in self.golden_schema]
        if got == want:
            return
        self.schema_differs = True

        def listing(cols: list[tuple[str, str]]) -> str:
            return ", ".join(f"{name} ({kind})" for name, kind in cols) or "no columns"

        if [n for n, _ in got] != [n for n, _ in want]:
            self.diffs.append(
                f"the columns differ: result has {listing(got)}; golden file has {listing(want)}"
            )
            return
        for (name, a), (_, b) in zip(got, want, strict=True):
            if a != b:
                self.diffs.append(f"column {name!r} is {a} in the result but {b} in the golden file")

    def write(self, batch: Any) -> None:
        if not self.checked_schema:
            self._check_schema(batch.schema)
        if len(self.diffs) >= self.max_diffs or self.schema_differs:
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
        if self.schema_differs:  # no row was compared: say how many each side has
            if rest == self.row:
                self.diffs.append(f"the result and the golden file both have {rest} rows")
            else:
                self.diffs.append(f"the result has {self.row} rows, the golden file {rest}")
            return
        if self.extra_result:
            self.diffs.append(f"the result has {self.extra_result} more rows than the golden file")
        if rest:
            self.diffs.append(f"the golden file has {rest} more rows than the result ({self.row})")
