"""Catalog entries for failures of a run, not of serialization: ``eval`` names them; ``explain`` names those
``check`` predicts from the bytes too (a missing file, a store, a placeholder with no value)."""

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
    CatalogEntry(
        id="plan-file-missing",
        title="A file the plan scans is not there",
        layer="plan",
        stage="execute",
        ties_to="plan",
        patterns=(r"Object Store error: Object at location (?P<path>[^\n]+?) not found(?:: (?P<reason>[^\n]*))?$",),
        cause="The plan names {path} in a scan (plans carry their file paths), and the worker's object store "
        "has nothing there: the data moved, or the worker does not see the sender's filesystem. This is the "
        "physical plan's error; the logical plan of the same query returns 0 rows with no error.",
        fix="Ship the data to the same path on the worker, or replay the plan on other data: "
        "`exprtool eval PLAN --table NAME=PATH`; `exprtool check PLAN` lists every scanned file that is missing.",
        eval_hint=EvalHint(
            pattern=r"Object at location .+ not found",
            text="the plan scans a file that is not there: `exprtool check PLAN` lists them; "
            "rebind with --table NAME=PATH or ship the data",
        ),
        datafusion_text="Object Store error: Object at location {path} not found: No such file or directory "
        "(os error 2)",
    ),
    CatalogEntry(
        id="object-store-not-registered",
        title="The plan reads an object store the worker has not registered",
        layer="plan",
        stage="execute",
        ties_to="plan",
        patterns=(r"No suitable object store found for (?P<url>\S+?)\.? See `RuntimeEnv::register_object_store`",),
        cause="The plan's scans read {url}, and the worker's SessionContext has no object store registered for "
        "that scheme and bucket (a context knows only the local filesystem until one is registered).",
        fix="Register the store in the worker context before running the plan, e.g. "
        "`ctx.register_object_store('s3://bucket', datafusion.object_store.AmazonS3(bucket_name='bucket', "
        "region=...))` in the function `--worker-ctx` names; `exprtool check PLAN` lists the stores a plan reads.",
        eval_hint=EvalHint(
            pattern=r"No suitable object store found",
            text="register the object store in the worker context (--worker-ctx); `exprtool check PLAN` lists them",
        ),
        datafusion_text="No suitable object store found for {url}. See `RuntimeEnv::register_object_store`.",
    ),
    CatalogEntry(
        id="plan-file-changed",
        title="A file a physical plan scans changed size since the plan was made",
        layer="plan",
        stage="execute",
        ties_to="plan",
        patterns=(
            r"Failed to fetch metadata for file (?P<path>\S+): (?:\w+(?: \w+)? error: )*(?P<detail>Invalid Parquet file\. "
            r"Corrupt footer|Generic LocalFileSystem error: Requested range was invalid)",
        ),
        cause="A physical plan records each file's size, and the Parquet reader looks for the footer where that "
        "size says the file ends; {path} was rewritten since ({detail}).",
        fix="Re-plan the query on the receiver, ship the logical plan (it records no sizes), or replay with "
        "`exprtool eval PLAN --table NAME=PATH` (the rebinding records the files' current sizes).",
        confidence="likely",
        eval_hint=EvalHint(
            pattern=r"Corrupt footer|Requested range was invalid",
            text="a file changed since the physical plan was made: `exprtool check PLAN` compares the sizes",
        ),
        datafusion_text="{detail}",
    ),
    CatalogEntry(
        id="plan-placeholder-unbound",
        title="A plan with a placeholder and no value for it",
        layer="plan",
        stage="plan",
        ties_to="plan",
        patterns=(r"Placeholder '(?P<placeholder>[^']+)' was not provided a value for execution",),
        cause="The plan was serialized with the placeholder {placeholder} in it (`ctx.sql(query)` over a query "
        "with $1, …). A plan carries no parameter values, and datafusion-python 55 has no call that binds "
        "them in a decoded plan, so no receiver can run it (an expression with a placeholder fails alike: "
        "`exprtool explain --blob` tells them apart). `exprtool check BLOB` finds placeholders before it ships.",
        fix="Bind the values on the driver before serializing: `ctx.sql(query, param_values={{...}})`, then "
        "`df.logical_plan().to_bytes()`.",
        eval_hint=EvalHint(
            text="bind the values on the driver before serializing the plan: "
            "ctx.sql(query, param_values={...}) (--param binds an expression's placeholders, not a plan's)"
        ),
        datafusion_text="Execution error: Placeholder '{placeholder}' was not provided a value for execution.",
    ),
    CatalogEntry(
        id="expr-placeholder-unbound",
        title="An expression with a placeholder and no value for it",
        layer="protobuf",
        stage="plan",
        ties_to="node",
        patterns=(),
        refines="plan-placeholder-unbound",
        cause="The expression carries the placeholder {placeholder} (from SQL text such as `a > $1`) and no value for it. "
        "An expression has no parameter values, and datafusion-python 55 has no call that binds them in a "
        "decoded expression: a worker that runs it as shipped fails when its plan is made.",
        fix="Put the values in before the expression ships (`lit(value)` where the SQL had the placeholder, or "
        "the value written in the SQL text it is parsed from). To replay it as shipped, "
        "`exprtool eval BLOB DATA --param '$1=<SQL literal>'` binds each placeholder.",
        datafusion_text="Execution error: Placeholder '{placeholder}' was not provided a value for execution.",
    ),
)
