"""Benchmark `exprtool inspect DIR` over 5,000 small blobs against datafusion's own decode, as whole processes.

    python benchmarks/bench_bulk.py [--runs 5] [--count 5000] [--jobs-sweep]

Writes ``--count`` small expression blobs into a temporary directory: the external corpus's (tests/corpus)
expressions that datafusion itself decodes with no context (pickles and raw protobuf ``to_bytes``), repeated
in turn until there are enough. Then times, alternating so a passing load hits both:

1. a python process that loops over the files: ``pickle.loads`` (a pickle) or ``Expr.from_bytes`` (protobuf),
   then ``canonical_name()``;
2. ``exprtool inspect DIR --json > /dev/null`` (default ``--jobs``: the CPU count);
3. the same with ``--jobs 1`` (in-process, one blob after another).

Target: ratio (2) / (1) <= 1. ``--jobs-sweep`` also times ``--jobs N`` over the first K files for a few K, to
find where worker processes start to pay (the break-even that ``inspect`` uses).
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
EXPRTOOL = shutil.which("exprtool", path=os.path.dirname(PY)) or "exprtool"
ROOT = Path(__file__).resolve().parent.parent

BASELINE = """
import os, pickle, sys
from datafusion import Expr
root = sys.argv[1]
for name in sorted(os.listdir(root)):
    data = open(os.path.join(root, name), "rb").read()
    expr = pickle.loads(data) if data[:1] == b"\\x80" else Expr.from_bytes(data)
    expr.canonical_name()
"""


def decodable_exprs() -> list[bytes]:
    """The corpus's expression blobs that datafusion decodes here with no context, and names."""
    sys.path.insert(0, str(ROOT / "tests"))  # as the tests import it: `support` is tests/support
    from datafusion import Expr
    from support.external_corpus import entries

    out = []
    for e in entries():
        if e["kind"] != "expr" or e["blob"] is None:
            continue
        blob = e["blob"]
        try:
            expr = pickle.loads(blob) if blob[:1] == b"\x80" else Expr.from_bytes(blob)
            expr.canonical_name()
        except Exception:  # noqa: BLE001 - a blob datafusion itself refuses is no baseline
            continue
        out.append(blob)
    return out


def write_blobs(root: Path, count: int) -> int:
    blobs = decodable_exprs()
    total = 0
    for i in range(count):
        data = blobs[i % len(blobs)]
        (root / f"{i:05d}.bin").write_bytes(data)
        total += len(data)
    return total


#: CPU seconds (user + system, the process and its workers) of the last ``run``: less sensitive than wall time
#: to a machine shared with other work, so printed beside it
last_cpu = [0.0]


def run(cmd: list[str], env: dict[str, str] | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    last_cpu[0] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--jobs-sweep", action="store_true")
    args = ap.parse_args()
    # pip compiles an installed package's bytecode; an editable checkout would otherwise recompile per run
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "datafusion_exprtool"), str(ROOT / "cli")],
                   check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "blobs"
        root.mkdir()
        size = write_blobs(root, args.count)
        n = args.count
        df = [PY, "-c", BASELINE, str(root)]
        ours = [EXPRTOOL, "inspect", str(root), "--json"]
        ours1 = [*ours, "--jobs", "1"]
        for cmd in (df, ours, ours1):
            run(cmd)  # warm the page cache and the bytecode
        times: dict[str, list[float]] = {"df": [], "ours": [], "ours1": []}
        cpu: dict[str, list[float]] = {"df": [], "ours": [], "ours1": []}
        loads = [os.getloadavg()[0]]
        for _ in range(args.runs):
            for key, cmd in (("df", df), ("ours", ours), ("ours1", ours1)):
                times[key].append(run(cmd))
                cpu[key].append(last_cpu[0])
            loads.append(os.getloadavg()[0])
        med = {k: statistics.median(v) for k, v in times.items()}
        cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
        print(f"{n:,} small expression blobs ({size / n:.0f} B average), median of {args.runs} whole-process runs, "
              f"alternating; {os.cpu_count()} CPUs")
        print(f"  datafusion loop (decode + canonical_name): {med['df']:6.2f} s  {med['df'] / n * 1000:.3f} ms/blob")
        print(f"  exprtool inspect DIR --json              : {med['ours']:6.2f} s  "
              f"{med['ours'] / n * 1000:.3f} ms/blob")
        print(f"  exprtool inspect DIR --json --jobs 1     : {med['ours1']:6.2f} s  "
              f"{med['ours1'] / n * 1000:.3f} ms/blob")
        print(f"  ratio exprtool / datafusion: {med['ours'] / med['df']:.2f} (target <= 1); "
              f"--jobs 1: {med['ours1'] / med['df']:.2f}")
        print(f"  CPU seconds (user + system, median): datafusion {cpu_med['df']:.2f}, exprtool {cpu_med['ours']:.2f}, "
              f"--jobs 1 {cpu_med['ours1']:.2f} (ratio {cpu_med['ours1'] / cpu_med['df']:.2f}); 1-minute load "
              f"{min(loads):.1f}-{max(loads):.1f} during the runs")
        if args.jobs_sweep:
            names = sorted(os.listdir(root))
            for k in (16, 32, 64, 128, 256, 512):
                paths = [str(root / name) for name in names[:k]]
                one = statistics.median(run([EXPRTOOL, "inspect", *paths, "--json", "--jobs", "1"])
                                        for _ in range(args.runs))
                forced = {**os.environ, "EXPRTOOL_MIN_PARALLEL": "2"}  # a pool whatever the count
                many = statistics.median(run([EXPRTOOL, "inspect", *paths, "--json", "--jobs", "2"], forced)
                                         for _ in range(args.runs))
                print(f"  {k:4d} files: --jobs 1 {one * 1000:7.1f} ms   --jobs 2 {many * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
