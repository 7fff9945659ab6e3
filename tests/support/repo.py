"""The repository's own files the tests read: its root, the sample blobs (fixtures/) and their generator,
and the scripts of tools/."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
TOOLS = ROOT / "tools"


def regenerate(out: Path) -> dict:
    """Run fixtures/generate.py into ``out`` (a new process: its UDFs must live in ``__main__``)."""
    subprocess.run(
        [sys.executable, str(FIXTURES / "generate.py"), "--out", str(out)], check=True, capture_output=True
    )
    return json.loads((out.parent / "manifest.json").read_text())


def load_tool(name: str) -> Any:
    """A script of tools/ (a table generator) as a module, for tests that compare its output."""
    path = TOOLS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a dataclass in the script looks its module up while the class is built
    spec.loader.exec_module(module)
    return module


def committed_fixtures_match() -> bool:
    """The running Python minor and datafusion version are the ones the committed blobs were made with (the
    documented outputs of the README and docs are theirs; conftest's ``fixture_set`` regenerates otherwise)."""
    from importlib.metadata import version

    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    running = (f"{sys.version_info.major}.{sys.version_info.minor}", version("datafusion"))
    return (manifest["python"], manifest["datafusion"]) == running
