"""`exprtool check`: every failure a receiver would hit decoding a blob, predicted without running it."""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Annotated

import typer

from .common import ALLOW_HELP, Exit, Teardown, apply_allow, fail, input_exit, input_problem
from .summary import SUMMARY_HELP

EPILOG = (
    "Examples:\n\n"
    "  exprtool check blob.pkl --worker-ctx workers/init.py:make_ctx\n\n"
    "  exprtool check blob.pkl --python 3.12 --strict --format github\n\n"
    "  exprtool check blob.pkl --env blob.pkl.env.json --format sarif > check.sarif\n\n"
    "  exprtool check blob.pkl --format github --summary   (annotations, and the job summary in Markdown)"
)


class Format(str, Enum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"
    markdown = "markdown"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"


def check(
    paths: Annotated[
        list[str], typer.Argument(help="Blob files, directories (every blob inside) or - for stdin.")
    ],
    worker_ctx: Annotated[
        str | None,
        typer.Option(
            "--worker-ctx",
            help="module:function or file.py:function returning the worker's SessionContext; by-name functions "
            "and codec ids are checked against what it registers (it is imported and called).",
        ),
    ] = None,
    python: Annotated[
        str | None, typer.Option("--python", help="Target Python X.Y (default: this interpreter's).")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="The receiver refuses inline Python UDFs (inlining disabled).")
    ] = False,
    env: Annotated[
        str | None,
        typer.Option(
            "--env", help="A fingerprint from datafusion_exprtool.capture (*.env.json): check against it."
        ),
    ] = None,
    fmt: Annotated[
        Format, typer.Option(
            "--format", "-f", help="text, json, github (annotations), sarif or markdown (a summary with a Mermaid tree)."
        )
    ] = (Format.text),
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 on errors (default) or on warnings too.")
    ] = FailOn.error,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Force the message: expr, logical or physical.")
    ] = None,
    allow: Annotated[list[str] | None, typer.Option("--allow", help=ALLOW_HELP)] = None,
    summary: Annotated[bool, typer.Option("--summary", help=SUMMARY_HELP)] = False,
) -> None:
    """Pre-flight: predict every failure a worker would hit decoding BLOB, without running it.

    Checks the Python stamp of inline UDFs, DFPY wire/envelope versions, modules the UDFs import by reference (find_spec, nothing imported), functions sent by name against the worker ctx (built-ins only without --worker-ctx), DFPYCHN codec ids, a strict receiver, nesting depth, and clear-text paths / captured values / table rows (warnings). For a plan, also the data its scans name on this machine: missing, changed or column-less files (errors: datafusion would return 0 rows, fail or read nulls), object stores to register, and the traps of running one partition per worker (docs/plan-replay.md). Each finding shows its id (the one `exprtool explain` gives datafusion's text), the message datafusion would raise, and the fix.

    A suspicious payload (anything datafusion and cloudpickle never write) is an error: never decode it.

    Exit 0: nothing at or above --fail-on (warnings alone exit 0 unless --fail-on warning). 1: findings, including a truncated or corrupted datafusion blob (a cut or garbled protobuf, a pickle of an Expr whose bytes are cut or damaged, an unreadable UDF payload): datafusion refuses it too, and the output names the byte offset. 2: usage (bad option, --worker-ctx that cannot be loaded, --env that is missing or not a fingerprint). 3: input that is not a datafusion blob at all, e.g. a pickle that never names datafusion, or an empty file (one line: layer and byte offset).
    """
    Teardown.skippable = True  # its outputs (stdout, --summary) are whole before it exits
    apply_allow(allow)
    from datafusion_exprtool.layers.container import expand_sources
    from datafusion_exprtool.layers.proto.roots import resolve_message
    from datafusion_exprtool.reports.check.target import (
        Target,
        parse_python,
        target_from_facts,
        target_from_fingerprint,
    )

    try:
        resolve_message(message)
        py = parse_python(python) if python is not None else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    target = Target(strict=strict)
    if worker_ctx is not None:  # built in a spawned process: a factory that crashes or hangs cannot take check with it
        target = target_from_facts(
            _ctx_facts(worker_ctx), python=py, strict=strict, source=f"worker ctx {worker_ctx}"
        )
    if env:
        target = target_from_fingerprint(_read_env(env), target, source=f"fingerprint {env}")
    if py is not None:  # --python wins over the fingerprint's; the text names it as the target's
        target.python = py
        base = "" if target.source == "this interpreter" else f"{target.source}, "
        target.source = f"the target ({base}--python {python})"
    sources = list(expand_sources(paths))
    if not sources:
        raise fail("no blobs found in " + ", ".join(paths))
    reports, broken, codes = [], [], []
    for source in sources:
        report, error = _check_one(source, target, message)
        if report is not None:
            reports.append(report)
        if error is not None:
            codes.append(int(error.pop("exit")))
            broken.append(error)
            print(f"exprtool: {error['path']}: {error.pop('message')}", file=sys.stderr)
    _emit(fmt, reports, broken, target)
    if summary:
        from .summary import append_summary

        append_summary(_markdown(reports, broken))
    status = Exit.OK
    if any(r.fails(fail_on.value) for r in reports):
        status = Exit.FINDINGS
    if codes:
        status = max(codes)
    raise typer.Exit(int(status))


def _read_env(env: str) -> dict:
    """The fingerprint at ``env`` (or at ``env`` + ``.env.json`` when only that exists); usage error else."""
    import json
    from pathlib import Path

    from datafusion_exprtool.capturing.writer import ENV_SUFFIX, load_fingerprint

    given = Path(env)
    path = given
    if not given.exists():
        alt = given.with_name(given.name + ENV_SUFFIX)
        if given.name.endswith(ENV_SUFFIX) or not alt.exists():
            also = "" if given.name.endswith(ENV_SUFFIX) else f" (nor {alt})"
            raise fail(f"--env {env}: no such file{also}")
        path = alt
    if not path.is_file():
        raise fail(f"--env {env}: not a file")
    try:
        return load_fingerprint(path)  # validates the keys and the schema version
    except UnicodeDecodeError:
        raise fail(
            f"--env {path}: not JSON (not UTF-8 text); pass a fingerprint written by capture"
        ) from None
    except json.JSONDecodeError as exc:
        raise fail(f"--env {path}: not JSON ({exc}); pass a fingerprint written by capture") from None
    except (OSError, ValueError) as exc:
        raise fail(f"--env {path}: {exc}") from None


def _ctx_facts(spec: str):
    from datafusion_exprtool.sandbox.failure import EvalError
    from datafusion_exprtool.sandbox.probe import ctx_facts_isolated

    try:
        return ctx_facts_isolated(spec, os.getcwd())
    except EvalError as err:
        raise fail(f"--worker-ctx: {err.failure}") from None


def _check_one(source: str, target, message: str | None):
    """(report or None, undecodable-input record or None) for one blob."""
    from datafusion_exprtool.errors import DecodeError
    from datafusion_exprtool.layers.container import load_input
    from datafusion_exprtool.reports.check.report import check_loaded

    try:
        return check_loaded(load_input(source), target, message=message), None
    except DecodeError as err:
        record = {"path": source, "layer": err.layer, "offset": err.offset, "error": str(err)}
        record["message"] = input_problem(err)
        return None, {**record, "exit": int(input_exit(err))}


def _emit(fmt: Format, reports: list, broken: list[dict], target) -> None:
    import json

    from datafusion_exprtool.model import SCHEMA_VERSION
    from datafusion_exprtool.reports.formats.sarif import annotation, github_annotations, to_sarif

    if fmt is Format.json:
        doc = {
            "schema_version": SCHEMA_VERSION,
            "target": target.describe(),
            "reports": [r.to_dict() for r in reports],
            "undecodable": broken,
        }
        print(json.dumps(doc, indent=2))
    elif fmt is Format.sarif:
        print(json.dumps(to_sarif(reports), indent=2))
    elif fmt is Format.markdown:
        sys.stdout.write(_markdown(reports, broken))
    elif fmt is Format.github:
        for line in github_annotations(reports):
            print(line)
        for b in broken:
            print(annotation("error", b["path"], f"exprtool undecodable ({b['layer']} layer)", b["error"]))
    else:
        _render(reports, target)


def _markdown(reports: list, broken: list[dict]) -> str:
    from datafusion_exprtool.reports.formats.markdown import check_markdown, undecodable_markdown

    sections = [check_markdown(r) for r in reports]
    sections += [undecodable_markdown(b["path"], b["layer"], b["offset"], b["error"]) for b in broken]
    return "\n".join(sections)


def _render(reports: list, target) -> None:
    from rich.markup import escape

    from .common import console

    con = console()
    t = target.describe()
    where = f"{t['source']} (Python {t['python']}, datafusion {t['datafusion']}" + (
        ", strict" if t["strict"] else ""
    )
    for report in reports:
        errors, warnings = len(report.errors), len(report.warnings)
        if not report.findings:
            con.print(f"[green]✓[/green] {escape(report.path)}: no failures predicted on {escape(where)})")
            continue
        con.print(
            f"[bold]{escape(report.path)}[/bold] on {escape(where)}): {errors} error(s), {warnings} warning(s)"
        )
        for f in report.findings:
            colour = {"error": "red", "warning": "yellow"}.get(f.severity, "cyan")
            at = f" @ byte {f.offset}" if f.offset is not None else ""
            fn = escape(f" [{f.function}]") if f.function else ""
            con.print(
                f"  [{colour}]{f.severity:7}[/{colour}] [bold]{escape(f.id)}[/bold]{fn}{at} ({f.layer})"
            )
            if f.datafusion_text:
                con.print(f"          datafusion: {escape(f.datafusion_text)}")
            if f.message:
                con.print(f"          [dim]{escape(f.message)}[/dim]")
            con.print(f"          fix: {escape(f.fix)}")


def register(app: typer.Typer) -> None:
    app.command("check", epilog=EPILOG)(check)
