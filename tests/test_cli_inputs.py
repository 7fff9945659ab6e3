"""A path that cannot be read is a usage error (exit 2) in every command, said as "cannot read"; bytes that do
not decode stay exit 3 (QA: check/diff/reencode/eval said "cannot decode: container layer" with exit 3)."""

from __future__ import annotations

from pathlib import Path

from blobtools import run_cli


def test_unreadable_paths_are_usage_errors(fixture_set, tmp_path: Path) -> None:
    blobs, _ = fixture_set
    blob = str(blobs / "column.expr.bin")
    data = str(Path(blobs).parent / "data" / "small.parquet")
    missing = str(tmp_path / "missing.bin")
    for args in (
        ["check", missing],
        ["diff", missing, blob],
        ["reencode", missing, "-o", str(tmp_path / "o.bin")],
        ["reencode", str(tmp_path), "-o", str(tmp_path / "o.bin")],
        ["eval", missing, data],
        ["eval", str(tmp_path), data],
        ["inspect", missing],
    ):
        r = run_cli(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "cannot decode" not in r.stderr and "Traceback" not in r.output, (args, r.stderr)
    r = run_cli("check", data)  # a Parquet file given as a blob: readable, not a blob
    assert r.exit_code == 3 and "cannot decode" in r.stderr and "Parquet" in r.stderr
