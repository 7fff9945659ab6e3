"""`exprtool inspect --jobs N` over many inputs: worker processes change nothing a reader sees. stdout and stderr
equal the in-process run byte for byte (input order kept), and the exit status is the same, on a directory that
mixes expressions, plans, pickles, damaged blobs (one damaged in its UDF stream only) and a suspicious one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from datafusion_exprtool.cli.bulk import MIN_PARALLEL
from support.cli import run_cli
from support.safety_corpus import REPO, hostile

from datafusion_exprtool.inspection.pipeline import inspect_bytes


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mixed")
    blobs = sorted((REPO / "fixtures" / "blobs").iterdir())
    for copy in range(5):  # enough inputs for a pool (cli/bulk.MIN_PARALLEL)
        for blob in blobs:
            shutil.copy(blob, root / f"{copy}-{blob.name}")
    first = blobs[0].read_bytes()
    (root / "1-damaged-cut.bin").write_bytes(first[: len(first) // 2])
    (root / "1-damaged-garbage.bin").write_bytes(b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
    udf = (REPO / "fixtures" / "blobs" / "udf_scalar_inline.expr.bin").read_bytes()
    at = udf.index(b"DFPYUDF") + 10 + 3  # the UDF stream's PROTO, then its FRAME's 8-byte length: 2**40
    (root / "1-damaged-frame.bin").write_bytes(udf[:at] + (2**40).to_bytes(8, "little") + udf[at + 8 :])
    case = next(c for c in hostile() if c.carrier == "pickle" and not c.gray)
    (root / "0-suspicious.pkl").write_bytes(case.build(root.parent / "canary"))
    assert inspect_bytes((root / "0-suspicious.pkl").read_bytes()).safety.verdict == "suspicious"
    return root


@pytest.mark.parametrize("fmt", [[], ["--json"], ["--format", "ndjson"], ["--no-tree", "--fail-on", "suspicious"]],
                         ids=["text", "json", "ndjson", "fail-on"])
def test_workers_write_what_one_process_writes(mixed: Path, fmt: list[str]) -> None:
    assert len(list(mixed.iterdir())) >= MIN_PARALLEL  # --jobs 2 really starts workers
    one = run_cli("inspect", str(mixed), *fmt, "--jobs", "1")
    two = run_cli("inspect", str(mixed), *fmt, "--jobs", "2")
    assert two.stdout == one.stdout
    assert two.stderr == one.stderr
    assert two.exit_code == one.exit_code == 3  # the damaged blobs: worst across inputs
    assert one.stderr.count("cannot decode") == 3
    assert "1-damaged-frame.bin: cannot decode: cloudpickle layer at byte " in one.stderr  # inner damage: exit 3
    names = sorted(p.name for p in mixed.iterdir())
    if "--json" in fmt:
        import json

        docs = json.loads(one.stdout)
        assert [d["input"]["path"].rsplit("/", 1)[-1] for d in docs] == names  # input order
        assert any(d.get("safety", {}).get("verdict") == "suspicious" for d in docs)


def test_suspicious_alone_fails_the_gate_in_workers(mixed: Path, tmp_path: Path) -> None:
    """Without damaged inputs the worst status is the suspicious blob's 1, with workers as without."""
    root = tmp_path / "clean"
    shutil.copytree(mixed, root, ignore=shutil.ignore_patterns("*damaged*"))
    for jobs in ("1", "2"):
        r = run_cli("inspect", str(root), "--json", "--fail-on", "suspicious", "--jobs", jobs)
        assert r.exit_code == 1, r.stderr


def test_jobs_must_be_positive(mixed: Path) -> None:
    r = run_cli("inspect", str(mixed), "--jobs", "0")
    assert r.exit_code == 2 and "--jobs" in r.stderr


@pytest.mark.parametrize("jobs", ["3", "7"])
@pytest.mark.parametrize("fmt", [["--json"], ["--format", "markdown"]], ids=["json", "markdown"])
def test_more_workers_keep_input_order(mixed: Path, fmt: list[str], jobs: str) -> None:
    """More workers than two (uneven chunks): still one process's bytes."""
    one = run_cli("inspect", str(mixed), *fmt, "--jobs", "1")
    many = run_cli("inspect", str(mixed), *fmt, "--jobs", jobs)
    assert (many.stdout, many.stderr, many.exit_code) == (one.stdout, one.stderr, one.exit_code)
