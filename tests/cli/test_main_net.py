"""The program's last net (``cli.main.main``): whatever escapes a command is one line and exit 3, never a
traceback — including what is not an ``Exception``."""

from __future__ import annotations

import subprocess
import sys

RAISE_FROM_THE_COMMAND = """
import sys
import datafusion_exprtool.cli.main as m

class PanicException(BaseException):  # pyo3's panic type (a Rust panic inside datafusion) is a BaseException
    pass

def app_that_panics(only):
    def run(**kwargs):
        raise PanicException("index out of bounds: the len is 0 but the index is 3")
    return run

m.make_app = app_that_panics
sys.argv = ["exprtool", "inspect", "blob.bin"]
m.main()
"""


def test_a_base_exception_from_a_command_is_one_line() -> None:
    """``except Exception`` let pyo3's PanicException through as a traceback (reencode met one, fixed there;
    the net now holds for every command)."""
    p = subprocess.run([sys.executable, "-c", RAISE_FROM_THE_COMMAND], capture_output=True, text=True)
    assert p.returncode == 3, p.stderr
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" in lines[0]
    assert "PanicException: index out of bounds" in lines[0]
