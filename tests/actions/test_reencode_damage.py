"""reencode on a blob whose damage makes datafusion's decoder panic: one line and exit 4, never a traceback.

A Rust panic reaches Python as pyo3's ``PanicException``, a ``BaseException``: an ``except Exception`` lets it
through to the top of the program. The blob is a fixture with one bit flipped (a nested literal's buffer
moved past its body, as tests/reports/test_check_payload_damage.py's "literal-buffer-past-body"); datafusion
itself decodes it in a child process to show it panics.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import run_cli
from support.decoding import decode_all

from datafusion_exprtool.errors import ExitCode


def _panicking_blob(blobs: Path, tmp: Path) -> Path:
    data = bytearray((blobs / "literal_list.expr.bin").read_bytes())
    data[140] ^= 2
    path = tmp / "literal_list.flip140.bin"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("extra", [[], ["--trust"], ["--verify"], ["--to", "pickle"]])
def test_decoder_panic_is_one_line_and_exit_4(fixture_set, tmp_path: Path, extra: list[str]) -> None:
    blobs, _ = fixture_set
    path = _panicking_blob(blobs, tmp_path)
    (said,) = decode_all([(path, "expr")])
    assert said is not None and said.startswith("PanicException"), said
    out = tmp_path / "out.bin"
    result = run_cli("reencode", str(path), "-o", str(out), *extra)
    assert result.exit_code == ExitCode.EVAL_FAILED, result.output
    assert "Traceback" not in result.output and not out.exists()
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("exprtool")]
    assert "Rust panic" in line and "the offset of the new Buffer cannot exceed the existing length" in line
    assert "literal-value-corrupt" in line  # the catalog's name for it, as eval gives


def test_decoder_panic_report_is_the_only_stderr_line(fixture_set, tmp_path: Path) -> None:
    """Rust prints the panic (and with RUST_BACKTRACE its backtrace) straight to file descriptor 2; the one
    line exprtool writes already says it, so a real process's stderr holds that line alone."""
    import os
    import subprocess
    import sys

    blobs, _ = fixture_set
    path = _panicking_blob(blobs, tmp_path)
    env = {**os.environ, "RUST_BACKTRACE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "datafusion_exprtool", "reencode", str(path), "-o", str(tmp_path / "o.bin")],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == ExitCode.EVAL_FAILED
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("exprtool: datafusion failed to decode: Rust panic"), lines
