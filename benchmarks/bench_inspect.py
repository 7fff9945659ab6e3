"""Benchmark `exprtool inspect --json` against datafusion's own decode, as whole processes.

    python benchmarks/bench_inspect.py [--runs 7] [--big-n 1000000]

1. A ~1 KB inline-UDF pickle: `exprtool inspect --json` vs `python -c "import datafusion; pickle.loads(blob)"`.
   Target: ratio < 1 (inspect must not import datafusion or pyarrow).
2. A ~10 MB pickle (an IN list of 1M int64 literals): `exprtool inspect --json` vs a process that decodes
   with datafusion and calls canonical_name(). Target: ratio <= 3; peak RSS increase < 10x the blob.
Blobs are built with the installed datafusion and cached under benchmarks/.cache/.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
PY = sys.executable
EXPRTOOL = shutil.which("exprtool", path=os.path.dirname(PY)) or "exprtool"


def build_udf_blob() -> Path:
    path = CACHE / "udf_1kb.pkl"
    if not path.exists():
        import pyarrow as pa
        from datafusion import col, udf

        double = udf(lambda a: pa.compute.multiply(a, 2), [pa.int64()], pa.int64(), "immutable", "double_it")
        path.write_bytes(pickle.dumps(double(col("a"))))
    return path


def build_big_blob(n: int) -> Path:
    path = CACHE / f"in_list_{n}.pkl"
    if not path.exists():
        import pyarrow as pa
        from datafusion import Expr, SessionContext

        ctx = SessionContext()
        ctx.register_record_batches("t", [[pa.record_batch({"a": pa.array([1], pa.int64())})]])
        sql = "select a in (" + ",".join(map(str, range(n))) + ") from t"
        raw = ctx.sql(sql).logical_plan().to_variant().projections()[0]
        path.write_bytes(pickle.dumps(Expr(raw)))
    return path


#: runs one command and prints its wall time, exit code and peak RSS: a fresh, small process between this one and
#: the command measured. Linux folds the peak RSS of the memory a process had before ``execve`` into its
#: ``ru_maxrss``, and subprocess starts a command with vfork (it runs in this process's memory until it execs):
#: a command started from here reports at least this process's own peak, which building the 1M-literal blob
#: takes to ~690 MiB, so every command read the same figure. The wrapper forks (its child gets a copy of the
#: wrapper's small memory, not a share of it): the floor is ~7 MiB, below a bare interpreter's ~11 MiB, and
#: `python -c pass` reads as GNU time's `%M` reads it.
MEASURE = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall time (s) and peak RSS (KiB) of one child process, measured by a fresh wrapper (MEASURE)."""
    proc = subprocess.run([PY, "-c", MEASURE, *cmd], capture_output=True, text=True)
    wall, code, maxrss = proc.stdout.split() if proc.returncode == 0 else ("0", "-1", "0")
    if int(code) not in (0, 1):
        raise SystemExit(f"{cmd} failed: {proc.stderr[-2000:]}")
    return float(wall), int(maxrss)


def measure(cmd: list[str], runs: int) -> tuple[float, int]:
    results = [run(cmd) for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def paired(a: list[str], b: list[str], runs: int) -> tuple[tuple[float, int], tuple[float, int], float]:
    """Both commands, alternately (a load that comes and goes hits both): their medians and peaks, and the
    median of the per-pair ratios b / a."""
    pairs = [(run(a), run(b)) for _ in range(runs)]
    out = [(statistics.median(p[i][0] for p in pairs), max(p[i][1] for p in pairs)) for i in (0, 1)]
    return out[0], out[1], statistics.median(pb[0] / pa[0] for pa, pb in pairs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--big-runs", type=int, default=3)
    ap.add_argument("--big-n", type=int, default=1_000_000)
    args = ap.parse_args()
    CACHE.mkdir(exist_ok=True)
    # pip compiles an installed package's bytecode; an editable checkout under PYTHONDONTWRITEBYTECODE=1
    # would recompile every module on every run, which no installed exprtool does
    root = Path(__file__).resolve().parent.parent
    subprocess.run([PY, "-m", "compileall", "-q", str(root / "datafusion_exprtool"), str(root / "cli")],
                   check=True, stdout=subprocess.DEVNULL)

    small = build_udf_blob()
    df_cmd = [PY, "-c", f"import pickle, datafusion; pickle.loads(open({str(small)!r}, 'rb').read())"]
    ours = [EXPRTOOL, "inspect", "--json", str(small)]
    run(ours)
    run(df_cmd)  # warm the page cache
    (t_df, _), (t_ours, _), pair_ratio = paired(df_cmd, ours, args.runs)
    print(f"small UDF pickle ({small.stat().st_size} B), median of {args.runs} whole-process runs, alternating")
    print(f"  datafusion import + decode : {t_df * 1000:7.1f} ms")
    print(f"  exprtool inspect --json    : {t_ours * 1000:7.1f} ms")
    print(f"  ratio exprtool / datafusion: {t_ours / t_df:.2f}  (target < 1); median per-pair ratio {pair_ratio:.2f}")

    big = build_big_blob(args.big_n)
    size = big.stat().st_size
    df_big = [PY, "-c", f"import pickle, datafusion; pickle.loads(open({str(big)!r}, 'rb').read()).canonical_name()"]
    ours_big = [EXPRTOOL, "inspect", "--json", str(big)]
    _, base_rss = measure([PY, "-c", "pass"], 3)
    (t_df, rss_df), (t_ours, rss_ours), _ = paired(df_big, ours_big, args.big_runs)
    print(f"\nIN list of {args.big_n:,} literals ({size / 1e6:.1f} MB pickle), median of {args.big_runs} runs")
    print(f"  datafusion decode + canonical_name: {t_df:6.2f} s  peak RSS {rss_df / 1024:7.1f} MiB")
    print(f"  exprtool inspect --json           : {t_ours:6.2f} s  peak RSS {rss_ours / 1024:7.1f} MiB")
    print(f"  ratio exprtool / datafusion       : {t_ours / t_df:.2f}  (target <= 3)")
    increase = (rss_ours - base_rss) * 1024
    print(f"  exprtool peak RSS above a bare interpreter: {increase / size:.1f}x the blob  (target < 10x)")
    print(f"  exprtool peak RSS, whole process:          {rss_ours * 1024 / size:.1f}x the blob")


if __name__ == "__main__":
    main()
