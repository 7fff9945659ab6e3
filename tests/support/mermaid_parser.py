"""Mermaid's own parser, run under node: the check that exprtool's diagrams are Mermaid GitHub can draw.

The npm packages (``mermaid`` and ``jsdom``, pinned with their lock file in tests/support/mermaid/) are
installed with ``npm ci`` into a cache directory outside the checkout on first use and reused after that
(``EXPRTOOL_TEST_CACHE`` moves it). Without npm the caller skips; with npm, an install that fails is a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent / "mermaid"
PINNED = ("package.json", "package-lock.json")


def available() -> bool:
    return shutil.which("npm") is not None and shutil.which("node") is not None


def install() -> Path:
    """The directory holding node_modules and parse.mjs, installed once per lock file."""
    digest = hashlib.sha256(b"".join((HERE / name).read_bytes() for name in PINNED)).hexdigest()[:16]
    base = Path(os.environ.get("EXPRTOOL_TEST_CACHE") or Path.home() / ".cache" / "exprtool-tests")
    where = base / f"mermaid-{digest}"
    if not (where / "node_modules" / "mermaid" / "package.json").exists():
        where.mkdir(parents=True, exist_ok=True)
        for name in PINNED:
            shutil.copyfile(HERE / name, where / name)
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                              cwd=where, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"npm ci of mermaid failed in {where}: {done.stderr[-2000:]}")
    shutil.copyfile(HERE / "parse.mjs", where / "parse.mjs")  # ESM resolves packages beside the script
    return where


def parse(diagrams: list[str], where: Path) -> list[dict]:
    """``mermaid.parse`` of each diagram: [{ok, type, error}]."""
    done = subprocess.run(["node", str(where / "parse.mjs")], input=json.dumps(diagrams), capture_output=True,
                          text=True, timeout=600, cwd=where)
    if done.returncode != 0:
        raise RuntimeError(f"node parse.mjs failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)
