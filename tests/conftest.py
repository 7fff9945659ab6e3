"""Session fixtures: the sample blobs with their manifest (datafusion's own answers) and the parquet file.

The committed blobs stamp the sender's Python minor and the datafusion version; when the running
interpreter differs, the generator writes a fresh set into a temporary directory instead.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from support.repo import FIXTURES, regenerate


@pytest.fixture(scope="session")
def fixture_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(blob directory, manifest) matching the running Python minor and datafusion version."""
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    running = (f"{sys.version_info.major}.{sys.version_info.minor}", version("datafusion"))
    if (manifest["python"], manifest["datafusion"]) == running:
        return FIXTURES / "blobs", manifest
    out = tmp_path_factory.mktemp("fixture_set") / "blobs"
    return out, regenerate(out)


@pytest.fixture(scope="session")
def small_parquet() -> Path:
    return FIXTURES / "data" / "small.parquet"
