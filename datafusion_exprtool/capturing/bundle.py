"""A repro bundle: everything needed to replay a failure found by ``eval --find-rows``, in one directory.

    DIR/MANIFEST.txt        what is here, in clear text (the rows may be sensitive), where each row came from
    DIR/expr.pkl|expr.bin   the blob, as the worker received it, and expr.*.env.json beside it (``capture()``)
    DIR/rows.parquet        the failing rows (the columns the expression reads, --keep, --group-by)
    DIR/repro.sh            the one ``exprtool eval`` command that reproduces the failure from DIR alone
    DIR/bundle.json         the same command as data: ``exprtool eval DIR`` runs it
    DIR/worker_ctx/NAME.py  a copy of a --worker-ctx factory given as a file

The directory is built under a temporary name beside DIR and renamed into place when complete, never over
a directory with files in it unless ``force``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datafusion_exprtool.actions.eval.evaluate import EvalOptions
from datafusion_exprtool.capturing.writer import capture
from datafusion_exprtool.model import SCHEMA_VERSION

BUNDLE_FILE = "bundle.json"
MANIFEST_FILE = "MANIFEST.txt"
ROWS_FILE = "rows.parquet"
REPRO_FILE = "repro.sh"


class BundleError(Exception):
    """The bundle directory cannot be written or read (a usage error)."""


@dataclass
class Replay:
    """The ``exprtool eval`` command a bundle runs; paths relative to the bundle directory."""

    blob: str
    data: list[str]
    worker_ctx: str | None = None
    config: dict[str, str] = field(default_factory=dict)
    target_partitions: int | None = None
    batch_size: int | None = None
    strict: bool = False
    isolate: str = "spawn"
    mode: str | None = None
    keep: list[str] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    index: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    trust: bool = False
    allow: list[str] = field(default_factory=list)

    def argv(self) -> list[str]:
        """``eval`` and its arguments, as a shell would pass them."""
        out = ["eval", self.blob, *self.data]
        if self.worker_ctx:
            out += ["--worker-ctx", self.worker_ctx]
        for key, value in self.config.items():
            out += ["--config", f"{key}={value}"]
        if self.target_partitions is not None:
            out += ["--target-partitions", str(self.target_partitions)]
        if self.batch_size is not None:
            out += ["--batch-size", str(self.batch_size)]
        if self.strict:
            out.append("--strict")
        if self.isolate != "spawn":
            out += ["--isolate", self.isolate]
        if self.mode == "filter":
            out.append("--filter")
        elif self.mode:
            out += ["--mode", self.mode]
        for name, values in (("--keep", self.keep), ("--group-by", self.group_by)):
            if values:
                out += [name, ",".join(values)]
        if self.index is not None:
            out += ["--index", str(self.index)]
        for key, value in self.params.items():
            out += ["--param", f"{key}={value}"]
        if self.trust:
            out.append("--trust")
        for name in self.allow:
            out += ["--allow", name]
        return out


@dataclass
class Bundle:
    directory: str
    replay: Replay  # paths made absolute
    doc: dict[str, Any]


def is_bundle(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, BUNDLE_FILE))


def run_inputs(opts: EvalOptions) -> list[str]:
    """The paths a run reads (its blob, DATA, every --table PATH, the golden file, a --worker-ctx file): a
    bundle is never written where one of them is, as -o never replaces an input."""
    paths = [opts.blob, *opts.data, *(path for _name, path in opts.tables)]
    if opts.expect:
        paths.append(opts.expect)
    factory = (opts.worker.factory or "").rpartition(":")[0]
    if factory.endswith(".py") or os.sep in factory:
        paths.append(factory)
    return [p for p in paths if p and p != "-"]


def check_target(directory: str, force: bool, inputs: Iterable[str] = ()) -> None:
    """Refuse, before any work, a bundle directory that has files in it (without ``force``), a file, a
    missing parent, or one that holds an input of the run (even with ``force``: replaying a bundle into
    itself would replace the blob and the rows it reads)."""
    target = os.path.abspath(directory)
    real = os.path.realpath(target)
    for path in inputs:
        where = os.path.realpath(path)
        if where == real or where.startswith(real.rstrip(os.sep) + os.sep):
            raise BundleError(
                f"--bundle {directory} holds an input of this run ({path}): it is never replaced, even with "
                "--force; write the bundle to another directory"
            )
    if os.path.exists(target) and not os.path.isdir(target):
        raise BundleError(f"--bundle {directory}: a file is there, not a directory")
    if os.path.isdir(target) and os.listdir(target) and not force:
        raise BundleError(f"--bundle {directory}: the directory has files in it (pass --force to replace it)")
    if not os.path.isdir(os.path.dirname(target)):
        raise BundleError(f"--bundle {directory}: directory {os.path.dirname(target)} does not exist")


def _worker_ctx_copy(spec: str | None, cwd: str | None, staging: str) -> tuple[str | None, str | None]:
    """(the --worker-ctx the bundle uses, the file copied): a file factory travels in the bundle."""
    if not spec:
        return None, None
    target, _sep, func = spec.rpartition(":")
    if not (target.endswith(".py") or os.sep in target):
        return spec, None  # module:function: it must be importable where the bundle runs
    source = target if os.path.isabs(target) else os.path.join(cwd or os.getcwd(), target)
    os.makedirs(os.path.join(staging, "worker_ctx"), exist_ok=True)
    name = os.path.join("worker_ctx", os.path.basename(source))
    shutil.copyfile(source, os.path.join(staging, name))
    return f"{name}:{func}", source


def _manifest(doc: dict[str, Any], command: str) -> str:
    rows = doc["rows"]
    lines = [
        "exprtool repro bundle",
        "=====================",
        f"Written by exprtool {doc['exprtool']} on {doc['written']}.",
        "",
        "!! rows.parquet holds rows copied from the input data. They may be sensitive: read them",
        "!! (`exprtool eval` this directory, or any Parquet reader) before you attach this bundle anywhere.",
        "!! The blob may carry values in clear text too: `exprtool inspect` lists them under 'sensitive'.",
        "",
        "Contents",
    ]
    for name, what in doc["files"].items():
        lines.append(f"  {name:<28} {what}")
    lines += ["", "The failure"]
    lines += [f"  {line}" for line in doc["failure"]]
    lines += ["", f"The rows ({doc['row_count']:,}; {'minimal' if doc['minimal'] else 'not minimal'}), "
                  "where they came from"]  # fmt: skip
    for i, row in enumerate(rows[:200]):
        lines.append(f"  rows.parquet row {i}: {row['file']} row group {row['row_group']}, row {row['row']:,}")
    if len(rows) > 200:
        lines.append(f"  … {len(rows) - 200:,} more in bundle.json")
    lines += ["", "Reproduce (from this directory)", f"  sh {REPRO_FILE}", f"  {command}", ""]
    return "\n".join(lines)


def write_bundle(
    directory: str,
    *,
    blob: bytes,
    container: str,
    rows_file: str,
    opts: EvalOptions,
    origins: list[dict[str, Any]],
    failure_lines: list[str],
    minimal: bool,
    row_count: int,
    columns: list[str],
    allow: list[str] | None = None,
    force: bool = False,
) -> str:
    """Write the bundle; returns its absolute path. Raises BundleError."""
    from datafusion_exprtool.capturing.writer import package_version

    target = os.path.abspath(directory)
    check_target(directory, force, run_inputs(opts))
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=os.path.dirname(target))
    try:
        blob_name = "expr.pkl" if container == "pickle" else "expr.bin"
        capture(blob, Path(staging) / blob_name, kind="pickle" if container == "pickle" else "expr")
        shutil.copyfile(rows_file, os.path.join(staging, ROWS_FILE))
        spec = opts.worker
        worker_ctx, copied = _worker_ctx_copy(spec.factory, spec.cwd, staging)
        replay = Replay(
            blob=blob_name, data=[ROWS_FILE], worker_ctx=worker_ctx, config=dict(spec.config),
            target_partitions=spec.target_partitions, batch_size=spec.batch_size, strict=spec.strict,
            isolate=opts.isolate, mode=opts.mode, keep=list(opts.keep), group_by=list(opts.group_by),
            index=opts.index, params=dict(opts.params), trust=opts.trust, allow=list(allow or []),
        )  # fmt: skip
        command = shlex.join(["exprtool", *replay.argv()])
        files = {
            blob_name: f"the blob ({len(blob):,} bytes, sha256 {hashlib.sha256(blob).hexdigest()[:16]}…)",
            f"{blob_name}.env.json": "the environment fingerprint: Python, platform, package versions",
            ROWS_FILE: f"{row_count:,} row(s); columns {', '.join(columns)}",
            REPRO_FILE: "the one command that reproduces the failure",
            BUNDLE_FILE: "the same facts as data (`exprtool eval DIR` runs the command)",
        }
        if copied:
            files[worker_ctx.rpartition(":")[0]] = f"a copy of the --worker-ctx factory {copied}"  # type: ignore[union-attr]
        doc = {
            "schema_version": SCHEMA_VERSION,
            "exprtool": package_version("datafusion-exprtool") or "unknown",
            "written": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "replay": asdict(replay),
            "command": command,
            "files": files,
            "failure": failure_lines,
            "minimal": minimal,
            "row_count": row_count,
            "columns": columns,
            "rows": origins,
        }
        with open(os.path.join(staging, BUNDLE_FILE), "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, default=str)
            fh.write("\n")
        with open(os.path.join(staging, MANIFEST_FILE), "w", encoding="utf-8") as fh:
            fh.write(_manifest(doc, command))
        script = os.path.join(staging, REPRO_FILE)
        with open(script, "w", encoding="utf-8") as fh:
            fh.write("#!/bin/sh\n")
            fh.write(f"# Reproduces: {failure_lines[0] if failure_lines else 'the failure'}\n")
            fh.write(f"# Environment it was found in: {blob_name}.env.json. Rows may be sensitive: {MANIFEST_FILE}.\n")
            fh.write('cd "$(dirname "$0")" || exit 2\n')
            fh.write(f'exec {command} "$@"\n')
        os.chmod(script, 0o755)
        for name in os.listdir(staging):
            path = os.path.join(staging, name)
            if os.path.isfile(path) and name != REPRO_FILE:
                os.chmod(path, 0o644)
        os.chmod(staging, 0o755)
        _publish(staging, target, force)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _publish(staging: str, target: str, force: bool) -> None:
    """Rename the complete bundle into place (over an empty directory; over a full one only with force)."""
    if os.path.isdir(target) and os.listdir(target):
        if not force:
            raise BundleError(f"--bundle {target}: the directory has files in it (pass --force to replace it)")
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.old.", dir=os.path.dirname(target))
        os.rename(target, os.path.join(old, "bundle"))
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(os.path.join(old, "bundle"), target)
            raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
        return
    os.rename(staging, target)


def load_bundle(directory: str) -> Bundle:
    """Read a bundle's command, with its paths made absolute. Raises BundleError."""
    path = os.path.join(directory, BUNDLE_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        fields = dict(doc["replay"])
        replay = Replay(**fields)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{path}: not an exprtool bundle ({type(exc).__name__}: {exc})") from None
    version = doc.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise BundleError(f"{path} has schema_version {version}; this exprtool reads up to {SCHEMA_VERSION}")
    base = os.path.abspath(directory)
    replay.blob = os.path.join(base, replay.blob)
    replay.data = [os.path.join(base, d) for d in replay.data]
    if replay.worker_ctx:
        target, sep, func = replay.worker_ctx.rpartition(":")
        if target.endswith(".py") or os.sep in target or "/" in target:
            replay.worker_ctx = f"{os.path.join(base, target)}{sep}{func}"
    return Bundle(base, replay, doc)
