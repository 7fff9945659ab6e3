"""`exprtool eval` in fresh worker processes: start methods, worker-only failures, crashes survived."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from datafusion import col, lit, udf
from support.blobs import pickle_by_name, write_workers
from support.cli import run_cli

N = 1000
EXE = [sys.executable, "-m", "datafusion_exprtool.cli.entry"]


def _udfs():
    def dbl(x):
        return pc.multiply(x, 2)

    def exits(x):
        os._exit(3)

    def segfaults(x):
        os.kill(os.getpid(), signal.SIGSEGV)

    def reads_relative(x):
        with open("scale.txt") as fh:
            return pc.multiply(x, int(fh.read()))

    def boom(x):
        raise ValueError("boom in a worker")

    return {
        f.__name__: udf(f, [pa.int64()], pa.int64(), "volatile", name=f.__name__)
        for f in (dbl, exits, segfaults, reads_relative, boom)
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("iso")
    pq.write_table(pa.table({"a": pa.array(range(N), pa.int64())}), d / "data.parquet")
    u = _udfs()
    for name, f in u.items():
        (d / f"{name}.pkl").write_bytes(pickle.dumps(f(col("a")) + lit(0)))
    (d / "byname.pkl").write_bytes(pickle_by_name(u["dbl"](col("a"))))
    write_workers(d)
    # a module only the driver can import: on sys.path of this process alone
    helper = f"driver_only_{uuid.uuid4().hex[:8]}"
    (d / "helper").mkdir()
    (d / "helper" / f"{helper}.py").write_text(
        "import pyarrow.compute as pc\ndef triple(x):\n    return pc.multiply(x, 3)\n"
    )
    sys.path.insert(0, str(d / "helper"))
    try:
        module = __import__(helper)
        f = udf(module.triple, [pa.int64()], pa.int64(), "immutable", name="triple")
        (d / "driver_only.pkl").write_bytes(pickle.dumps(f(col("a"))))
        return {"dir": d, "data": str(d / "data.parquet"), "helper": helper, "blob": lambda n: str(d / n)}
    finally:
        sys.path.remove(str(d / "helper"))


def run(*args: str, input: bytes | None = None):
    return run_cli("eval", *args, input=input)


def values(stdout: str) -> list[int]:
    return sorted(next(iter(json.loads(line).values())) for line in stdout.splitlines())


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_start_methods(env: dict, method: str) -> None:
    r = run(env["blob"]("dbl.pkl"), env["data"], "--isolate", method, "-f", "ndjson", "-q")
    assert r.exit_code == 0, r.stderr
    assert values(r.stdout) == [2 * a for a in range(N)]


def test_fork_in_a_fresh_cli(env: dict, tmp_path: Path) -> None:
    """fork copies the parent: run from a CLI process that has not started datafusion's runtime."""
    out = tmp_path / "o.parquet"
    p = subprocess.run(
        [*EXE, "eval", env["blob"]("dbl.pkl"), env["data"], "--isolate", "fork", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert sorted(pq.read_table(out).column(0).to_pylist()) == [2 * a for a in range(N)]
    meta = pq.read_metadata(out)  # datafusion's own writer, in the forked worker, with its default codec
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_worker_ctx_installed_by_the_initializer(env: dict) -> None:
    r = run(
        env["blob"]("byname.pkl"),
        env["data"],
        "--isolate",
        "spawn",
        "-f",
        "ndjson",
        "-q",
        "--worker-ctx",
        f"{env['dir']}/workers.py:make_ctx",
    )
    assert r.exit_code == 0, r.stderr
    assert values(r.stdout) == [2 * a for a in range(N)]
    r = run(env["blob"]("byname.pkl"), env["data"], "--isolate", "spawn")
    assert r.exit_code == 4
    assert "LogicalExtensionCodec is not provided for scalar function dbl" in r.stderr
    assert "udf-decode" in r.stderr and "Traceback" not in r.stderr


def test_driver_only_module_fails_in_the_worker(env: dict) -> None:
    sys.path.insert(0, str(env["dir"] / "helper"))
    try:
        r = run(env["blob"]("driver_only.pkl"), env["data"], "--isolate", "none", "-f", "ndjson", "-q")
        assert r.exit_code == 0, r.stderr  # the driver can import it
        assert values(r.stdout) == [3 * a for a in range(N)]
        r = run(env["blob"]("driver_only.pkl"), env["data"], "--isolate", "spawn")
    finally:
        sys.path.remove(str(env["dir"] / "helper"))
    assert r.exit_code == 4
    assert "udf-decode" in r.stderr and f"No module named '{env['helper']}'" in r.stderr
    assert "Traceback" not in r.stderr


def test_worker_runs_elsewhere(env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scale.txt").write_text("5")
    r = run(env["blob"]("reads_relative.pkl"), env["data"], "--isolate", "none", "-f", "ndjson", "-q")
    assert r.exit_code == 0, r.stderr
    r = run(env["blob"]("reads_relative.pkl"), env["data"], "--isolate", "spawn")
    assert r.exit_code == 4 and "FileNotFoundError" in r.stderr and "working directory" in r.stderr


def test_udf_raises_in_worker(env: dict) -> None:
    r = run(env["blob"]("boom.pkl"), env["data"], "--isolate", "spawn")
    assert r.exit_code == 4
    assert "stage 'execute'" in r.stderr and "function 'boom'" in r.stderr and "boom in a worker" in r.stderr


@pytest.mark.parametrize(
    ("blob", "how"), [("exits.pkl", "exited with status 3"), ("segfaults.pkl", "SIGSEGV")]
)
def test_worker_that_dies(env: dict, tmp_path: Path, blob: str, how: str) -> None:
    out = tmp_path / "out.parquet"
    r = run(env["blob"](blob), env["data"], "--isolate", "spawn", "-o", str(out), "--trust")
    assert r.exit_code == 4, r.stderr
    assert how in r.stderr and "stage 'execute'" in r.stderr
    assert f"function '{blob[:-4]}'" in r.stderr
    assert "Traceback" not in r.stderr
    assert os.listdir(tmp_path) == []  # the dead worker's temporary file was removed
