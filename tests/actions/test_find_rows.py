"""``exprtool eval --find-rows``: a failure on 2 million rows narrowed to the rows that cause it, with
datafusion doing every evaluation (Python UDFs raising, datafusion's own cast and division errors)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import col, lit, udf
from support.cli import run_cli
from support.rows import (
    CAST_ROW,
    DIV_ROW,
    MARKER,
    PAIR,
    batch_too_large,
    fails_on_marker,
    pair_seen,
    place,
    write_data,
)


def _by_value(fn, name: str, args: int = 1):
    """The UDF with its code in the blob (a copy of ``fn`` defined here, not importable by name)."""
    code = fn.__code__
    clone = type(fn)(code, {**fn.__globals__}, name)
    return udf(clone, [pa.int64()] * args, pa.int64(), "immutable", name=name)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("rows")
    data = write_data(d / "data")
    blobs = {
        "marker": udf(fails_on_marker, [pa.int64()], pa.int64(), "immutable", name="marker")(col("a")),
        "pair": udf(pair_seen, [pa.int64()] * 2, pa.int64(), "immutable", name="pair")(col("a"), col("b")),
        "big": udf(batch_too_large, [pa.int64()], pa.int64(), "immutable", name="big")(col("a")),
        "cast": col("c").cast(pa.int16()),
        "div": col("a") / col("d"),
    }
    for name, expr in blobs.items():
        (d / f"{name}.pkl").write_bytes(pickle.dumps(expr))
    return {"dir": d, "data": data, "blob": lambda n: str(d / f"{n}.pkl")}


def search(env: dict, blob: str, *args: str) -> tuple[int, dict]:
    r = run_cli("eval", env["blob"](blob), str(env["data"]), "--isolate", "none", "--find-rows", "--json", "-q", *args)
    assert r.stdout.strip(), r.stderr
    return r.exit_code, json.loads(r.stdout)


def value_at(file: str, row: int, column: str):
    return pq.read_table(file, columns=[column]).column(0)[row].as_py()


def test_one_row_in_two_million_is_found_with_its_file_and_row(env: dict) -> None:
    code, doc = search(env, "marker")
    assert code == 4 and doc["failure"]["stage"] == "execute"
    found = doc["find_rows"]
    assert found["outcome"] == "found" and found["minimal"] and found["confirmed"], found["reason"]
    assert found["total_rows"] == 2_000_000 and found["row_count"] == 1
    [row] = found["rows"]
    expected = place(env["data"], MARKER)
    assert (row["file"], row["row_group"], row["row"]) == (expected.file, expected.row_group, expected.row)
    assert row["values"] == {"a": MARKER} == {"a": value_at(row["file"], row["row"], "a")}
    exc = found["exception"]
    assert exc["type"] == "ValueError" and exc["message"] == f"marker {MARKER} in a batch of 1 rows"
    # the UDF travelled by reference: the innermost frame is its own, with the line that raised
    assert exc["udf"]["by_value"] is False and exc["frame"]["function"] == "fails_on_marker"
    assert exc["frame"]["file"].endswith("support/rows.py") and "raise ValueError" in exc["frame"]["source"]


def test_two_rows_that_fail_together_are_the_minimal_set(env: dict) -> None:
    code, doc = search(env, "pair")
    found = doc["find_rows"]
    assert code == 4 and found["outcome"] == "found" and found["minimal"], found["reason"]
    got = sorted((r["file"], r["row"]) for r in found["rows"])
    want = sorted((place(env["data"], n).file, place(env["data"], n).row) for n in PAIR)
    assert got == want
    assert [r["values"] for r in found["rows"]] == [{"a": n, "b": 2 * n} for n in PAIR]
    assert found["exception"]["type"] == "KeyError"


@pytest.mark.parametrize(("blob", "row", "column", "words"), [
    ("cast", CAST_ROW, "c", "Cast error"),
    ("div", DIV_ROW, "d", "Divide by zero"),
])  # fmt: skip
def test_datafusion_errors_are_narrowed_to_their_row(env: dict, blob: str, row: int, column: str, words: str) -> None:
    code, doc = search(env, blob)
    found = doc["find_rows"]
    assert code == 4 and found["outcome"] == "found", found["reason"]
    [got] = found["rows"]
    expected = place(env["data"], row)
    assert (got["file"], got["row"]) == (expected.file, expected.row)
    assert got["values"][column] == value_at(expected.file, expected.row, column)
    assert found["exception"]["type"] == "datafusion" and words in found["exception"]["message"]
    assert words in doc["failure"]["datafusion"]


def test_a_failure_of_large_batches_is_not_pinned_on_rows(env: dict) -> None:
    code, doc = search(env, "big")
    found = doc["find_rows"]
    assert code == 4 and found["outcome"] == "no-subset"
    assert found["rows"] == [] and found["spans"] == [] and found["row_count"] == 0
    assert "whichever rows" in found["reason"]


def test_a_failure_that_depends_on_the_udfs_state_is_never_pinned_on_rows(env: dict, tmp_path: Path) -> None:
    def make() -> object:
        calls = [0]

        def third_call(a: pa.Array) -> pa.Array:
            calls[0] += 1
            if calls[0] == 3:
                raise RuntimeError("the third batch this worker saw")
            return a

        return udf(third_call, [pa.int64()], pa.int64(), "volatile", name="third_call")

    (tmp_path / "state.pkl").write_bytes(pickle.dumps(make()(col("a"))))
    env = {**env, "blob": lambda _n: str(tmp_path / "state.pkl")}
    code, doc = search(env, "state")
    found = doc["find_rows"]
    assert code == 4 and found["outcome"] in ("flaky", "no-subset"), found
    assert found["rows"] == [] and found["reason"]


def test_the_budget_stops_the_search_and_says_so(env: dict) -> None:
    code, doc = search(env, "marker", "--find-rows-budget", "0")
    found = doc["find_rows"]
    assert code == 4 and found["outcome"] == "narrowed" and found["stopped"] == "budget"
    assert found["rows"] == [] and "budget" in found["reason"]


def test_text_report_on_stderr(env: dict) -> None:
    r = run_cli("eval", env["blob"]("marker"), str(env["data"]), "--isolate", "none", "--find-rows", "-q")
    assert r.exit_code == 4
    expected = place(env["data"], MARKER)
    assert "find-rows: 1 row fails the same way" in r.stderr
    assert f"row group {expected.row_group}  row {expected.row:,}" in r.stderr
    assert str(MARKER) in r.stderr and "raised: ValueError" in r.stderr and "raise ValueError" in r.stderr


@pytest.mark.parametrize("name", ["fails_on_marker", "m"])
def test_text_report_names_a_by_value_udf_once(env: dict, tmp_path: Path, name: str) -> None:
    """The by-value line says where and how the UDF travelled without repeating a name it has just said
    (the UDF called as its function is named, or under another name)."""
    blob = tmp_path / "by_value.pkl"
    blob.write_bytes(pickle.dumps(_by_value(fails_on_marker, name)(col("a"))))
    r = run_cli("eval", str(blob), str(env["data"]), "--isolate", "none", "--find-rows", "-q")
    assert r.exit_code == 4, r.stderr
    [line] = [ln for ln in r.stderr.splitlines() if "travelled by value" in ln]
    assert "in fails_on_marker" in line and line.count("fails_on_marker") == 1, line
    assert (f"{name} travelled by value" in line) == (name != "fails_on_marker"), line


def test_no_search_unless_asked_off_a_terminal(env: dict) -> None:
    r = run_cli("eval", env["blob"]("div"), str(env["data"]), "--isolate", "none", "-q")
    assert r.exit_code == 4 and "find-rows:" not in r.stderr  # no search ran, no report
    assert "cause: division-by-zero" in r.stderr and "--find-rows names the rows" in r.stderr  # the hint says how
    r = run_cli("eval", env["blob"]("div"), str(env["data"]), "--isolate", "none", "-q", "--json")
    assert json.loads(r.stdout)["find_rows"] is None


def test_a_failure_before_any_row_has_nothing_to_search(env: dict, tmp_path: Path) -> None:
    from support.blobs import pickle_by_name

    (tmp_path / "byname.pkl").write_bytes(pickle_by_name(_by_value(fails_on_marker, "m")(col("a"))))
    r = run_cli("eval", str(tmp_path / "byname.pkl"), str(env["data"]), "--isolate", "none", "--find-rows", "--json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 4 and doc["failure"]["stage"] == "udf-decode"
    assert doc["find_rows"]["outcome"] == "skipped" and "before any row" in doc["find_rows"]["reason"]


def test_isolated_search_writes_a_bundle_that_replays(env: dict, tmp_path: Path) -> None:
    """The default isolation: probes in a spawned worker; the bundle replays the failure on its own."""
    blob = tmp_path / "by_value.pkl"
    blob.write_bytes(pickle.dumps(_by_value(fails_on_marker, "marker")(col("a") + lit(0))))
    bundle = tmp_path / "repro"
    r = run_cli("eval", str(blob), str(env["data"]), "--bundle", str(bundle), "-q")
    assert r.exit_code == 4, r.stderr
    assert "find-rows: 1 row fails the same way" in r.stderr and "travelled by value" in r.stderr
    names = sorted(p.name for p in bundle.iterdir())
    assert names == ["MANIFEST.txt", "bundle.json", "expr.pkl", "expr.pkl.env.json", "repro.sh", "rows.parquet"]
    assert pq.read_table(bundle / "rows.parquet").to_pylist() == [{"a": MARKER}]
    assert (bundle / "expr.pkl").read_bytes() == blob.read_bytes()
    manifest = (bundle / "MANIFEST.txt").read_text()
    assert "may be sensitive" in manifest and f"row {place(env['data'], MARKER).row:,}" in manifest
    assert "exprtool eval expr.pkl rows.parquet" in (bundle / "repro.sh").read_text()
    env_doc = json.loads((bundle / "expr.pkl.env.json").read_text())
    assert env_doc["packages"]["datafusion"] and env_doc["blob"]["kind"] == "pickle"
    replay = run_cli("eval", str(bundle), "-q")
    assert replay.exit_code == 4 and f"marker {MARKER} in a batch of 1 rows" in replay.stderr
    again = run_cli("eval", str(blob), str(env["data"]), "--bundle", str(bundle), "-q", "--isolate", "none")
    assert again.exit_code == 2 and "--force" in again.stderr  # never over a bundle without --force
    # DATA and options on the command line win over the bundle's: other rows, the same blob, and it passes
    pq.write_table(pa.table({"a": pa.array([1, 2, 3], pa.int64())}), tmp_path / "fine.parquet")
    other = run_cli("eval", str(bundle), str(tmp_path / "fine.parquet"), "--isolate", "none", "--json", "-q")
    assert other.exit_code == 0 and json.loads(other.stdout)["result"]["rows"] == 3


def test_json_after_a_run_that_worked(env: dict, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    r = run_cli("eval", env["blob"]("marker"), str(place(env["data"], 0).file), "--isolate", "none", "--json",
                "-o", str(out), "--limit", "10")  # fmt: skip
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["failure"] is None
    assert doc["result"]["rows"] == pq.read_metadata(out).num_rows == 10 and doc["result"]["output"] == str(out)
    assert run_cli("eval", env["blob"]("marker"), str(env["data"]), "--json", "-f", "csv").exit_code == 2
