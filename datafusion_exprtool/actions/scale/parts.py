"""``-o DIR/`` with ``--workers N`` / ``--engine ray``: every worker writes its results as Parquet parts.

The parts go to a temporary directory beside DIR (``atomic.AtomicDirectory``) and the whole directory is
renamed into place at the end: a reader sees the old DIR or the whole new one, never half of it, and a
failure leaves nothing behind. ``part-00000.parquet``, ``part-00001.parquet``… follow the input's order (a
project or filter) or the hash buckets (a shuffle); datafusion, pyarrow and Spark read the directory as
one table. Each part is written by datafusion itself, in the worker, so the encoding runs on every worker
instead of the driver alone. With Ray the directory must be on a filesystem every node mounts.
"""

from __future__ import annotations

import os

from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.sandbox.failure import fail

PARTS = "parts"  # EvalJob.output_format of a directory of parts


def wants_parts(output: str | None) -> bool:
    """``-o`` names a directory: a path ending with a separator, or an existing directory."""
    return bool(output) and (output.endswith(os.sep) or os.path.isdir(output))  # type: ignore[union-attr]


def check_parts_target(path: str, force: bool, limit: int | None) -> None:
    """Refuse a parts directory before any work: a missing parent, an existing one without --force."""
    if limit is not None:
        raise fail("input", "--limit cuts one result; -o DIR/ writes one part per task",
                   hint="write a file (-o out.parquet) to use --limit", exit_code=ExitCode.USAGE)  # fmt: skip
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise fail("write", f"directory {parent} does not exist", file=path, exit_code=ExitCode.USAGE)
    if os.path.lexists(path) and not force:
        raise fail("write", f"{path} exists", file=path, exit_code=ExitCode.USAGE, hint="pass --force to replace it")
    if os.path.lexists(path) and not os.path.isdir(path):
        raise fail("write", f"{path} is a file; -o DIR/ writes a directory of parts", file=path,
                   exit_code=ExitCode.USAGE)  # fmt: skip


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"
