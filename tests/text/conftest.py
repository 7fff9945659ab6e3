"""Fixtures of the text/ tests."""

from __future__ import annotations

import pyarrow as pa
import pytest
from datafusion import SessionContext


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> SessionContext:
    """A parquet listing table: unlike a memory table, its plans can be serialized."""
    import pyarrow.parquet as pq

    path = tmp_path_factory.mktemp("data") / "t.parquet"
    table = pa.table({"a": [1, 2], "b": [2, 3], "c": [3, 4], "s": ["x", "y"], "f": [1.5, None]})
    pq.write_table(table, path)
    ctx = SessionContext()
    ctx.register_parquet("t", str(path))
    return ctx
