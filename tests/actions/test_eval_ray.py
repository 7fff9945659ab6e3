"""`eval --engine ray`: every eval mode gives datafusion's one-process result on Ray actors, and every failure
eval's one line, with nothing left hanging.

Most tests share one local cluster started here (``ray.init(num_cpus=2)``: eval joins a Ray session its
caller already has); one starts a real head node with ``ray start --head`` on 127.0.0.1, joins it with
``--address`` from a separate exprtool process, and stops it by its PID.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datafusion import col
from support.blobs import patch_byte, pickle_by_name
from support.cli import run_cli
from support.scale_cases import cases, gil_udf, loopback_env, rows, write_blobs, write_data, write_sliced

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read when Ray is imported: stay on 127.0.0.1
ray = pytest.importorskip("ray")  # the [test] extra installs it; CI runs these

CASES = cases()
EXE = [sys.executable, "-m", "datafusion_exprtool.cli.entry"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}  # loopback only
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("ray")
    blobs = write_blobs(d)
    (d / "byname.pkl").write_bytes(pickle_by_name(gil_udf()(col("a"))))
    (d / "py310.pkl").write_bytes(patch_byte(Path(blobs["project"]).read_bytes(), b"DFPYUDF", 9, 10))
    blobs.update(byname=str(d / "byname.pkl"), py310=str(d / "py310.pkl"))
    return {"dir": d, "data": write_data(d), "blobs": blobs}


@pytest.mark.parametrize("name", list(CASES))
def test_every_mode_gives_datafusions_result(cluster: None, env: dict, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    data = env["data"]["many" if name == "project" else "one"]
    out = tmp_path / "out.parquet"
    r = run_cli("eval", env["blobs"][name], data, *case.args, "--engine", "ray", "--workers", "2", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    got, want = pq.read_table(out), case.truth(data)
    assert got.column_names == want.column_names
    assert [f.type for f in got.schema] == [f.type for f in want.schema]
    assert rows(got) == rows(want) and got.num_rows > 0
    assert sorted(os.listdir(tmp_path)) == ["out.parquet"]
    one_worker = "runs on one worker" in r.stderr
    assert one_worker == (name == "global_aggregate")


def test_stdout_carries_only_the_result(cluster: None, env: dict) -> None:
    """Actors' prints and Ray's own lines never reach stdout (log_to_driver=False): the CSV is whole."""
    r = run_cli("eval", env["blobs"]["project"], env["data"]["one"], "--keep", "a", "--engine", "ray", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == '"a","times3(a) + Int64(1)"'
    assert lines[1:] == [f"{a},{3 * a + 1}" for a in range(6000)]  # in input order, every CPU an actor


@pytest.mark.parametrize(
    ("blob", "said"),
    [
        ("boom", ["stage 'execute' in function 'boom'", "boom from the UDF", "datafusion: DataFusion error"]),
        ("abort", ["stage 'execute' in function 'abort_late'", "Ray actor was killed by SIGABRT", "where: "]),
        ("byname", ["stage 'udf-decode' in function 'times3'", "is not provided for scalar function times3"]),
        ("py310", ["stage 'versions'", "pickled by Python 3.10", "runs Python 3.1"]),
    ],
)
def test_failures_are_evals_one_line(cluster: None, env: dict, blob: str, said: list[str]) -> None:
    r = run_cli("eval", env["blobs"][blob], env["data"]["one"], "--engine", "ray", "--workers", "2", "-q")
    assert r.exit_code == 4, r.stderr
    first = next(line for line in r.stderr.splitlines() if line.startswith("exprtool: eval failed"))
    assert said[0] in first and "Traceback" not in r.stderr
    assert all(s in r.stderr for s in said), r.stderr
    deadline = time.monotonic() + 30  # the job's actors are killed: their CPUs come back to the cluster
    while ray.available_resources().get("CPU", 0) < 2:
        assert time.monotonic() < deadline, ray.available_resources()
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exprtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=180, env=loopback_env())


def test_ray_start_head_and_address(env: dict, tmp_path: Path) -> None:
    """A head node started by ``ray start --head`` (token auth on, as Ray 2.60 does), joined with --address."""
    port = _free_port()
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=loopback_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None and time.monotonic() < deadline, "ray start --head did not come up"
                time.sleep(0.5)
        address = f"127.0.0.1:{port}"
        out = tmp_path / "out.parquet"
        case = CASES["grouped_udaf"]
        r = _exprtool("eval", env["blobs"]["grouped_udaf"], env["data"]["one"], *case.args, "--engine", "ray",
                      "--address", address, "--workers", "2", "-o", str(out))  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert rows(pq.read_table(out)) == rows(case.truth(env["data"]["one"]))
        r = _exprtool("eval", env["blobs"]["project"], env["data"]["one"], "--engine", "ray", "--address", address,
                      "--workers", "3")  # fmt: skip
        assert r.returncode == 2 and "stage 'schedule'" in r.stderr and "has 2 CPU(s); 3 actors" in r.stderr
    finally:
        head.terminate()  # `ray start --block` stops every process it started
        head.wait(60)
    t0 = time.monotonic()
    r = _exprtool("eval", env["blobs"]["project"], env["data"]["one"], "--engine", "ray", "--address", address)
    assert r.returncode == 4 and "stage 'connect'" in r.stderr and f"cannot reach the Ray cluster at {address}" in r.stderr
    assert time.monotonic() - t0 < 60 and "Traceback" not in r.stderr


def test_by_reference_module_reaches_actors_through_runtime_env(cluster: None, env: dict, tmp_path: Path) -> None:
    """A UDF pickled by reference needs its module on the actors: --ray-working-dir ships it (Ray uploads a
    directory for a job it starts, so these runs start their own cluster)."""
    import pickle

    import pyarrow as pa
    from datafusion import udf

    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "exprtool_scale_mod.py").write_text(
        "import pyarrow.compute as pc\n\ndef plus_one(x):\n    return pc.add(x, 1)\n"
    )
    sys.path.insert(0, str(mods))
    try:
        import exprtool_scale_mod

        blob = tmp_path / "byref.pkl"
        fn = udf(exprtool_scale_mod.plus_one, [pa.int64()], pa.int64(), "immutable", name="plus_one")
        blob.write_bytes(pickle.dumps(fn(col("a"))))
    finally:
        sys.path.remove(str(mods))
        sys.modules.pop("exprtool_scale_mod", None)
    r = run_cli("check", str(blob))  # check's module finding says how the module reaches Ray actors
    assert r.exit_code == 1 and "No module named 'exprtool_scale_mod'" in r.stdout
    assert "--ray-working-dir" in r.stdout and "runtime_env" in r.stdout
    data = env["data"]["one"]
    r = _exprtool("eval", str(blob), data, "--engine", "ray", "--workers", "2", "-q", "-f", "csv")
    assert r.returncode == 4 and "stage 'udf-decode' in function 'plus_one'" in r.stderr
    assert "No module named 'exprtool_scale_mod'" in r.stderr and "--ray-working-dir" in r.stderr
    r = _exprtool("eval", str(blob), data, "--engine", "ray", "--workers", "2", "-q", "-f", "csv",
                  "--ray-working-dir", str(mods))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert [int(v) for v in r.stdout.splitlines()[1:]] == list(range(1, 6001))
    r = run_cli("eval", str(blob), data, "--engine", "ray", "--ray-working-dir", str(mods))  # Ray is up here
    assert r.exit_code == 2 and "ray.init(runtime_env=" in r.stderr


def test_parts_written_by_actors(cluster: None, env: dict, tmp_path: Path) -> None:
    import pyarrow.dataset as ds

    case = CASES["partitioned_window"]
    out = tmp_path / "parts"
    r = run_cli("eval", env["blobs"]["partitioned_window"], env["data"]["one"], *case.args, "--engine", "ray",
                "--workers", "2", "-o", f"{out}/")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert sorted(os.listdir(out)) == ["part-00000.parquet", "part-00001.parquet"]
    assert rows(ds.dataset(str(out)).to_table()) == rows(case.truth(env["data"]["one"]))


def test_sliced_row_groups_on_actors_keep_input_order(cluster: None, env: dict, tmp_path: Path) -> None:
    """The tail's row-group slices (plan.balanced) read on actors: datafusion's result, in input order."""
    from datafusion import SessionContext

    data = write_sliced(tmp_path)
    out = tmp_path / "out.parquet"
    r = run_cli("eval", env["blobs"]["project"], data, "--keep", "a", "--engine", "ray", "--workers", "2",
                "-o", str(out))  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "(the last cut finer to finish together: 3 tasks)" in r.stderr
    expr = CASES["project"].expr
    want = SessionContext().read_parquet(data).select(col("a"), expr.alias("v")).to_pydict()
    got = pq.read_table(out)
    assert got.column(0).to_pylist() == want["a"] and got.column(1).to_pylist() == want["v"]


def test_actors_that_cannot_be_placed_time_out(cluster: None, env: dict) -> None:
    """Every CPU taken by someone else's actor: Ray would wait forever; eval gives up after the schedule timeout."""
    from datafusion_exprtool.actions.eval.evaluate import EvalOptions, evaluate
    from datafusion_exprtool.actions.scale.options import ScaleOptions
    from datafusion_exprtool.sandbox.failure import EvalError

    @ray.remote(num_cpus=2)
    class Hog:
        def ready(self) -> bool:
            return True

    hog = Hog.remote()
    ray.get(hog.ready.remote())
    try:
        opts = EvalOptions(blob=env["blobs"]["project"], data=[env["data"]["one"]],
                           scale=ScaleOptions(engine="ray", workers=2, schedule_timeout=3))  # fmt: skip
        t0 = time.monotonic()
        with pytest.raises(EvalError) as caught:
            evaluate(opts)
        assert time.monotonic() - t0 < 30
        failure = caught.value.failure
        assert failure.stage == "schedule" and "2 of 2 Ray actors were not placed within 3 s" in failure.message
    finally:
        ray.kill(hog)
