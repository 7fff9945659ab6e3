"""Regressions found by a QA sweep over `exprtool inspect --jobs N` as a process (the console entry point,
the pool, the exit without teardown): what a reader of stdout and stderr together sees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.safety_corpus import REPO

ENTRY = [sys.executable, "-m", "datafusion_exprtool.cli.entry"]


@pytest.fixture(scope="module")
def damaged_among_good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Blobs, every fifth one cut short (datafusion refuses it too), so that a pool's runs of inputs hold
    both."""
    root = tmp_path_factory.mktemp("interleaved")
    blobs = [p for p in sorted((REPO / "fixtures" / "blobs").iterdir()) if p.suffix == ".bin"][:40]
    for i, blob in enumerate(blobs):
        data = blob.read_bytes()
        (root / f"{i:03}-{blob.name}").write_bytes(data[: len(data) // 2] if i % 5 == 3 else data)
    return root


@pytest.mark.parametrize("fmt", [[], ["--format", "ndjson"], ["--format", "markdown"]],
                         ids=["text", "ndjson", "markdown"])  # fmt: skip
def test_workers_interleave_stderr_as_one_process_does(damaged_among_good: Path, fmt: list[str]) -> None:
    """stdout and stderr to one place (a terminal, ``> log 2>&1``): each input's line on stderr comes where the
    in-process run writes it, not ahead of the outputs of the other inputs of its worker's run."""
    env = {**os.environ, "EXPRTOOL_MIN_PARALLEL": "2", "COLUMNS": "100"}  # a pool for 40 inputs

    def run(jobs: str) -> subprocess.CompletedProcess:
        return subprocess.run([*ENTRY, "inspect", str(damaged_among_good), *fmt, "--jobs", jobs],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=120)  # fmt: skip

    from datafusion_exprtool.cli.bulk import split_runs

    assert max(len(r) for r in split_runs(sorted(map(str, damaged_among_good.iterdir())), 2)) > 1  # runs of inputs
    one, two = run("1"), run("2")
    assert one.returncode == two.returncode == 3
    assert one.stdout.count(b"cannot decode") == 8
    assert two.stdout == one.stdout



@pytest.mark.parametrize("stdin_args", [["-"], ["-", "DIR", "-"]], ids=["first", "twice"])
def test_a_blob_on_stdin_among_many_is_read_in_a_pool_too(damaged_among_good: Path, stdin_args: list[str]) -> None:
    """``exprtool inspect - DIR``: a pool worker's stdin is /dev/null (multiprocessing closes it), so the blob
    piped in read as empty there ("stdin is empty", exit 3); one process reads it once (a second "-" reads
    nothing)."""
    import pickle

    from datafusion import col, lit

    blob = pickle.dumps(col("a") * lit(2))
    env = {**os.environ, "EXPRTOOL_MIN_PARALLEL": "2"}
    args = [str(damaged_among_good) if a == "DIR" else a for a in stdin_args]
    if "DIR" not in stdin_args:
        args.append(str(damaged_among_good))

    def run(jobs: str) -> subprocess.CompletedProcess:
        return subprocess.run([*ENTRY, "inspect", *args, "--format", "ndjson", "--jobs", jobs], input=blob,
                              capture_output=True, env=env, timeout=120)  # fmt: skip

    one, two = run("1"), run("2")
    assert b'"path": "-", "size": %d' % len(blob) in one.stdout.split(b"\n", 1)[0]  # what datafusion pickled
    assert (two.stdout, two.stderr, two.returncode) == (one.stdout, one.stderr, one.returncode)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_closed_stdin_is_an_empty_one(damaged_among_good: Path, jobs: str) -> None:
    """``exprtool inspect - DIR <&-`` (no sys.stdin at all) was an internal error (AttributeError, exit 3)."""
    env = {**os.environ, "EXPRTOOL_MIN_PARALLEL": "2"}
    p = subprocess.run([*ENTRY, "inspect", "-", str(damaged_among_good), "-f", "ndjson", "--jobs", jobs],
                       capture_output=True, text=True, env=env, timeout=120,
                       preexec_fn=lambda: os.close(0))  # noqa: PLW1509 - the child's stdin closed, as `<&-` does
    assert p.returncode == 3
    assert p.stderr.startswith("exprtool: -: cannot decode: container layer: stdin is empty"), p.stderr
    assert "internal error" not in p.stderr
