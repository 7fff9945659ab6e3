"""Benchmark `exprtool eval --workers 2` and `--engine ray` (2 actors) against `--workers 1`.

A GIL-bound Python UDF (a Python loop over the values, as many real UDFs are) on a Parquet file of --rows
rows (20 row groups at 20M), written three ways: one Parquet file (``-o out.parquet``: the driver writes it),
a directory of parts (``-o DIR/``: every worker writes its own, with datafusion's writer), and one Arrow IPC
file (``-o out.arrow``: the workers' batches written as they are, no encoding). Each is compared with
``--workers 1`` writing the same kind of output (``-o DIR/`` with ``-o out.parquet``): the output decides
how much of one process's second core datafusion already uses (its Parquet encoder runs beside the UDF), so
it decides what a second worker can add. The commands run alternately (``--repeat``
rounds), so a load that changes during the run hits all of them; medians are compared. Each run's
footer gives the start-up apart: ``start workers`` (spawning the workers; for Ray, ray.init and placing
the actors) is reported beside the wall time, and so is ``execute`` (the tasks alone: the wall time less the
start-up, the static phase and, for Ray, the cluster's shutdown). The machine's load average is printed with every round:
on a shared 2-core machine the ratios are only as good as the cores that were free.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_scale.py --rows 20000000
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eval import CACHE, EXE, make_parquet  # noqa: E402

FOOTER = re.compile(r"(\d+) rows(?: · start workers ([\d.]+)s)? · decode ([\d.]+)s · plan ([\d.]+)s · execute ([\d.]+)s")


def make_blob(steps: int) -> Path:
    """score(a) + 1: a Python loop (holds the GIL) of ``steps`` arithmetic steps per value (3: ~0.25 µs a
    row, a small feature-engineering function); nested, so cloudpickle ships it by value."""
    import pyarrow as pa
    from datafusion import col, lit, udf

    def score(x: pa.Array) -> pa.Array:
        out = []
        for v in x.to_pylist():
            h = v
            for _ in range(steps):
                h = (h * 31 + 7) % 1000003
            out.append(None if v is None else h)
        return pa.array(out, pa.int64())

    path = CACHE / f"scale_expr_{steps}.pkl"
    CACHE.mkdir(exist_ok=True)
    path.write_bytes(pickle.dumps(udf(score, [pa.int64()], pa.int64(), "immutable", name="score")(col("a")) + lit(1)))
    return path


def run(cmd: list[str]) -> tuple[float, float, float, float]:
    """(wall seconds, start-up seconds from the footer (0 without workers), execute seconds, cores used: the
    CPU seconds of the command and every process it waited for, over its wall time — what one process takes
    beside its UDF's core is what a second worker cannot add)."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    m = FOOTER.search(proc.stderr)
    if m is None:
        raise SystemExit(f"no footer in: {proc.stderr}")
    return wall, float(m.group(2) or 0), float(m.group(5)), cpu / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--steps", type=int, default=12, help="Arithmetic steps per value in the UDF (12: ~0.65 µs a row, 3: ~0.25).")
    ap.add_argument("--no-ray", action="store_true", help="Leave out --engine ray.")
    ap.add_argument("--only-ray", action="store_true", help="Only --workers 1 and --engine ray (no local --workers 2).")
    args = ap.parse_args()
    data, blob = make_parquet(args.rows), make_blob(args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        out, parts = os.path.join(tmp, "out.parquet"), os.path.join(tmp, "parts") + os.sep
        arrow = os.path.join(tmp, "out.arrow")
        base = [*EXE, "eval", str(blob), str(data), "--force"]
        outputs = {"-o out.parquet": ["-o", out], "-o DIR/": ["-o", parts], "-o out.arrow": ["-o", arrow]}
        commands = {
            "--workers 1 -o out.parquet": [*base, "-o", out],
            "--workers 1 -o out.arrow": [*base, "-o", arrow],
        }
        engines = {} if args.only_ray else {"--workers 2": ["--workers", "2"]}
        if not args.no_ray:
            engines["ray, 2 actors"] = ["--engine", "ray", "--workers", "2"]
        for engine, flags in engines.items():
            for output, where in outputs.items():
                commands[f"{engine} {output}"] = [*base, *where, *flags]
        runs: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in commands}
        loads = []
        for i in range(args.repeat):
            for name, cmd in commands.items():
                runs[name].append(run(cmd))
            loads.append(os.getloadavg()[0])
            print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1][0]:.2f}s" for k, v in runs.items()) + f"; load {loads[-1]:.2f}")
    print(f"input: {args.rows:,} rows ({data.stat().st_size / (1 << 20):.0f} MiB), score(a) + 1 (a Python loop, {args.steps} steps a value), "
          f"{os.cpu_count()} CPUs, load average {min(loads):.2f}-{max(loads):.2f} over the rounds")
    for name, values in runs.items():
        baseline = runs["--workers 1 -o out.arrow" if name.endswith("out.arrow") else "--workers 1 -o out.parquet"]
        one = statistics.median(w for w, _s, _e, _c in baseline)
        one_x = statistics.median(e for _w, _s, e, _c in baseline)
        wall = statistics.median(w for w, _s, _e, _c in values)
        start = statistics.median(s for _w, s, _e, _c in values)
        execute = statistics.median(e for _w, _s, e, _c in values)
        line = f"{name:28s}: wall {wall:6.2f} s  speed-up {one / wall:4.2f}x  execute {execute:5.2f} s ({one_x / execute:4.2f}x)"
        if not name.startswith("ray"):  # Ray's actors are the raylet's children, not the command's: not counted
            line += f"  cores used {statistics.median(c for _w, _s, _e, c in values):4.2f}"
        if start:
            line += f"  start-up {start:.2f} s, wall without it {one / (wall - start):4.2f}x"
        print(line + f"  [median of {len(values)}]")


if __name__ == "__main__":
    main()
