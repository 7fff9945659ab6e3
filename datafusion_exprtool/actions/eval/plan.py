"""Plan replay's static phase (``exprtool eval PLAN``): what the plan reads, rebound by ``--table``, and
checked against this machine before anything is decoded.

``evaluate.prepare`` hands a plan blob here after the inspection and the trust gate. Nothing of the blob
runs in this module: the scans are read from its bytes (``inspection/plan_scans``), the data from
directory listings and Parquet footers (``sandbox/scan_data``), and the rebinding is a byte rewrite
(``rebind``). A plan whose files are gone is refused here, because datafusion would not say so: the
logical plan returns 0 rows with no error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.actions.eval.plan_run import (
    JOIN_DYNAMIC_FILTER,
    WORK_STEALING,
    PlanJob,
    worker_settings,
)
from datafusion_exprtool.actions.eval.rebind import (
    Rebinding,
    TableBinding,
    bind,
    reads_text,
    rebind,
    rebound_scan,
)
from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.inspection.plan_scans import PlanScan, local_path, plan_scans
from datafusion_exprtool.sandbox.failure import fail
from datafusion_exprtool.sandbox.scan_data import DataProblem, data_problems

KINDS = {"LogicalPlanNode": "logical plan", "PhysicalPlanNode": "physical plan"}


@dataclass
class PlanFacts:
    """What the static phase found about a plan, for the summary a user sees before any code runs."""

    message: str  # LogicalPlanNode | PhysicalPlanNode
    scans: list[PlanScan]  # as the plan names them
    read: list[PlanScan]  # as the replay reads them (the rebound ones pointing at their new data)
    rebindings: list[Rebinding] = field(default_factory=list)
    partition: int | None = None
    settings: dict[str, str] = field(default_factory=dict)  # what the worker context runs with (shown)
    stores: list[str] = field(default_factory=list)  # object stores the worker context must register

    @property
    def local_files(self) -> list[str]:
        """Every local file or directory the replay reads."""
        return [p for scan in self.read for url in scan.files if (p := local_path(url)) is not None]

    @property
    def kind(self) -> str:
        return KINDS[self.message]

    def summary(self) -> list[str]:
        """Lines for the user: the plan, its scans and what they read, partitions."""
        lines = [f"{self.kind}, {len(self.scans)} scan{'s' if len(self.scans) != 1 else ''}"]
        rebound = {r.scan.index: r for r in self.rebindings}
        for scan in self.read:
            what = _reads(scan)
            if scan.index in rebound:
                what += f" (rebound by {rebound[scan.index].binding.option})"
            lines.append(f"  {scan.label}: {what}")
        if self.message == "PhysicalPlanNode":
            part = "all output partitions" if self.partition is None else f"output partition {self.partition}"
            said = ", ".join(f"{k}={v}" for k, v in self.settings.items())
            lines.append(f"  runs {part}" + (f" ({said})" if said else ""))
        for store in self.stores:
            lines.append(f"  object store {store}: the worker context must register it")
        return lines


def _reads(scan: PlanScan) -> str:
    if scan.source == "memory":
        return "rows inside the plan"
    if scan.source == "values":
        return "VALUES inside the plan"
    if scan.source == "custom":
        return "an extension codec's table (opaque)"
    files = [local_path(url) or url for url in scan.files]
    shown = ", ".join(files[:3]) + (f", … ({len(files)} in all)" if len(files) > 3 else "")
    groups = f" in {len(scan.groups)} file groups" if scan.physical and len(scan.groups) > 1 else ""
    return f"{shown or 'no files'}{groups}"


def refuse_expression_options(opts: Any) -> None:
    """Options that shape how an expression is evaluated mean nothing for a plan, which is a whole query."""
    given = [
        flag
        for flag, value in (
            ("--mode/--filter", opts.mode), ("--keep", opts.keep), ("--group-by", opts.group_by),
            ("--param", opts.params), ("--index", opts.index),
        )
        if value
    ]  # fmt: skip
    if given:
        raise fail(
            "input",
            f"{', '.join(given)}: the blob is a plan (a whole query), not an expression",
            exit_code=ExitCode.USAGE,
            hint="drop them; to read other data use --table NAME=PATH, for one partition --partition N",
        )


def default_table(scans: list[PlanScan], data: list[str]) -> str:
    """DATA given with a plan stands for ``--table`` of its only file scan."""
    files = [s for s in scans if s.source == "files"]
    if len(files) != 1:
        listing = "; ".join(f"{s.label}: {', '.join(s.names[:3])}" for s in files) or "none"
        raise fail(
            "input",
            f"DATA ({' '.join(data)}) given, but the plan has {len(files)} file scans ({listing})",
            exit_code=ExitCode.USAGE,
            hint="say which scan reads what: --table NAME=PATH (repeatable); without DATA the plan reads "
            "the files it names",
        )
    names = files[0].names
    return names[0] if names else ""


def _refuse_problem(problem: DataProblem) -> None:
    scan = problem.scan
    names = scan.names
    name = names[0] if names else "NAME"
    if problem.kind in ("missing", "empty-directory"):
        raise fail(
            "input",
            f"{scan.label}: {problem.what}; {problem.consequence}",
            file=problem.location,
            exit_code=ExitCode.USAGE,
            catalog_id="plan-file-missing",
            hint=f"rebind the scan to data you have: --table {name}=PATH (a file, directory or glob), or ship "
            f"the data to {problem.location}",
        )
    if problem.kind == "changed":
        raise fail(
            "input",
            f"{scan.label}: {problem.what}; {problem.consequence}",
            file=problem.location,
            exit_code=ExitCode.USAGE,
            catalog_id="plan-file-changed",
            hint=f"rebind the scan to the file as it is now (the same path works): --table {name}={problem.location}",
        )
    stage = "schema" if problem.kind == "columns-missing" else "input"
    raise fail(
        stage,
        f"{scan.label}: {problem.what}, and the scan reads them ({reads_text(scan)}); {problem.consequence}",
        file=problem.location,
        exit_code=ExitCode.USAGE,
        hint=f"rebind the scan to data with those columns: --table {name}=PATH",
    )


#: what eval's input reader makes of a path: (paths to give datafusion, every Parquet file)
Inputs = tuple[list[str], list[str]]


def _binding(name: str, spec: str, inputs: Inputs, given_as: str = "") -> TableBinding:
    paths, files = inputs
    return TableBinding(name, spec, files, directory=paths[0] if paths != files else None, given_as=given_as)


def prepare_plan(
    opts: Any,
    data: bytes,
    payload: Any,
    tables: list[Inputs],
    given: Inputs | None,
    configured: dict[str, str],
) -> tuple[bytes, PlanJob, PlanFacts]:
    """(the bytes to decode, the worker's plan job, the facts) for a plan blob; usage errors otherwise.

    ``tables``: what each of ``opts.tables`` (``--table NAME=PATH``) reads; ``given``: what DATA reads, if
    given (it rebinds the plan's only file scan). ``configured``: the settings the caller gives the worker
    context (``--config`` …): a work-stealing value set there is the caller's and wins.
    """
    refuse_expression_options(opts)
    message = payload.message
    scans = plan_scans(payload.root)
    bindings = [_binding(name, spec, inputs) for (name, spec), inputs in zip(opts.tables, tables, strict=True)]
    if given is not None:
        bindings.insert(0, _binding(default_table(scans, opts.data), " ".join(opts.data), given, "DATA"))
    partition = opts.partition
    if partition is not None and message != "PhysicalPlanNode":
        raise fail(
            "input",
            f"--partition {partition}: a logical plan has no partitions yet (the receiver's planner makes them)",
            exit_code=ExitCode.USAGE,
            hint="ship and replay the physical plan (`df.execution_plan().to_bytes()`), or drop --partition",
        )
    rebindings = bind(scans, bindings)
    rebound = {r.scan.index: rebound_scan(r) for r in rebindings}
    read = [rebound.get(s.index, s) for s in scans]
    problems = data_problems([s for s in scans if s.index not in rebound])
    for problem in problems:
        if problem.severity == "error":
            _refuse_problem(problem)
    stores = list(dict.fromkeys(p.scan.store for p in problems if p.kind == "object-store"))
    if rebindings:
        data = rebind(data, message, rebindings, origin=payload.offset)
    settings = worker_settings(message, partition, configured)
    job = PlanJob(message=message, partition=partition, settings=settings)
    shown = {k: settings.get(k) or configured.get(k) for k in (WORK_STEALING, JOIN_DYNAMIC_FILTER)}
    shown = {k: v for k, v in shown.items() if v is not None}
    facts = PlanFacts(message, scans, read, rebindings, partition, shown, stores)
    return data, job, facts
