"""eval's spawn worker booted by the program's entry point before the CLI is imported (``cli/entry.py``):
which command lines boot it, that the eval command adopts it, and that one nobody adopts never outlives
the CLI."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from datafusion import SessionContext, col, lit, udf
from datafusion_exprtool.cli.entry import wants_worker
from support.blobs import pickle_by_name, write_workers
from support.procs import default_disposition, gone, processes_with

from datafusion_exprtool.actions.eval import worker_start

ENTRY = [sys.executable, "-m", "datafusion_exprtool.cli.entry"]


@pytest.mark.parametrize(
    ("args", "boots"),
    [
        (["eval", "b.pkl", "d.parquet"], True),
        (["eval", "b.pkl", "--isolate", "spawn", "-o", "o.parquet"], True),
        (["eval", "b.pkl", "--isolate=spawn", "--workers", "1"], True),
        (["eval", "b.pkl", "--engine", "local", "--find-rows"], True),
        (["eval", "b.pkl", "--isolate", "none"], False),
        (["eval", "b.pkl", "--isolate=forkserver"], False),
        (["eval", "b.pkl", "--isolate"], False),
        (["eval", "b.pkl", "--workers", "2"], False),
        (["eval", "b.pkl", "--workers=auto"], False),
        (["eval", "b.pkl", "--engine", "ray"], False),
        (["eval", "--help"], False),
        (["eval", "b.pkl", "-h"], False),
        (["eval", "--", "--isolate", "none"], True),  # after --, a file name
        (["inspect", "b.pkl"], False),
        ([], False),
    ],
)
def test_which_command_lines_boot_a_worker(args: list[str], boots: bool) -> None:
    assert wants_worker(args) is boots


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("boot")
    pq.write_table(pa.table({"a": pa.array(range(100), pa.int64()), "b": pa.array(range(100, 200), pa.int64())}),
                   d / "data.parquet")  # fmt: skip
    (d / "expr.pkl").write_bytes(pickle.dumps(col("a") * lit(2) + col("b")))
    dbl = udf(lambda x: pc.multiply(x, 2), [pa.int64()], pa.int64(), "immutable", name="dbl")
    (d / "byname.pkl").write_bytes(pickle_by_name(dbl(col("a"))))
    write_workers(d)
    return d


def _datafusion_values(data: Path, expr_blob: Path) -> list:
    expr = pickle.loads(expr_blob.read_bytes())
    df = SessionContext().read_parquet(str(data)).select(expr.alias("v"))
    return sorted(df.to_pydict()["v"])


def test_the_booted_worker_runs_the_replay(blobs: Path) -> None:
    marker = f"EXPRTOOL_TEST_{uuid.uuid4().hex}"
    p = subprocess.run([*ENTRY, "eval", str(blobs / "expr.pkl"), str(blobs / "data.parquet"), "-f", "ndjson", "-q"],
                       capture_output=True, text=True, timeout=120, env={**os.environ, marker: "1"})  # fmt: skip
    assert p.returncode == 0, p.stderr
    got = sorted(next(iter(json.loads(line).values())) for line in p.stdout.splitlines())
    assert got == _datafusion_values(blobs / "data.parquet", blobs / "expr.pkl")
    assert gone(marker)


def test_the_booted_worker_gets_the_worker_ctx(blobs: Path) -> None:
    """The spec (a --worker-ctx parsed after the worker booted) reaches it: a by-name UDF resolves."""
    args = [*ENTRY, "eval", str(blobs / "byname.pkl"), str(blobs / "data.parquet"), "-f", "ndjson", "-q"]
    p = subprocess.run([*args, "--worker-ctx", f"{blobs}/workers.py:make_ctx"], capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert sorted(next(iter(json.loads(line).values())) for line in p.stdout.splitlines()) == [
        2 * a for a in range(100)
    ]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert p.returncode == 4 and "stage 'udf-decode'" in p.stderr, p.stderr


@pytest.mark.parametrize(
    "extra",
    [
        ["--no-such-option"],  # a usage error from Typer
        ["--limit", "-3"],  # a usage error from eval
    ],
)
def test_a_worker_nobody_adopts_ends_with_the_cli(blobs: Path, extra: list[str]) -> None:
    marker = f"EXPRTOOL_TEST_{uuid.uuid4().hex}"
    p = subprocess.run([*ENTRY, "eval", str(blobs / "expr.pkl"), str(blobs / "data.parquet"), *extra],
                       capture_output=True, text=True, timeout=120, env={**os.environ, marker: "1"})  # fmt: skip
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert gone(marker)


def test_an_undecodable_blob_leaves_no_worker(blobs: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\x80\x05garbage")
    marker = f"EXPRTOOL_TEST_{uuid.uuid4().hex}"
    p = subprocess.run([*ENTRY, "eval", str(bad), str(blobs / "data.parquet")],
                       capture_output=True, text=True, timeout=120, env={**os.environ, marker: "1"})  # fmt: skip
    assert p.returncode == 3, p.stderr
    assert gone(marker)


def test_a_parent_killed_before_adopting_leaves_no_worker() -> None:
    """No atexit hook runs after SIGKILL or os._exit: the worker reads the end of its socket and leaves."""
    marker = f"EXPRTOOL_TEST_{uuid.uuid4().hex}"
    code = "import os; from datafusion_exprtool.actions.eval.worker_start import boot; boot(); os._exit(0)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, marker: "1"})  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert gone(marker)


def test_start_worker_adopts_the_booted_worker() -> None:
    from datafusion_exprtool.sandbox.context import WorkerSpec

    booted = worker_start.boot()
    started = worker_start.start_worker(WorkerSpec(), "spawn")
    try:
        assert started.proc is booted.proc
        kind, _ = started.conn.recv()
        assert kind == "stage"
        assert started.conn.recv() == ("ready", None)
    finally:
        started.stop()
    assert not booted.proc.is_alive()
    second = worker_start.start_worker(WorkerSpec(), "spawn")  # nothing left to adopt: a new one
    try:
        assert second.proc is not booted.proc
    finally:
        second.stop()


def test_without_pass_fds_spawn_is_multiprocessing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a subprocess cannot inherit its socket (not POSIX), a spawn worker is multiprocessing's."""
    import multiprocessing

    from datafusion_exprtool.sandbox.context import WorkerSpec

    monkeypatch.setattr(worker_start, "BOOTABLE", False)
    started = worker_start.start_worker(WorkerSpec(), "spawn")
    try:
        assert isinstance(started.proc, multiprocessing.process.BaseProcess)
        assert started.conn.recv()[0] == "stage"
        assert started.conn.recv() == ("ready", None)
    finally:
        started.stop()


@pytest.mark.parametrize("when", ["booting", "running"])
def test_ctrl_c_leaves_no_worker_and_no_traceback(blobs: Path, tmp_path: Path, when: str) -> None:
    """Ctrl-C reaches the terminal's foreground process group: the CLI ends with 130 (128 + SIGINT), the
    booted worker (SIGINT blocked: Ctrl-C is its parent's to handle) is killed, and no traceback
    comes from either, whether the worker is still starting or inside the UDF."""
    import signal

    def slow(x: pa.Array) -> pa.Array:
        import time as t

        t.sleep(60)
        return x

    blob = tmp_path / "slow.pkl"
    blob.write_bytes(pickle.dumps(udf(slow, [pa.int64()], pa.int64(), "volatile", name="slow")(col("a"))))
    marker = f"EXPRTOOL_TEST_{uuid.uuid4().hex}"
    proc = subprocess.Popen([*ENTRY, "eval", str(blob), str(blobs / "data.parquet"), "-q", "--trust"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, marker: "1"}, start_new_session=True,
                            preexec_fn=default_disposition(signal.SIGINT))  # fmt: skip
    if when == "running":
        deadline = time.monotonic() + 60
        while len(processes_with(marker)) < 2 and time.monotonic() < deadline:  # the CLI and its worker
            time.sleep(0.05)
        time.sleep(1.5)  # the worker is inside the UDF by now
    else:  # as soon as the worker exists: it is importing datafusion, the CLI is importing Typer
        deadline = time.monotonic() + 60
        while len(processes_with(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert gone(marker)
