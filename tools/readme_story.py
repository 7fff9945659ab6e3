"""Regenerate the README's story (and its job-summary sample) from what the commands print now.

The README's path from a dead worker to the fix shows real output: this script runs each step's commands
on the committed fixtures, exactly as a newcomer pastes them into a fresh clone (from a scratch directory
holding only a link to fixtures/, with the installed ``exprtool`` and ``python`` first on PATH, 100 columns,
no colour), and writes the commands, their exit statuses and their output between the README's
``<!-- BEGIN generated: NAME -->`` / ``<!-- END generated: NAME -->`` markers. What changes from run to run
is masked with ``…`` (``MASKS``): the scratch directory's path (a plan records where its files were) and
timings; nothing else is edited.

    python tools/readme_story.py            # rewrite the generated parts of README.md
    python tools/readme_story.py --check    # exit 1 and show a diff when README.md is not what they print now

tests/docs/test_readme_story.py runs ``--check``'s comparison: the README shows what the tool does.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOB = "fixtures/blobs/udf_module_ref.expr.bin"
#: the bad-row sample (fixtures/generate_orders.py writes both)
JOB = "fixtures/jobs/parse_amount.expr.bin"
ORDERS = "fixtures/orders/"
WIDTH = 100
#: what a worker runs: decode the blob as datafusion does when a task arrives (no worker context needed)
WORKER = "python -c 'import sys; from datafusion import Expr; Expr.from_bytes(open(sys.argv[1], \"rb\").read())'"


@dataclass
class Step:
    """One step of the story: prose, the commands (run in order), whether to show their output."""

    prose: str
    commands: list[str]
    output: bool = True
    marker: str = ""  # an HTML comment left after the step (a spot the lead fills in after merging)


STORY = [
    Step(
        "**1. A worker dies.** Your job ships `triple(a)`, an expression with a Python UDF, to its workers (Ray, "
        "multiprocessing, Dask), and each of them fails as soon as it decodes the task. Here a plain Python "
        "process plays the worker:",
        [f"{WORKER} {BLOB} 2> worker.log", "tail -n 1 worker.log"],
    ),
    Step(
        "**2. `inspect` shows what travels** — statically, nothing in the blob runs: the UDF travels *inline*, "
        "but its code is only a reference to `exprtool_sender_only_helper.triple`, a module the worker must "
        "import.",
        [f"exprtool inspect {BLOB}"],
    ),
    Step(
        "**3. `check` predicts the failure** before anything is shipped: the id, the text datafusion will raise, "
        "the byte offset and the fix. `--worker-ctx`, `--python` and `--env` describe the real worker.",
        [f"exprtool check {BLOB}"],
    ),
    Step(
        "**4. `explain` maps the worker's text to the fix**, through the `PyErr { … }` nesting (and Ray's, "
        "multiprocessing's or Dask's re-raises); `--blob` ties it to the function in the blob.",
        [f"exprtool explain --blob {BLOB} - < worker.log"],
    ),
    Step(
        "**5. `eval` reproduces it** in a fresh process started like a worker (`--isolate spawn`: an empty "
        "working directory, only the installed packages importable), against Parquet data:",
        [f"exprtool eval {BLOB} fixtures/data/small.parquet"],
    ),
    Step(
        "**6. The fix**, here standing in for installing the module on the workers: with it importable, "
        "`check` is clean and `eval` runs.",
        [f"PYTHONPATH=fixtures/modules exprtool check {BLOB}",
         f"PYTHONPATH=fixtures/modules exprtool eval {BLOB} fixtures/data/small.parquet --keep a --limit 3 "
         "--format csv --quiet"],
    ),
    Step(
        "**7. A plan whose data moved.** A driver can ship a whole query: its plan "
        "(`df.logical_plan().to_bytes()`), which names its Parquet files by their absolute path. Once they "
        "move, a worker decodes the plan and returns **0 rows, no error**. `check` says so before it ships, and "
        "`eval --table` replays the plan on the data where it is now ([plans](docs/plan-replay.md); `…` is the "
        "directory the commands ran in):",
        ["mkdir -p prod && cp fixtures/data/small.parquet prod/part-0.parquet",
         "python fixtures/ship_plan.py prod/ plan.bin   # the driver: a query over prod/, shipped as its plan",
         "mv prod archive",
         "exprtool check plan.bin",
         "exprtool eval plan.bin --table sales=archive/ --format csv"],
    ),
    Step(
        "**8. A row the UDF cannot take.** `parse_amount(amount)` fails on some row of 4,000 in two files. "
        "`--find-rows` narrows the input to the fewest rows that fail the same way and names the file, row "
        "group and row; `--bundle` keeps them with the blob, a repro that replays on its own "
        "([more](docs/find-rows.md)):",
        [f"exprtool eval {JOB} {ORDERS} --find-rows --bundle repro",
         "exprtool eval repro"],
    ),
    Step(
        "**9. The same replay on many workers.** `--workers 2` splits the input over two worker processes "
        "started like the real ones (`--engine ray [--address …]` over Ray actors, the `[ray]` extra); the result "
        "equals one process's, in input order ([more](docs/scale.md)):",
        [f"PYTHONPATH=fixtures/modules exprtool eval {BLOB} fixtures/data/small.parquet --workers 2 --keep a "
         "--limit 3 --format csv --quiet"],
    ),
]
#: what changes from run to run, masked in the output shown: (pattern, replacement); the scratch directory's
#: path is masked too (``story``)
MASKS = [
    (re.compile(r"\b(\d[\d,]*) probes, \d+\.\d+ s\b"), r"\1 probes, … s"),  # how long find-rows searched
    (re.compile(r"\b(decode|plan|execute) \d+\.\d+s\b"), r"\1 …s"),  # eval's timings
]
#: the job-summary sample: `check --format markdown`, pasted unfenced so GitHub renders it here as on a run
SUMMARY_COMMAND = f"exprtool check {BLOB} --format markdown"


def environment(scratch: Path) -> dict[str, str]:
    """A newcomer's shell after `. .venv/bin/activate`: this interpreter's bin first, no colour, fixed width."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("EXPRTOOL", "GITHUB_", "PYTHON", "FORCE_COLOR", "_EXPRTOOL"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", COLUMNS=str(WIDTH),
               LINES="50", NO_COLOR="1", TERM="dumb", PWD=str(scratch))
    return env


def run(command: str, scratch: Path) -> tuple[str, int]:
    """(stdout and stderr as the terminal shows them, exit status) of one command in ``scratch``, with what
    changes from run to run masked."""
    done = subprocess.run(["bash", "-c", command], cwd=scratch, env=environment(scratch), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    out = done.stdout
    for where in sorted({str(scratch.resolve()), str(scratch)}, key=len, reverse=True):
        out = out.replace(where, "…")
    for pattern, replacement in MASKS:
        out = pattern.sub(replacement, out)
    return "\n".join(line.rstrip() for line in out.rstrip("\n").splitlines()), done.returncode


def scratch_dir() -> tempfile.TemporaryDirectory:
    tmp = tempfile.TemporaryDirectory(prefix="exprtool-story-")
    (Path(tmp.name) / "fixtures").symlink_to(ROOT / "fixtures", target_is_directory=True)
    return tmp


def with_status(command: str, status: int) -> str:
    """The command as the README shows it: the docs' convention for a non-zero exit is a ``# exit N`` comment."""
    return command if status == 0 else f"{command}   # exit {status}"


def story() -> str:
    parts = []
    with scratch_dir() as tmp:
        scratch = Path(tmp)
        for step in STORY:
            lines, outputs = [], []
            for command in step.commands:
                out, status = run(command, scratch)
                lines.append(with_status(command, status))
                if out:
                    outputs.append(out)
            block = [step.prose, "", "```bash", *lines, "```"]
            if step.output and outputs:
                block += ["", "```text", "\n".join(outputs), "```"]
            if step.marker:
                block += ["", step.marker]
            parts.append("\n".join(block))
    return "\n\n".join(parts)


def job_summary() -> str:
    with scratch_dir() as tmp:
        out, status = run(SUMMARY_COMMAND, Path(tmp))
    return "\n".join(["```bash", with_status(SUMMARY_COMMAND, status), "```", "", out])


GENERATORS = {"story": story, "job-summary": job_summary}


def regenerated(readme: str) -> str:
    """``readme`` with every generated region replaced by what its commands print now."""
    for name, make in GENERATORS.items():
        pattern = re.compile(rf"(<!-- BEGIN generated: {name} [^\n]*-->\n)(.*?)(<!-- END generated: {name} -->)", re.S)
        if not pattern.search(readme):
            raise SystemExit(f"readme_story: README.md has no generated region {name!r}")
        body = make() + "\n"
        readme = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(3), readme)
    return readme


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = parser.parse_args()
    current = README.read_text(encoding="utf-8")
    fresh = regenerated(current)
    if args.check:
        if fresh == current:
            return 0
        sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), fresh.splitlines(True),
                                                   "README.md", "what the commands print now"))
        return 1
    if fresh != current:
        sys.path.insert(0, str(ROOT))
        from datafusion_exprtool.atomic import atomic_write

        atomic_write(README, fresh.encode("utf-8"), force=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
