"""A physical plan that reads ``file_row_index()``: datafusion 55 writes it, and its own decoder refuses it (the
virtual column is not in the scan's schema in the bytes). inspect exits 3 and check calls it an error, with
datafusion's text; explain maps that text back; a plan on the same file without the virtual column passes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import ExecutionPlan, SessionContext, col, functions, lit
from support.cli import run_cli


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("rowidx")
    data = d / "data.parquet"
    pq.write_table(pa.table({"a": [10, 20, 30], "b": [1, 2, 3], "c": ["x", "y", "z"]}), data)
    ctx = SessionContext()
    frames = {
        "index_only": ctx.read_parquet(str(data)).select(functions.file_row_index().alias("i")),
        "after_a_filter": ctx.read_parquet(str(data)).filter(col("a") > lit(10))
        .select(functions.file_row_index().alias("i")),
        "between_columns": ctx.read_parquet(str(data)).select(col("c"), functions.file_row_index().alias("i"), col("b")),
        "no_virtual_column": ctx.read_parquet(str(data)).filter(col("a") > lit(10)).select(col("c"), col("b")),
    }
    out = {}
    for name, df in frames.items():
        out[name] = d / f"{name}.bin"
        out[name].write_bytes(df.execution_plan().to_bytes())
    return out


def _refusal(path: Path) -> str | None:
    try:
        ExecutionPlan.from_bytes(SessionContext(), path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - datafusion's own answer is what the test compares with
        return str(exc)
    return None


@pytest.mark.parametrize("name", ["index_only", "after_a_filter", "between_columns"])
def test_a_plan_datafusion_refuses_is_an_error(plans: dict[str, Path], name: str) -> None:
    said = _refusal(plans[name])
    assert said is not None and "out of bounds for projected expressions" in said
    r = run_cli("inspect", str(plans[name]), "--json")
    assert r.exit_code == 3, r.stderr
    r = run_cli("check", str(plans[name]), "--format", "json")
    assert r.exit_code == 1, r.stderr
    errors = [f for f in json.loads(r.stdout)["reports"][0]["findings"] if f["severity"] == "error"]
    unresolved = [f for f in errors if f["id"] == "scan-column-unresolved"]
    assert len(unresolved) == 1 and unresolved[0]["message"] in said
    assert [f["id"] for f in errors] == ["scan-column-unresolved"]  # the virtual column is no file's column
    assert "file_row_index" in unresolved[0]["fix"]
    r = run_cli("explain", "-", input=said.encode())
    assert r.exit_code == 0 and "scan-column-unresolved" in r.stdout


def test_the_same_file_without_the_virtual_column_passes(plans: dict[str, Path]) -> None:
    assert _refusal(plans["no_virtual_column"]) is None
    r = run_cli("inspect", str(plans["no_virtual_column"]), "--json")
    assert r.exit_code == 0, r.stderr
    r = run_cli("check", str(plans["no_virtual_column"]), "--format", "json")
    assert not [f for f in json.loads(r.stdout)["reports"][0]["findings"] if f["id"] == "scan-column-unresolved"]
