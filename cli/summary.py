"""``--summary``: a command's Markdown report appended to GitHub's job summary (``$GITHUB_STEP_SUMMARY``).

GitHub Actions renders that file (tables, ``<details>``, Mermaid) on the run's page; every step of a job
appends its own section. Without the variable (a local run) nothing is written and one line says so.
"""

from __future__ import annotations

import os
import sys

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
SUMMARY_HELP = (
    "Append the Markdown report (as --format markdown prints it) to $GITHUB_STEP_SUMMARY, the job summary "
    "GitHub Actions shows on the run's page (nothing is written when the variable is not set)."
)


def append_summary(markdown: str) -> bool:
    """Append ``markdown`` as one section of the job summary; False (and a line on stderr) when it was not."""
    from datafusion_exprtool.atomic import append_whole

    path = os.environ.get(SUMMARY_ENV)
    if not path:
        print(f"exprtool: --summary: ${SUMMARY_ENV} is not set (outside GitHub Actions): no job summary written",
              file=sys.stderr)
        return False
    try:
        append_whole(path, (markdown.rstrip("\n") + "\n\n").encode("utf-8"))
    except OSError as exc:
        print(f"exprtool: --summary: cannot append to ${SUMMARY_ENV} ({path}): {exc}", file=sys.stderr)
        return False
    return True


EVAL_SUMMARY_HELP = (
    "Append a Markdown report to $GITHUB_STEP_SUMMARY: on failure the stage, function, cause, fix and "
    "datafusion's words with the blob's tree (the failing UDF in red); on success the rows and timings."
)


def summarize_eval(wanted: bool, blob: str, *, failure=None, inspection=None, result=None,  # noqa: ANN001
                   expect: str | None = None) -> None:
    """``eval --summary``: the failure report, or one line for a run that finished (rows, timings, --expect)."""
    if not wanted:
        return
    from datafusion_exprtool.reports.formats import markdown

    if failure is not None:
        append_summary(markdown.eval_failure_markdown(failure, blob, inspection))
        return
    text = markdown.eval_success_markdown(blob, result.rows, result.timings, result.output)
    if expect:
        verdict = "❌ differs from" if result.diffs else "✅ matches"
        text += f"\n{verdict} {markdown.code(expect)}\n"
        if result.diffs:
            text += "\n" + markdown.fence("\n".join(result.diffs)) + "\n"
    append_summary(text)
