"""`eval --workers 2`: every eval mode gives datafusion's one-process result, and every failure eval's one line.

The workers are spawned processes (as eval's isolated worker); the expected results are datafusion's own,
computed here in one process with the same expressions.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datafusion import col
from support.blobs import patch_byte, pickle_by_name
from support.cli import run_cli
from support.scale_cases import cases, gil_udf, rows, write_blobs, write_data

CASES = cases()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("scale")
    blobs = write_blobs(d)
    byname = d / "byname.pkl"
    byname.write_bytes(pickle_by_name(gil_udf()(col("a"))))
    stamped = d / "py310.pkl"  # the inline UDF's DFPY header says Python 3.10 pickled it
    stamped.write_bytes(patch_byte(Path(blobs["project"]).read_bytes(), b"DFPYUDF", 9, 10))
    return {"dir": d, "data": write_data(d), "blobs": blobs, "byname": str(byname), "py310": str(stamped)}


@pytest.mark.parametrize("data", ["one", "many"])
@pytest.mark.parametrize("name", list(CASES))
def test_every_mode_gives_datafusions_result(env: dict, tmp_path: Path, name: str, data: str) -> None:
    case = CASES[name]
    out = tmp_path / "out.parquet"
    r = run_cli("eval", env["blobs"][name], env["data"][data], *case.args, "--workers", "2", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    got, want = pq.read_table(out), case.truth(env["data"][data])
    assert got.column_names == want.column_names
    assert [f.type for f in got.schema] == [f.type for f in want.schema]
    assert rows(got) == rows(want) and got.num_rows > 0
    assert sorted(os.listdir(tmp_path)) == ["out.parquet"]  # -o: one file, no parts or temporaries left
    said = r.stderr
    if name == "global_aggregate":
        assert "runs on one worker: a global aggregate" in said
    elif name in ("grouped_udaf", "partitioned_window", "row_number"):
        assert "hash-shuffled on g (xxhash64) to 2 workers" in said
    else:
        assert ("3 files" if data == "many" else "6 row groups") + " over 2 workers" in said


def test_project_streams_in_input_order(env: dict) -> None:
    r = run_cli("eval", env["blobs"]["project"], env["data"]["one"], "--keep", "a", "--workers", "2", "-f", "csv", "-q")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(6000))
    r = run_cli("eval", env["blobs"]["project"], env["data"]["one"], "--workers", "2", "--limit", "1500", "-f", "csv", "-q")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 1501


def test_expect_and_table_output(env: dict, tmp_path: Path) -> None:
    golden = tmp_path / "golden.parquet"
    case = CASES["grouped_udaf"]
    pq.write_table(case.truth(env["data"]["one"]), golden)
    args = [env["blobs"]["grouped_udaf"], env["data"]["one"], *case.args, "--workers", "2"]
    r = run_cli("eval", *args, "--expect", str(golden))
    assert r.exit_code == 0 and "matches" in r.stderr, r.stderr
    assert "5 rows · start workers" in r.stdout
    r = run_cli("eval", *args)
    assert r.exit_code == 0 and "sum_squares(a)" in r.stdout and "k4" in r.stdout


@pytest.mark.parametrize(
    ("blob", "said"),
    [
        ("boom", ["stage 'execute' in function 'boom'", "boom from the UDF", "datafusion: DataFusion error"]),
        ("abort", ["stage 'execute' in function 'abort_late'", "killed by SIGABRT", "where: "]),
        ("byname", ["stage 'udf-decode' in function 'times3'", "is not provided for scalar function times3"]),
        ("py310", ["stage 'versions'", "pickled by Python 3.10", "runs Python 3.1"]),
    ],
)
def test_failures_are_evals_one_line(env: dict, tmp_path: Path, blob: str, said: list[str]) -> None:
    out = tmp_path / "out.parquet"
    path = env["blobs"].get(blob) or env[blob]
    r = run_cli("eval", path, env["data"]["one"], "--workers", "2", "-o", str(out))
    assert r.exit_code == 4, r.stderr
    first = next(line for line in r.stderr.splitlines() if line.startswith("exprtool: eval failed"))
    assert all(s in r.stderr for s in said), r.stderr
    assert said[0] in first and "Traceback" not in r.stderr
    assert os.listdir(tmp_path) == []  # nothing written, no temporary left


def test_usage_errors(env: dict) -> None:
    r = run_cli("eval", env["blobs"]["project"], env["data"]["one"], "--workers", "0")
    assert r.exit_code == 2 and "--workers '0'" in r.stderr
    r = run_cli("eval", env["blobs"]["project"], env["data"]["one"], "--workers", "2", "--isolate", "none")
    assert r.exit_code == 2 and "--isolate none" in r.stderr
    r = run_cli("eval", env["blobs"]["project"], env["data"]["one"], "--address", "127.0.0.1:1")
    assert r.exit_code == 2 and "apply to --engine ray" in r.stderr


@pytest.mark.parametrize("name", ["project", "grouped_udaf"])
def test_parts_directory(env: dict, tmp_path: Path, name: str) -> None:
    """-o DIR/: each worker writes Parquet parts; the directory appears whole, in input order for a project."""
    import pyarrow.dataset as ds

    case = CASES[name]
    out = tmp_path / "out"
    args = [env["blobs"][name], env["data"]["one"], *case.args, "--workers", "2", "-o", f"{out}/"]
    r = run_cli("eval", *args)
    assert r.exit_code == 0, r.stderr
    names = sorted(os.listdir(out))
    assert names == [f"part-{i:05d}.parquet" for i in range(len(names))] and len(names) == (6 if name == "project" else 2)
    got = ds.dataset(str(out)).to_table()  # the parts in name order
    assert rows(got) == rows(case.truth(env["data"]["one"]))
    if name == "project":
        assert got.column("a").to_pylist() == list(range(6000))
    assert sorted(os.listdir(tmp_path)) == ["out"]
    r = run_cli("eval", *args)
    assert r.exit_code == 2 and "exists" in r.stderr and "--force" in r.stderr
    r = run_cli("eval", env["blobs"]["boom"], env["data"]["one"], "--workers", "2", "-o", f"{out}/", "--force")
    assert r.exit_code == 4 and sorted(os.listdir(out)) == names  # a failed run replaces nothing
    assert sorted(os.listdir(tmp_path)) == ["out"]  # and leaves no temporary directory


def test_a_worker_with_other_versions_is_refused_before_any_work() -> None:
    """What a worker says it runs is compared with the driver's: any difference is eval's 'versions' failure."""
    from datafusion_exprtool.actions.scale.driver import check_versions
    from datafusion_exprtool.actions.scale.worker import versions
    from datafusion_exprtool.sandbox.failure import EvalError

    mine = versions()
    check_versions([mine, dict(mine)], {mine["python"]})  # the same: no complaint
    for key, other in (("datafusion", "54.0.0"), ("exprtool", "0.0.1"), ("python", "3.10")):
        with pytest.raises(EvalError) as caught:
            check_versions([mine, {**mine, key: other}], set())
        failure = caught.value.failure
        assert failure.stage == "versions" and f"runs {key} {other}, the driver {mine[key]}" in failure.message
        assert mine[key] in (failure.hint or "")
