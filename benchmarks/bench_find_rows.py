"""Benchmark `exprtool eval --find-rows`: the search's cost as a multiple of one full failing replay.

A Python UDF raises on one row of --rows rows (default 20M, in 1,048,576-row row groups, generated once and
cached under benchmarks/.cache/). For each position of that row (a fraction of the input), this runs,
alternately:

* a plain datafusion script that replays the blob until it fails (``pickle.loads`` + ``read_parquet`` +
  ``select``, draining ``execute_stream``): its time inside the process (after imports) and its whole wall time;
* ``exprtool eval BLOB DATA --find-rows --json -q`` (default ``--isolate spawn``): the JSON's
  ``replay_seconds`` (eval's own failing run) and ``find_rows.seconds`` (the search, workers' start included).

The search's figure of merit is ``find_rows.seconds`` divided by the failing replay (goal < 3): against
eval's replay and against the plain script's whole process (a process start and a datafusion import are part
of both). A replay stops at its first failing batch, so where the row lies changes both sides.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_find_rows.py --rows 20000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eval import CACHE, EXE, make_parquet  # noqa: E402 - the same data as eval's benchmark

ROOT = str(Path(__file__).resolve().parent.parent)

PLAIN = """
import pickle, sys, time
t0 = time.perf_counter()
from datafusion import SessionContext
expr = pickle.loads(open(sys.argv[1], "rb").read())
t1 = time.perf_counter()
try:
    for batch in SessionContext().read_parquet(sys.argv[2]).select(expr.alias("x")).execute_stream():
        batch.to_pyarrow()
except Exception:
    print(time.perf_counter() - t1)
else:
    raise SystemExit("the replay did not fail")
"""


def make_blob(bad: int) -> Path:
    """A UDF travelling by value that raises on the batch holding a == bad."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from datafusion import col, udf

    def check(a: pa.Array) -> pa.Array:
        if pc.any(pc.equal(a, bad)).as_py():
            raise ValueError(f"cannot take a = {bad}")
        return pc.add(a, 1)

    path = CACHE / f"rows_blob_{bad}.pkl"
    path.write_bytes(pickle.dumps(udf(check, [pa.int64()], pa.int64(), "immutable", name="check")(col("a"))))
    return path


def plain(blob: Path, data: Path) -> tuple[float, float]:
    """(seconds inside the process until the failure, wall seconds of the whole process)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PLAIN, str(blob), str(data)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    try:  # datafusion 55 may abort at interpreter exit after a failed stream (a UDF still on one of its
        # threads: "PyGILState_Release ... finalizing"): the time was printed before
        return float(out.stdout), wall
    except ValueError:
        raise SystemExit(f"the plain replay failed (exit {out.returncode}): {out.stderr[-2000:]}") from None


def search(blob: Path, data: Path, isolate: str) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [*EXE, "eval", str(blob), str(data), "--find-rows", "--json", "-q", "--isolate", isolate]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if out.returncode != 4:
        raise SystemExit(f"exit {out.returncode}: {out.stderr}")
    doc = json.loads(out.stdout)["find_rows"]
    if doc["outcome"] != "found":
        raise SystemExit(f"the search did not find the row: {doc}")
    return {"wall": wall, "replay": doc["replay_seconds"], "search": doc["seconds"], "probes": doc["probes"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--at", type=float, nargs="*", default=[0.5, 0.999], help="where the failing row is (fractions)")
    ap.add_argument("--isolate", default="spawn")
    args = ap.parse_args()
    data = make_parquet(args.rows)
    load = os.getloadavg()[0]
    print(f"input: {args.rows:,} rows ({data.stat().st_size / (1 << 20):.0f} MiB), one UDF raising on one row; "
          f"eval --isolate {args.isolate}; medians of {args.repeat} alternating runs")  # fmt: skip
    for at in args.at:
        bad = min(int(args.rows * at), args.rows - 1)
        blob = make_blob(bad)
        runs = [(plain(blob, data), search(blob, data, args.isolate)) for _ in range(args.repeat)]
        inner = statistics.median(p[0] for p, _ in runs)
        whole = statistics.median(p[1] for p, _ in runs)
        replay = statistics.median(s["replay"] for _, s in runs)
        cost = statistics.median(s["search"] for _, s in runs)
        probes = statistics.median(s["probes"] for _, s in runs)
        per_pair = statistics.median(s["search"] / s["replay"] for _, s in runs)
        print(f"row {bad:,} ({at:.1%} of the input):")
        print(f"  plain datafusion replay : {inner:6.2f} s in-process, {whole:6.2f} s whole process")
        print(f"  exprtool eval's replay  : {replay:6.2f} s (the failing run, worker start included)")
        print(f"  find-rows search        : {cost:6.2f} s, {probes:.0f} probes")
        print(f"  search / eval's replay  : {cost / replay:5.2f}x (per pair {per_pair:.2f}x; goal < 3)")
        print(f"  search / plain process  : {cost / whole:5.2f}x   search / plain in-process: {cost / inner:5.2f}x")
    print(f"load average at start: {load:.2f}, at end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
