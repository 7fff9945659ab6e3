"""What the docs show is what the tool does: every command in a ```bash block of README.md and docs/*.md runs,
and exits with the status the docs give it.

The convention (docs/commands.md, "How these examples are tested"): each line of a ```bash block is a command,
run in order from one scratch directory per document (it holds a link to fixtures/, so the repository's paths
work and nothing is written into the checkout), with the installed ``exprtool`` and ``python`` first on PATH.
A command exits 0 unless its trailing comment starts with ``exit N``. A ```bash setup block (creating the
virtualenv, installing) is not run, except for its ``exprtool`` commands: the test environment is the installed
one, and installing is CI's own first step.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.repo import ROOT, committed_fixtures_match

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```bash( setup)?\n(.*?)^```$", re.S | re.M)
EXIT = re.compile(r"#\s*exit (\d+)\b")


@dataclass
class Command:
    line: str  # as the document shows it
    run: str  # what the shell runs
    status: int  # the exit status the document gives it


def comment_start(line: str) -> int | None:
    """Where the line's trailing comment starts (a ``#`` outside quotes, after a space), or None."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return i
    return None


def commands(text: str) -> list[Command]:
    """The commands a document shows, in order, with their expected exit statuses."""
    found = []
    for fence in FENCE.finditer(text):
        setup = fence.group(1) is not None
        for line in fence.group(2).splitlines():
            cut = comment_start(line)
            run = (line if cut is None else line[:cut]).strip()
            if not run:
                continue
            expected = EXIT.match(line[cut:]) if cut is not None else None
            status = int(expected.group(1)) if expected else 0
            if setup:
                for part in run.split("&&"):
                    part = part.strip()
                    if "exprtool " in part and "pip " not in part:
                        found.append(Command(line, part.removeprefix(".venv/bin/"), status))
                continue
            found.append(Command(line, run, status))
    return found


def shell_env(scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("EXPRTOOL", "GITHUB_", "PYTHONPATH", "_EXPRTOOL", "FORCE_COLOR"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", COLUMNS="100",
               NO_COLOR="1", HOME=str(scratch / "home"))
    return env


def test_the_documents_show_commands() -> None:
    """The parser finds what the docs show (a typo in a fence would silently drop a whole block)."""
    readme = commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert any(c.run == "exprtool inspect fixtures/blobs/udf_closure.expr.bin" for c in readme)  # from the setup block
    assert not any("pip install" in c.run or "pytest" in c.run for c in readme)
    assert any(c.status == 4 and c.run.startswith("exprtool eval") for c in readme)
    every = [c for doc in DOCUMENTS for c in commands(doc.read_text(encoding="utf-8"))]
    shown = {word for c in every for word in c.run.split() if word in {"inspect", "check", "explain", "eval", "diff",
                                                                       "reencode", "encode"}}
    assert shown == {"inspect", "check", "explain", "eval", "diff", "reencode", "encode"}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_command_in_the_docs_exits_as_documented(document: Path, tmp_path: Path) -> None:
    if not committed_fixtures_match():
        pytest.skip("the committed fixtures are stamped with another Python minor or datafusion version: "
                    "the documented outputs and statuses are theirs")
    shown = commands(document.read_text(encoding="utf-8"))
    if not shown:
        pytest.skip(f"{document.name} shows no commands")
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures", target_is_directory=True)
    (tmp_path / "home").mkdir()
    wrong = []
    for command in shown:
        done = subprocess.run(["bash", "-c", command.run], cwd=tmp_path, env=shell_env(tmp_path),
                              capture_output=True, text=True, timeout=600)
        if done.returncode != command.status:
            wrong.append(f"{command.line}\n  exited {done.returncode}, the docs say {command.status}\n"
                         f"  stderr: {done.stderr.strip()[-600:]}")
    assert not wrong, "\n".join(wrong)
