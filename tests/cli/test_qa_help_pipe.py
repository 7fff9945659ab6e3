"""Regression found by a QA sweep: help text to a reader that left (``exprtool eval --help | head -1``) ends
like every other output to a closed pipe, with exit 141 and nothing on stderr."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ENTRY = [sys.executable, "-m", "datafusion_exprtool.cli.entry"]


@pytest.mark.parametrize("args", [["--help"], ["eval", "--help"], ["inspect", "--help"], ["--version"]],
                         ids=["root", "eval", "inspect", "version"])  # fmt: skip
def test_help_to_a_closed_pipe_is_141(args: list[str]) -> None:
    """Typer prints help with a plain rich console, whose answer to a closed pipe is exit 1 ("findings")."""
    read, write = os.pipe()
    os.close(read)  # the reader left before the first byte
    try:
        p = subprocess.run([*ENTRY, *args], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert (p.returncode, p.stderr) == (141, "")


def test_help_to_devnull_is_still_0() -> None:
    """stdout that is /dev/null from the start is no closed pipe."""
    p = subprocess.run([*ENTRY, "eval", "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0
