"""The failing rows themselves: read from the original files, and written as a small Parquet file.

Both read the rows with pyarrow in the types the files hold (not the scan's view types), so the written
file is read by datafusion exactly as the original was. The file keeps the rows of each original row group
in a row group of their own: replayed, the rows meet in the same batches as in the probes.
"""

from __future__ import annotations

import os
from typing import Any

from datafusion_exprtool.actions.rows.layout import Layout, Rows


def read_parts(layout: Layout, rows: Rows, columns: list[str]) -> list[Any]:
    """One pyarrow Table per original row group the set touches (the set's rows there, in order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    handles: dict[int, Any] = {}
    out = []
    for gi, part in layout.per_group(rows):
        g = layout.groups[gi]
        handle = handles.get(g.file)
        if handle is None:
            handle = handles[g.file] = pq.ParquetFile(layout.files[g.file])
        table = handle.read_row_group(g.index, columns=columns).select(columns)
        out.append(pa.concat_tables([table.slice(a - g.first, b - a) for a, b in part.ranges]))
    return out


def _unified(parts: list[Any]) -> list[Any]:
    import pyarrow as pa

    if len({p.schema for p in parts}) <= 1:
        return parts
    schema = pa.unify_schemas([p.schema for p in parts], promote_options="permissive")
    return [p.cast(schema) for p in parts]


def read_rows(layout: Layout, rows: Rows, columns: list[str]) -> Any:
    """The rows as one pyarrow Table (the columns asked for, in the files' own types)."""
    import pyarrow as pa

    parts = _unified(read_parts(layout, rows, columns))
    return pa.concat_tables(parts) if parts else None


def write_rows(layout: Layout, rows: Rows, columns: list[str], path: str) -> None:
    """Write the rows to ``path`` (a new file: the search's own work directory or a bundle being built)."""
    import pyarrow.parquet as pq

    parts = _unified(read_parts(layout, rows, columns))
    if not parts:
        raise ValueError("no rows to write")
    tmp = path + ".tmp"
    with pq.ParquetWriter(tmp, parts[0].schema) as writer:
        for part in parts:
            writer.write_table(part, row_group_size=max(part.num_rows, 1))
    os.replace(tmp, path)
