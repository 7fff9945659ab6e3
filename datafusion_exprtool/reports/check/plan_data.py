"""check's pass over a plan's data: the files its scans name, as this machine has them, and the partition trap.

A plan decodes whatever became of its files; what datafusion 55 does next is the trap this pass predicts
(``sandbox/scan_data`` finds the problems, measured in ``tests/reports/test_check_plans.py``):

* ``plan-file-missing`` (error): a file or directory a scan names does not exist (or a directory holds
  no file). The logical plan returns **0 rows with no error**; the physical plan fails at execution with
  the object-store error given as the finding's datafusion text.
* ``plan-file-changed`` (error): a physical scan's file is not the size the plan recorded: datafusion
  reads the footer where the plan says it ends and fails (a corrupt footer, an invalid range).
* ``plan-columns-missing`` (error): a Parquet file lacks a column the scan reads (its footer only): the
  column comes back as nulls, silently. ``plan-file-unreadable`` (error): the footer does not read.
* ``object-store-not-registered`` (info): a scan reads ``s3://``, ``gs://``…, which exprtool cannot look
  into: the store the worker context must register, with datafusion's text when it does not.
* ``partition-work-stealing`` (warning): a physical plan whose scan has several file groups. A worker that
  executes one partition in a fresh context reads every file unless
  ``datafusion.execution.enable_file_stream_work_stealing`` is false (apache/datafusion#23292).
* ``partition-join-waits`` (warning): a physical hash join that carries a dynamic filter. A worker that
  executes one partition waits forever for the other partitions' build sides unless
  ``datafusion.optimizer.enable_join_dynamic_filter_pushdown`` is false (measured: no error, no end).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datafusion_exprtool.catalog import CATALOG
from datafusion_exprtool.catalog.entry import render
from datafusion_exprtool.layers.proto.roots import PLAN_MESSAGES
from datafusion_exprtool.model import Finding, Inspection

if TYPE_CHECKING:
    from datafusion_exprtool.inspection.plan_scans import PlanScan
    from datafusion_exprtool.sandbox.scan_data import DataProblem

#: paths named in one finding before "and N more"
SHOWN = 5
STEALING_FIX = (
    "On every worker that executes partitions of this plan, turn file-stream work stealing off before "
    "executing: `ctx.sql(\"SET datafusion.execution.enable_file_stream_work_stealing = false\")` (or "
    "`SessionConfig().set(\"datafusion.execution.enable_file_stream_work_stealing\", \"false\")`); "
    "`exprtool eval PLAN --partition N` replays one partition that way."
)
#: the ids of findings about a plan's data on this machine: the plan decodes; the run then goes wrong
DATA_IDS = frozenset(
    {"plan-file-missing", "plan-file-changed", "plan-columns-missing", "plan-file-unreadable",
     "object-store-not-registered", "partition-work-stealing", "partition-join-waits"}
)  # fmt: skip
_IDS = {
    "missing": "plan-file-missing",
    "empty-directory": "plan-file-missing",
    "changed": "plan-file-changed",
    "columns-missing": "plan-columns-missing",
    "unreadable": "plan-file-unreadable",
}


def _listing(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return "; ".join(items[:SHOWN]) + more


def _rebind_fix(scan: PlanScan) -> str:
    name = scan.names[0] if scan.names else "NAME"
    return (
        f"Replay the plan on data you have: `exprtool eval PLAN --table {name}=PATH` (a file, directory or "
        "glob); or ship the data to the same path on the worker."
    )


def _finding(kind: str, scan: PlanScan, problems: list[DataProblem]) -> Finding:
    first = problems[0]
    said = _listing([p.what for p in problems])
    if kind == "object-store":
        entry = CATALOG["object-store-not-registered"]
        url = scan.store + "/" if scan.physical else first.location  # what datafusion names: store / table path
        return Finding(
            id=entry.id, severity="info", layer="plan", offset=scan.offset,
            datafusion_text=render(entry.datafusion_text, {"url": url}),
            message=f"{scan.label}: {said}; exprtool cannot look inside it: if the worker context registers no "
            f"store for {scan.store}, datafusion fails as shown",
            fix=render(entry.fix, {"url": url}),
        )  # fmt: skip
    where = "on this machine"
    if kind == "columns-missing":
        message = f"{scan.label} reads {', '.join(scan.projected)}, but {where} {said}; {first.consequence}"
    elif len(problems) > 1 and first.datafusion_text:  # datafusion names the first file it fails to open
        message = f"{scan.label}: {where}, {said}; executing the plan fails at the first of them it opens, e.g. {first.datafusion_text}"
    else:
        message = f"{scan.label}: {where}, {said}; {first.consequence}"
    return Finding(
        id=_IDS[kind], severity="error", layer="plan", offset=scan.offset,
        datafusion_text=first.datafusion_text, message=message, fix=_rebind_fix(scan),
    )  # fmt: skip


def _stealing(scans: list[PlanScan]) -> Finding | None:
    split = [s for s in scans if s.physical and s.source == "files" and len(s.groups) > 1]
    if not split:
        return None
    groups = ", ".join(f"{s.label}: {len(s.groups)} file groups" for s in split)
    return Finding(
        id="partition-work-stealing",
        severity="warning",
        layer="plan",
        offset=split[0].offset,
        message=f"{groups}. A worker that executes one partition of this plan in a fresh SessionContext reads "
        "every file of the scan while datafusion.execution.enable_file_stream_work_stealing is true (its "
        "default in datafusion 55, apache/datafusion#23292): the partitions' results together hold each row "
        "once per partition, with no error",
        fix=STEALING_FIX,
    )


def _join_waits(offsets: list[int]) -> Finding | None:
    if not offsets:
        return None
    joins = f"{len(offsets)} hash join{'s' if len(offsets) > 1 else ''} (byte {', '.join(map(str, offsets))})"
    return Finding(
        id="partition-join-waits",
        severity="warning",
        layer="plan",
        offset=offsets[0],
        message=f"{joins} carr{'y' if len(offsets) > 1 else 'ies'} a dynamic filter: a worker that executes one "
        "partition of this plan waits forever for the build side of every other partition (datafusion 55: no "
        "error, the stream never ends), unless datafusion.optimizer.enable_join_dynamic_filter_pushdown is false",
        fix="On every worker that executes partitions of this plan: `ctx.sql(\"SET "
        "datafusion.optimizer.enable_join_dynamic_filter_pushdown = false\")` before executing (or plan the "
        "query with it off on the sender); `exprtool eval PLAN --partition N` runs one partition that way.",
    )


def plan_data_findings(insp: Inspection) -> list[Finding]:
    """The data problems of every plan payload's scans, scan by scan, then the partition warning."""
    out: list[Finding] = []
    for payload in insp.payloads:
        if payload.message not in PLAN_MESSAGES or payload.root is None:
            continue
        from datafusion_exprtool.inspection.plan_scans import plan_scans, waiting_joins
        from datafusion_exprtool.sandbox.scan_data import data_problems

        scans = plan_scans(payload.root)
        grouped: dict[tuple[int, str], list[DataProblem]] = {}
        for problem in data_problems(scans):
            kind = "missing" if problem.kind == "empty-directory" else problem.kind
            grouped.setdefault((problem.scan.index, kind), []).append(problem)
        for (_index, kind), problems in grouped.items():
            out.append(_finding(kind, problems[0].scan, problems))
        for warning in (_stealing(scans), _join_waits(waiting_joins(payload.root))):
            if warning is not None:
                out.append(warning)
    return out
