"""Benchmark `exprtool eval --isolate none -o out.parquet` against a plain datafusion script.

Prints wall-time and peak-memory ratios (exprtool / plain script) on a Parquet file of --rows rows, the
peak-memory growth when the input grows 4x, and the fixed start-up cost spawn isolation adds.
Inputs are generated once and cached under benchmarks/.cache/ (git-ignored).

Both sides write the same Parquet: datafusion-python's ``DataFrame.write_parquet`` default (zstd, level 4),
1,048,576-row row groups. The plain script calls ``write_parquet(path)`` with no options; exprtool writes the
same settings (``actions/eval/output.py: PARQUET_COMPRESSION``), and with ``-q`` and no ``--expect`` it lets
datafusion write the file. The plain script and exprtool run alternately (``--repeat`` pairs), so a load
that changes during the run hits both; the medians are compared. The growth of a bare datafusion scan (an ``execute_stream()`` loop, nothing written) is measured too:
datafusion 55's scan keeps about one resident byte per compressed byte it has read, until the scan ends,
so the part of exprtool's growth that is its own is the growth beyond that scan's.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_eval.py --rows 20000000
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
EXE = [sys.executable, "-m", "datafusion_exprtool.cli.entry"]

PLAIN = """
import pickle, sys
from datafusion import SessionContext
expr = pickle.loads(open(sys.argv[1], "rb").read())
df = SessionContext().read_parquet(sys.argv[2]).select(expr.alias(expr.schema_name()))
df.write_parquet(sys.argv[3])
"""

SCAN = """
import pickle, sys
from datafusion import SessionContext
expr = pickle.loads(open(sys.argv[1], "rb").read())
for batch in SessionContext().read_parquet(sys.argv[2]).select(expr.alias(expr.schema_name())).execute_stream():
    batch.to_pyarrow()
"""

#: the same scan, repeated in one process: anonymous RSS after each, then after datafusion's I/O threads idle out
REPEAT_SCAN = """
import pickle, sys, time
from datafusion import SessionContext
def anon():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("RssAnon")) * 1024
expr = pickle.loads(open(sys.argv[1], "rb").read())
def scan():
    for batch in SessionContext().read_parquet(sys.argv[2]).select(expr.alias(expr.schema_name())).execute_stream():
        pass
scan()
first = anon()
for _ in range(4):
    scan()
after = anon()
time.sleep(12)
print(first, after, anon())
"""


def make_parquet(rows: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = CACHE / f"eval_{rows}.parquet"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    chunk = 1 << 20
    schema = pa.schema([("a", pa.int64()), ("b", pa.float64())])
    with pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            a = pa.array(range(start, start + n), pa.int64())
            writer.write_table(pa.table({"a": a, "b": a.cast(pa.float64())}, schema=schema))
    tmp.rename(path)
    return path


def make_blob() -> Path:
    from datafusion import col, lit

    path = CACHE / "eval_expr.pkl"
    path.write_bytes(pickle.dumps(col("a") * lit(2) + col("b")))
    return path


def measure(cmd: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes) of one child process."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()}")
    proc.stderr.close()
    return wall, usage.ru_maxrss * 1024  # Linux reports KiB


def best(cmd: list[str], repeat: int) -> tuple[float, int]:
    runs = [measure(cmd) for _ in range(repeat)]
    return statistics.median(w for w, _ in runs), max(m for _, m in runs)


def paired(a: list[str], b: list[str], repeat: int) -> tuple[tuple[float, int], tuple[float, int], float]:
    """``best`` of two commands run alternately (a, b, a, b, ...), and the median of the b/a wall ratios.

    With other work on the machine one run can vary by +-15%: the per-pair ratio is the steadier figure.
    """
    runs = [(measure(a), measure(b)) for _ in range(repeat)]
    ab = [(statistics.median(r[i][0] for r in runs), max(r[i][1] for r in runs)) for i in (0, 1)]
    return ab[0], ab[1], statistics.median(rb[0] / ra[0] for ra, rb in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--retention", action="store_true", help="Also measure what repeated scans keep resident in one process."
    )
    args = ap.parse_args()
    big, small = make_parquet(args.rows), make_parquet(args.rows // 4)
    tiny = make_parquet(1000)
    blob = make_blob()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.parquet")
        plain = [sys.executable, "-c", PLAIN, str(blob), str(big), out]
        tool = [*EXE, "eval", str(blob), str(big), "--isolate", "none", "-o", out, "--force", "-q"]
        tool_small = [*EXE, "eval", str(blob), str(small), "--isolate", "none", "-o", out, "--force", "-q"]
        load = os.getloadavg()[0]
        (p_wall, p_mem), (t_wall, t_mem), pair_ratio = paired(plain, tool, args.repeat)
        spawn = [c for c in tool if c not in ("--isolate", "none")]  # eval's default: an isolated worker
        (ps_wall, _), (sp_wall, _), spawn_ratio = paired(plain, spawn, args.repeat)
        tiny_spawn_pair = paired([*plain[:4], str(tiny), out], [str(tiny) if c == str(big) else c for c in spawn], 7)
        tiny_out = [str(tiny) if c == str(big) else c for c in tool]
        (tp_wall, _), (tt_wall, _), _ = paired([*plain[:4], str(tiny), out], tiny_out, 7)
        s_wall, s_mem = best(tool_small, args.repeat)
        ps_mem = best([sys.executable, "-c", PLAIN, str(blob), str(small), out], args.repeat)[1]
        scan_mem = best([sys.executable, "-c", SCAN, str(blob), str(big)], args.repeat)[1]
        scan_small = best([sys.executable, "-c", SCAN, str(blob), str(small)], args.repeat)[1]
        tiny_none = best([*EXE, "eval", str(blob), str(tiny), "--isolate", "none", "-f", "csv", "-q"], 5)[0]
        tiny_spawn = best([*EXE, "eval", str(blob), str(tiny), "--isolate", "spawn", "-f", "csv", "-q"], 5)[0]
    mb = 1 / (1 << 20)
    print(f"load average at start: {load:.2f}, at end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"input: {args.rows:,} rows ({big.stat().st_size * mb:.0f} MiB); expression a * 2 + b")
    print(f"plain datafusion script : {p_wall:7.2f} s  peak {p_mem * mb:7.0f} MiB")
    print(f"exprtool eval (none)    : {t_wall:7.2f} s  peak {t_mem * mb:7.0f} MiB")
    print(
        f"wall-time ratio         : {t_wall / p_wall:.3f}  (target <= 1.05; medians of {args.repeat} runs each)"
    )
    print(f"  median per-pair ratio : {pair_ratio:.3f}  (runs alternate: plain, exprtool, plain, ...)")
    fixed = tt_wall - tp_wall
    print(
        f"  fixed start-up        : {fixed:+.3f} s  (1,000 rows: plain {tp_wall:.2f} s, exprtool {tt_wall:.2f} s): "
        f"ratio {1 + fixed / p_wall:.3f} from start-up alone at this size"
    )
    print(
        f"default (--isolate spawn): {sp_wall:6.2f} s vs plain {ps_wall:.2f} s: ratio {sp_wall / ps_wall:.3f}, per-pair "
        f"median {spawn_ratio:.3f}; fixed start-up {tiny_spawn_pair[1][0] - tiny_spawn_pair[0][0]:+.3f} s "
        f"(1,000 rows: plain {tiny_spawn_pair[0][0]:.2f} s, exprtool {tiny_spawn_pair[1][0]:.2f} s)"
    )
    print(f"peak-memory ratio       : {t_mem / p_mem:.3f}  (target <= 1.20)")
    print(f"exprtool on {args.rows // 4:,} rows: {s_wall:.2f} s, peak {s_mem * mb:.0f} MiB")
    print(f"peak-memory growth 4x input: {t_mem / s_mem:.3f}  (target <= 1.20)")
    print(f"  plain script growth   : {p_mem / ps_mem:.3f}  ({ps_mem * mb:.0f} -> {p_mem * mb:.0f} MiB)")
    print(
        f"  bare datafusion scan  : {scan_mem / scan_small:.3f}  ({scan_small * mb:.0f} -> {scan_mem * mb:.0f} MiB, "
        f"execute_stream loop, nothing written)"
    )
    own = (t_mem - s_mem) - (scan_mem - scan_small)
    print(f"  exprtool growth beyond the scan's: {own * mb:+.0f} MiB")
    print(
        f"spawn start-up cost     : {tiny_spawn - tiny_none:+.3f} s  (tiny input: none {tiny_none:.2f} s, "
        f"spawn {tiny_spawn:.2f} s)"
    )
    if args.retention:
        res = subprocess.run([sys.executable, "-c", REPEAT_SCAN, str(blob), str(small)], capture_output=True)
        first, after, idle = (int(x) for x in res.stdout.split())
        print(
            f"datafusion scans of {args.rows // 4:,} rows repeated in one process: "
            f"{(after - first) / 4 * mb:+.0f} MiB anonymous RSS per scan; "
            f"{(idle - first) * mb:+.0f} MiB against the first scan after 12 s idle"
        )


if __name__ == "__main__":
    main()
