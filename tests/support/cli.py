"""The exprtool command line, run in-process for tests."""

from __future__ import annotations

from typing import Any


def run_cli(*args: str, input: str | bytes | None = None, columns: int = 80) -> Any:
    """``exprtool *args`` through typer's CliRunner; an exception other than SystemExit is a crash: it fails.

    The width is pinned (COLUMNS) so a runner's own terminal settings cannot change where panels wrap.
    """
    from datafusion_exprtool.cli.main import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, list(args), input=input, env={"COLUMNS": str(columns)})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result
