"""Catalog entries for failures of a run, not of serialization: ``eval`` names them, ``explain`` does not."""

from __future__ import annotations

from datafusion_exprtool.catalog.entry import CatalogEntry, EvalHint

RUN_FAILURES: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        id="worker-cwd-file-missing",
        title="A file the code opens is not in the worker's directory",
        layer="worker",
        stage="execute",
        ties_to="worker",
        patterns=(r"FileNotFoundError",),
        cause="Code in the blob (a UDF) opened a path relative to the working directory, and the worker runs "
        "elsewhere (another host, another directory).",
        fix="Open files by absolute path, or ship their content with the job.",
        eval_hint=EvalHint(
            text="isolated workers run in an empty temporary directory (like a worker on another host): "
            "the code must not rely on the driver's working directory"
        ),
        explained=False,
    ),
    CatalogEntry(
        id="argument-coercion",
        title="Arguments a function does not accept",
        layer="worker",
        stage="plan",
        ties_to="function",
        patterns=(r"Failed to coerce arguments",),
        cause="The data's column types are not ones the function's signature accepts.",
        fix="Cast the column, or fix the UDF's declared input types.",
        eval_hint=EvalHint(text="cast the column, or fix the UDF's declared input types", restage=True),
        explained=False,
    ),
    CatalogEntry(
        id="out-of-memory",
        title="The worker ran out of memory",
        layer="worker",
        stage="execute",
        ties_to="worker",
        patterns=(r"MemoryError|Resources exhausted",),
        cause="Executing the expression needed more memory than the worker has (or than its memory pool allows).",
        fix="Raise the memory limit, or reduce the batch size and the number of partitions.",
        eval_hint=EvalHint(text="raise the memory limit or reduce --batch-size / --target-partitions"),
        explained=False,
    ),
)
