"""Regressions found by a QA sweep over eval's booted spawn worker (``cli/entry.py``, ``worker_start.boot``):
what a signal sent to the whole job does to it, and the import path it starts with."""

from __future__ import annotations

import ast
import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import col, udf
from support.blobs import refusing_udf
from support.procs import default_disposition, gone, processes_with

from datafusion_exprtool.actions.eval import worker_start

ENTRY = [sys.executable, "-m", "datafusion_exprtool.cli.entry"]


@pytest.mark.skipif(not worker_start.BOOTABLE, reason="the booted worker is POSIX's")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_to_the_job_ends_its_worker(tmp_path: Path, sig: signal.Signals) -> None:
    """``timeout``, ``kill %1`` and a closed terminal signal the job's whole process group: the worker (inside
    a UDF that sleeps a minute) ends with the CLI, as it did before the worker was booted; it was left running
    in a session of its own until its UDF returned."""

    def slow(x: pa.Array) -> pa.Array:
        import time as t

        t.sleep(60)
        return x

    pq.write_table(pa.table({"a": pa.array(range(10), pa.int64())}), tmp_path / "data.parquet")
    blob = tmp_path / "slow.pkl"
    blob.write_bytes(pickle.dumps(udf(slow, [pa.int64()], pa.int64(), "volatile", name="slow")(col("a"))))
    marker = f"EXPRTOOL_TEST_{uuid.uuid4().hex}"
    proc = subprocess.Popen([*ENTRY, "eval", str(blob), str(tmp_path / "data.parquet"), "-q", "--trust"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # a pipe would wait for the worker
                            env={**os.environ, marker: "1"}, start_new_session=True,
                            preexec_fn=default_disposition(sig))  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(processes_with(marker)) < 2 and time.monotonic() < deadline:  # the CLI and its worker
            time.sleep(0.05)
        time.sleep(1.5)  # the worker is inside the UDF by now
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)
        assert proc.returncode == -sig
        assert gone(marker, 15), "the worker outlived its job"
    finally:
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)


def _sys_path(code: str, env: dict[str, str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return ast.literal_eval(out.stdout)


@pytest.mark.parametrize("safe_path", [False, True])
def test_the_booted_worker_drops_only_the_current_directory(tmp_path: Path, safe_path: bool) -> None:
    """The booted interpreter's import path is the interpreter's own without ``''`` (the current directory);
    under PYTHONSAFEPATH there is no such entry and PYTHONPATH's first one was dropped instead (a package
    installed there, exprtool included, could not be imported: the worker died with two tracebacks)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if safe_path:
        env["PYTHONSAFEPATH"] = "1"
    own = _sys_path("import sys; print(repr(sys.path))", env)
    booted = _sys_path(worker_start.BOOT_PATH + "print(repr(sys.path))", env)
    assert booted == (own[1:] if own[:1] == [""] else own)
    assert str(tmp_path) in booted


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.skipif(not worker_start.BOOTABLE, reason="process groups and /proc are POSIX's")
@pytest.mark.parametrize("case", ["workers", "find-rows"])
def test_ctrl_c_while_multiprocessing_workers_start_leaves_no_traceback(tmp_path: Path, case: str) -> None:
    """A terminal's Ctrl-C reaches the whole process group, the workers multiprocessing spawns included
    (--workers N, --find-rows's probes); one still in multiprocessing's bootstrap (unpickling its arguments,
    importing datafusion) died of it with a KeyboardInterrupt traceback on the user's terminal."""
    pq.write_table(pa.table({"a": pa.array(range(200), pa.int64())}), tmp_path / "data.parquet", row_group_size=50)
    blob = tmp_path / "refuse.pkl"
    blob.write_bytes(pickle.dumps(refusing_udf(77)(col("a"))))
    extra = ["--workers", "2"] if case == "workers" else ["--find-rows"]
    marker = f"EXPRTOOL_TEST_{uuid.uuid4().hex}"
    proc = subprocess.Popen([*ENTRY, "eval", str(blob), str(tmp_path / "data.parquet"), "-q", "--trust", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, marker: "1"}, start_new_session=True,
                            preexec_fn=default_disposition(signal.SIGINT))  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if any("spawn_main" in _cmdline(pid) for pid in processes_with(marker)):
                break
            time.sleep(0.002)
        time.sleep(0.05)  # the worker runs multiprocessing's bootstrap now
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        # --workers stops with 130; --find-rows reports the failure first, then stops the search: 130 while its
        # workers start, 4 once it runs (it reports what it narrowed)
        assert proc.returncode in ((130,) if case == "workers" else (4, 130)), err
        assert gone(marker, 15)
    finally:
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)


def _noisy_udf():
    """x * 3, printing on every batch (by value: any worker decodes it)."""
    import pyarrow.compute as pc

    def noisy(x: pa.Array) -> pa.Array:
        print("NOISE from the UDF")
        return pc.multiply(x, 3)

    return udf(noisy, [pa.int64()], pa.int64(), "immutable", name="noisy")


@pytest.mark.parametrize("isolate", ["spawn", "forkserver"])
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_what_a_udf_prints_never_reaches_stdout(tmp_path: Path, isolate: str, fmt: str) -> None:
    """stdout carries exprtool's output (-f csv into another program): what the UDF prints in the isolated worker
    goes to stderr, as what a --worker-ctx factory prints does; it was written into the CSV."""
    import json

    from datafusion import SessionContext

    data = tmp_path / "data.parquet"
    pq.write_table(pa.table({"a": pa.array(range(100), pa.int64())}), data)
    expr = _noisy_udf()(col("a"))
    blob = tmp_path / "noisy.pkl"
    blob.write_bytes(pickle.dumps(expr))
    p = subprocess.run([*ENTRY, "eval", str(blob), str(data), "-f", fmt, "-q", "--trust", "--isolate", isolate],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert p.returncode == 0, p.stderr
    want = sorted(SessionContext().read_parquet(str(data)).select(expr.alias("v")).to_pydict()["v"])
    if fmt == "csv":
        got = [int(line) for line in p.stdout.splitlines()[1:]]
    else:
        got = [next(iter(json.loads(line).values())) for line in p.stdout.splitlines()]
    assert sorted(got) == want
    assert "NOISE" not in p.stdout
    assert "NOISE from the UDF" in p.stderr


@pytest.mark.parametrize("env", [{"EXPRTOOL_WORKER_CTX_TIMEOUT": "soon"}], ids=["bad-ctx-timeout"])
def test_a_boot_that_fails_is_no_traceback(tmp_path: Path, env: dict[str, str]) -> None:
    """The boot is a head start run before main()'s net: when it fails (a setting its module reads at import,
    no file descriptor left for the socket pair) eval goes on without it and reports like any other command,
    in one line; it printed Python's traceback and exited 1 ("findings")."""
    from datafusion import lit

    pq.write_table(pa.table({"a": pa.array(range(10), pa.int64())}), tmp_path / "data.parquet")
    (tmp_path / "expr.pkl").write_bytes(pickle.dumps(col("a") + lit(1)))
    p = subprocess.run([*ENTRY, "eval", str(tmp_path / "expr.pkl"), str(tmp_path / "data.parquet"), "-q"],
                       capture_output=True, text=True, timeout=120, env={**os.environ, **env})  # fmt: skip
    assert "Traceback" not in p.stderr, p.stderr
    assert p.stderr.startswith("exprtool: ") and p.stderr.count("\n") == 1, p.stderr
    assert p.returncode not in (0, 1)
