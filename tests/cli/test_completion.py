"""Shell completion (Typer's): `exprtool --show-completion SHELL` prints a script that a real bash then uses
to complete commands and option values, and `--install-completion` installs it in the user's shell set-up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXPRTOOL = Path(sys.executable).with_name("exprtool")  # the console script pip installed beside python


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("_EXPRTOOL")}
    env.update(HOME=str(home), SHELL="/bin/bash", PATH=f"{EXPRTOOL.parent}{os.pathsep}{env.get('PATH', '')}")
    return env


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_and_option_values_with_the_shown_script(tmp_path: Path) -> None:
    shown = subprocess.run([str(EXPRTOOL), "--show-completion", "bash"], capture_output=True, text=True,
                           env=_env(tmp_path), timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "complete -o default -F _exprtool_completion exprtool" in shown.stdout
    script = tmp_path / "exprtool.sh"
    script.write_text(shown.stdout)

    def complete(words: str) -> list[str]:
        """COMPREPLY after the shown script's completion function runs on ``words`` (the cursor at the end)."""
        program = (f"source {script}\nCOMP_WORDS=({words})\nCOMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n"
                   'words_end="${COMP_WORDS[-1]}"\n_exprtool_completion exprtool\nprintf "%s\\n" "${COMPREPLY[@]}"\n')
        run = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=_env(tmp_path),
                             timeout=60)
        assert run.returncode == 0, run.stderr
        return [line for line in run.stdout.splitlines() if line]

    assert complete("exprtool ins") == ["inspect"]
    assert {"inspect", "check", "eval", "explain", "diff", "reencode", "encode"} <= set(complete("exprtool ''"))
    assert complete("exprtool check blob.bin --format ''") == ["text", "json", "github", "sarif", "markdown"]


def test_install_completion_writes_the_script_and_sources_it_from_bashrc(tmp_path: Path) -> None:
    run = subprocess.run([str(EXPRTOOL), "--install-completion", "bash"], capture_output=True, text=True,
                         env=_env(tmp_path), timeout=60)
    assert run.returncode == 0, run.stderr
    installed = tmp_path / ".bash_completions" / "exprtool.sh"
    assert "_exprtool_completion" in installed.read_text()
    assert f"source '{installed}'" in (tmp_path / ".bashrc").read_text()


def test_completion_options_are_in_the_top_level_help() -> None:
    from support.cli import run_cli

    result = run_cli("--help", columns=120)
    assert result.exit_code == 0
    assert "--install-completion" in result.output and "--show-completion" in result.output
