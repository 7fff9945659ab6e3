"""Build tests/corpus/ from apache/datafusion-python's own tests: blobs nobody on this project wrote.

Extracts the upstream test suite (``python/tests`` at ``--rev`` of a local git copy of
apache/datafusion-python, plus the test data of its ``testing`` / ``parquet`` submodules when local copies
of apache/arrow-testing and apache/parquet-testing hold the pinned commits) into a scratch directory outside
this repository, runs it with this interpreter's pytest and tools/harvest_plugin.py, then runs the installed
wheel's doctests the same way (with the upstream root conftest.py, which gives them their namespace). The
plugin records every Expr the tests hand a DataFrame and every DataFrame's logical / optimized / physical
plan, with datafusion's own texts; each blob is then decoded by datafusion in a separate receiver process
(``python -I`` from an empty directory, a fresh SessionContext). Upstream code is run, never copied here:
only the records land in ``tests/corpus/corpus.jsonl.xz`` (one JSON object a line) and ``tests/corpus/manifest.json``.

What the upstream suite needs and this environment lacks contributes less instead of being installed: a
top-level ``import X`` of an absent module in a test file is made lazy in the scratch copy (the tests that
use X fail; the rest of the file runs), and numpy, absent from this venv, is borrowed read-only from the
base interpreter when it has one (said in the manifest). Tests needing the network fail as usual.

    .venv/bin/python tools/harvest_corpus.py            # defaults: the mirrors under /work/.mirror
    .venv/bin/python tools/harvest_corpus.py --upstream PATH/TO/datafusion-python/.git --no-doctests

Run by hand (not in CI): about 15 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import base64
import collections
import importlib.util
import io
import json
import lzma
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIRRORS = Path("/work/.mirror")
DEFAULT_UPSTREAM = MIRRORS / "apache+datafusion-python" / "repo"
#: submodule path in datafusion-python -> (default local copy, the parts of it the tests read)
SUBMODULES = {
    "testing": (MIRRORS / "apache+arrow-testing" / "repo", ["data/csv", "data/avro", "data/parquet"]),
    "parquet": (MIRRORS / "apache+parquet-testing" / "repo", ["data/alltypes_plain.parquet"]),
}
KINDS = ("expr", "logical", "optimized", "physical")
IMPORT_LINE = re.compile(r"^import (?P<module>[A-Za-z_][\w.]*)(?: as \w+)?$", re.MULTILINE)


def git(gitdir: Path, *args: str, binary: bool = False) -> bytes | str:
    out = subprocess.run(["git", "-C", str(gitdir), *args], check=True, capture_output=True)
    return out.stdout if binary else out.stdout.decode().strip()


def extract(gitdir: Path, rev: str, paths: list[str], dest: Path) -> None:
    data = git(gitdir, "archive", "--format=tar", rev, *paths, binary=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")


def extract_submodules(upstream: Path, rev: str, scratch: Path, copies: dict[str, Path]) -> list[str]:
    """Extract each submodule's test data at its pinned commit; returns what was (not) found, for the manifest."""
    notes = []
    for line in str(git(upstream, "ls-tree", rev, *SUBMODULES)).splitlines():
        _mode, _type, commit, path = line.split(maxsplit=3)
        gitdir = copies.get(path)
        try:
            if gitdir is None or not gitdir.exists():
                raise FileNotFoundError(f"no local copy of the {path} submodule")
            wanted = [p for p in SUBMODULES[path][1] if git(gitdir, "ls-tree", commit, p)]
            extract(gitdir, commit, wanted, scratch / path)
            notes.append(f"{path} @ {commit}: {', '.join(wanted)}")
        except (subprocess.CalledProcessError, FileNotFoundError) as err:
            notes.append(f"{path} @ {commit}: not available ({err}); the tests reading it contribute less")
    return notes


def borrow_numpy(shim: Path) -> str | None:
    """numpy from the base interpreter, symlinked onto the run's path when this venv has none."""
    if importlib.util.find_spec("numpy") is not None:
        return None
    base = Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"])
    found = [p for p in (base / "numpy", base / "numpy.libs") if p.exists()]
    if not found:
        return None
    shim.mkdir(parents=True, exist_ok=True)
    for p in found:
        (shim / p.name).symlink_to(p)
    versions = sorted(base.glob("numpy-*.dist-info"))
    return f"numpy borrowed from the base interpreter ({versions[-1].name if versions else base})"


def lazy_imports(tests: Path, shim: Path) -> list[str]:
    """Make each top-level ``import X`` of a module absent here lazy in the scratch copy of the tests."""
    sys.path.insert(0, str(shim))
    try:
        changed = []
        for path in sorted(tests.glob("*.py")):
            source = path.read_text()

            def lazy(m: re.Match, path: Path = path) -> str:
                module = m.group("module")
                try:
                    found = importlib.util.find_spec(module.split(".")[0]) is not None
                except (ImportError, ValueError):
                    found = False
                if found:
                    return m.group(0)
                changed.append(f"{path.name}: {m.group(0)}")
                return f"try:\n    {m.group(0)}\nexcept ImportError:\n    pass"

            path.write_text(IMPORT_LINE.sub(lazy, source))
        return changed
    finally:
        sys.path.remove(str(shim))


def run_pytest(scratch: Path, out: Path, pythonpath: list[Path], args: list[str]) -> str:
    env = dict(os.environ, HARVEST_OUT=str(out), PYTHONPATH=os.pathsep.join(map(str, pythonpath)))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:exprtool",
           "-p", "harvest_plugin", "--basetemp", str(scratch / "basetemp"), *args]
    done = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else f"pytest exited {done.returncode}: {done.stderr[-500:]}"


def load_records(path: Path, origin: str, site: str) -> list[dict]:
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    for r in records:
        if site and site in r["source"]:  # a doctest's node id, relative to wherever the wheel is installed
            r["source"] = "doctest:" + r["source"].split(site, 1)[1].lstrip("/")
        r["origin"] = origin
    return records


def receive(source: Path, dest: Path) -> None:
    """The receiver (run as ``python -I harvest_corpus.py --receive IN OUT`` from an empty directory: nothing
    of the upstream tests importable): decode every blob as a worker would, with a fresh SessionContext
    (built-ins only) for protobuf and ``pickle.loads`` for pickles, and write datafusion's text or error."""
    import pickle

    from datafusion import Expr, SessionContext
    from datafusion.plan import ExecutionPlan, LogicalPlan

    decoders = {
        "expr": lambda b, ctx: Expr.from_bytes(b, ctx).canonical_name(),
        "logical": lambda b, ctx: LogicalPlan.from_bytes(ctx, b).display_indent(),
        "physical": lambda b, ctx: ExecutionPlan.from_bytes(ctx, b).display_indent(),
    }
    with source.open() as src, dest.open("w") as out:
        for line in src:
            r = json.loads(line)
            blob = base64.b64decode(r["blob"])
            try:
                if r["form"] == "pickle":
                    text = pickle.loads(blob).canonical_name()  # noqa: S301 - upstream's own tests' objects
                else:
                    kind = "logical" if r["kind"] == "optimized" else r["kind"]
                    text = decoders[kind](blob, SessionContext())
                result = {"ok": True, "error": None, "text": text}
            except BaseException as err:  # noqa: BLE001 - the refusal is the datum
                result = {"ok": False, "error": f"{type(err).__name__}: {err}"[:2000], "text": None}
            out.write(json.dumps({"id": r["id"], "roundtrip": result}) + "\n")


def add_roundtrips(entries: list[dict], scratch: Path) -> None:
    """Fill each entry's ``roundtrip`` from the receiver process."""
    todo, done = scratch / "receive-in.jsonl", scratch / "receive-out.jsonl"
    todo.write_text("".join(json.dumps(e) + "\n" for e in entries if e["blob"] is not None))
    empty = scratch / "receiver"
    empty.mkdir()
    subprocess.run([sys.executable, "-I", str(Path(__file__).resolve()), "--receive", str(todo), str(done)],
                   cwd=empty, check=True, timeout=900)
    results = {r["id"]: r["roundtrip"] for r in map(json.loads, done.read_text().splitlines())}
    for e in entries:
        e["roundtrip"] = results.get(e["id"]) if e["blob"] is not None else None


def merge(runs: list[list[dict]]) -> list[dict]:
    """One entry per id (first seen wins, ``seen`` adds up), sorted by kind, form and id."""
    merged: dict[str, dict] = {}
    for records in runs:
        for r in records:
            if r["id"] in merged:
                merged[r["id"]]["seen"] += r["seen"]
            else:
                merged[r["id"]] = r
    return sorted(merged.values(), key=lambda r: (KINDS.index(r["kind"]), r["form"], r["id"]))


def counts(entries: list[dict]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = collections.defaultdict(collections.Counter)
    for e in entries:
        row = table[e["kind"]]
        row["entries"] += 1
        row[f"form_{e['form']}"] += 1
        if e["blob"] is None:
            row["encode_errors"] += 1
            continue
        row["blobs"] += 1
        row["blob_bytes"] += len(base64.b64decode(e["blob"]))
        row["roundtrip_ok" if e["roundtrip"]["ok"] else "roundtrip_failed"] += 1
    return {k: dict(sorted(table[k].items())) for k in KINDS if k in table}


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"datafusion": version("datafusion"), "pyarrow": version("pyarrow"),
            "pytest": version("pytest"), "python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", type=Path, default=DEFAULT_UPSTREAM, help="git dir of apache/datafusion-python")
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--arrow-testing", type=Path, default=SUBMODULES["testing"][0], help="git dir")
    ap.add_argument("--parquet-testing", type=Path, default=SUBMODULES["parquet"][0], help="git dir")
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "corpus")
    ap.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "exprtool-harvest",
                    help="wiped and rebuilt; a fixed path keeps the paths inside plans the same run to run")
    ap.add_argument("--no-doctests", action="store_true", help="skip the installed wheel's doctests")
    ap.add_argument("--receive", nargs=2, type=Path, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.receive:
        receive(*args.receive)
        return 0

    scratch = args.scratch.resolve()
    if ROOT in scratch.parents or scratch == ROOT:
        ap.error("--scratch must be outside this repository: upstream code is run, never copied here")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    commit = str(git(args.upstream, "rev-parse", args.rev))
    extract(args.upstream, commit, ["python/tests", "conftest.py"], scratch)
    data = extract_submodules(args.upstream, commit, scratch,
                              {"testing": args.arrow_testing, "parquet": args.parquet_testing})
    shim = scratch / "shim"
    borrowed = borrow_numpy(shim)
    lazy = lazy_imports(scratch / "python" / "tests", shim)
    tools = ROOT / "tools"

    print(f"upstream {commit}: running python/tests ...", file=sys.stderr)
    summary = {"tests": run_pytest(scratch, scratch / "tests.jsonl", [shim, tools], ["python/tests"])}
    runs = [load_records(scratch / "tests.jsonl", "tests", "")]
    import datafusion

    site = str(Path(datafusion.__file__).resolve().parent.parent)
    if not args.no_doctests:
        print("running the installed wheel's doctests ...", file=sys.stderr)
        wheel = str(Path(datafusion.__file__).resolve().parent)
        summary["doctests"] = run_pytest(
            scratch, scratch / "doctests.jsonl", [shim, tools, scratch],
            [wheel, "--doctest-modules", "-p", "conftest", "--rootdir", wheel,
             "-o", "doctest_optionflags=NORMALIZE_WHITESPACE ELLIPSIS"])
        runs.append(load_records(scratch / "doctests.jsonl", "doctests", site))
    entries = merge(runs)
    print(f"decoding {len(entries)} entries in a receiver process ...", file=sys.stderr)
    add_roundtrips(entries, scratch)

    args.out.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries).encode()
    corpus = args.out / "corpus.jsonl.xz"
    corpus.write_bytes(lzma.compress(payload, preset=9 | lzma.PRESET_EXTREME))
    manifest = {
        "what": "datafusion objects built by apache/datafusion-python's own tests and the wheel's doctests; "
        "every text and round-trip result in corpus.jsonl.xz was written by datafusion during the harvest",
        "upstream": {"repository": "apache/datafusion-python", "commit": commit,
                     "describe": str(git(args.upstream, "log", "-1", "--format=%s", commit))},
        "test_data": data,
        "environment": {**versions(), "borrowed": borrowed, "lazy_imports": lazy},
        "pytest": summary,
        "generator": "python tools/harvest_corpus.py" + (" --no-doctests" if args.no_doctests else ""),
        "roundtrip_receiver": "roundtrip: a fresh `python -I` process in an empty directory (nothing of the "
        "upstream tests importable), a fresh SessionContext() (built-ins only) per blob, pickle.loads for pickles; "
        "harness_roundtrip: the same decoding inside the test run",
        "reproducible": "counts, yes; ids and bytes, not all: tables made from Python data get random names and "
        "doctests write to fresh temporary directories, and both show in blobs and texts",
        "file": {"name": corpus.name, "bytes": corpus.stat().st_size, "uncompressed_bytes": len(payload),
                 "sampled": False},
        "counts": counts(entries),
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps({"pytest": summary, "counts": manifest["counts"], "bytes": manifest["file"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
