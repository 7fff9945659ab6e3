"""Every known datafusion 55 failure, as data: how it reads, where it happens, what caused it, how to fix it.

One entry per failure, the one catalog ``explain``, ``check`` and ``eval`` read:

* ``patterns`` are regexes over datafusion's text *after* ``catalog.match.normalize`` (ANSI codes stripped,
  ``\\"`` unescaped), with named groups for the facts the text carries (function, kind, versions, module,
  codec id, ...). ``cause`` and ``fix`` are ``str.format`` templates over those groups; a group that did not
  match renders as ``<name>``. ``datafusion_text`` is the shape of datafusion's own message (fact sheet
  §2.8), for ``check`` to say what a receiver would print.
* ``stage`` is where a receiver meets the failure (unpickle, decode, udf-decode, plan, execute, encode);
  ``ties_to`` is what in the blob it concerns, so ``explain --blob`` knows what to look up: a named
  ``function``, any inline UDF ``payload`` (the text names none), a plan ``node``, a nested ``literal``,
  a physical plan's table ``rows``, the ``plan``, the pickled ``object``, the ``blob`` as a whole, or
  the ``data`` a query runs on (values a cast, a division or an overflow fails on: ``catalog/values.py``).
* ``eval_hint`` is the one-line fix ``eval`` prints for an exception whose text matches its pattern
  (looser than ``patterns``: the exception as raised, not normalized). Entries with ``explained=False``
  are failures of a run, not of serialization: eval names them, ``explain`` does not.

Order matters: when two entries match overlapping text, the earlier (more specific) one wins; eval takes
the first entry whose hint pattern matches.
"""

from __future__ import annotations

from datafusion_exprtool.catalog.entry import GENERIC_HINT, CatalogEntry, EvalHint
from datafusion_exprtool.catalog.predicted import PREDICTED
from datafusion_exprtool.catalog.runs import RUN_FAILURES
from datafusion_exprtool.catalog.values import VALUE_FAILURES

_FN = r"(?P<function>[^\n\"'\\]+?)"  # a function name runs to the closing quote/paren or line end
_END = r"(?=\\*[\"')]|\s*$|\n)"
_KIND = r"(?P<kind>scalar|aggregate|window)"
_PYERR = r"PyErr \{ type: <class '(?:builtins\.)?(?:_pickle\.)?"

#: too-deep's fix (``{remedy}``) by what nests, its ``target``: an expression's calls, a logical plan's or a
#: physical plan's stacked nodes. Measured with datafusion 55: a UNION ALL of 47 selects decodes, of 48 does not;
#: the optimized plan of 300 is one Union of 300 inputs and decodes; a chain of 25 joins decodes, its optimized
#: plan does not; 80 chained with_column calls optimize to a plan that decodes.
DEEP_FIXES: tuple[tuple[str, str], ...] = (
    (
        "expression",
        "Flatten the expression on the driver: chain same-operator terms (`a + b + c` stays flat), build deep "
        "CASE/IN logic as `in_list` or a lookup join, or precompute intermediate columns.",
    ),
    (
        "logical plan",
        "Make the plan shallower before it ships: what counts is how many plan nodes stack on one path (about 48, "
        "two nested messages each), not how many inputs a node has. A chain of UNION ALLs (SQL or "
        "`DataFrame.union`) stacks one Union per input, a chain of `with_column`/`select` calls one Projection per "
        "call: ship `df.optimized_logical_plan().to_bytes()` (the optimizer folds them into one Union of every "
        "input, one Projection) or `df.execution_plan().to_bytes()`. A long chain of joins stays deep: write an "
        "intermediate result to Parquet and ship a plan that reads it.",
    ),
    (
        "physical plan",
        "Make the query shallower: what counts is how many operators stack on one path (about 48, two nested "
        "messages each), not how many inputs one has. A physical plan is optimized already (a union of any number "
        "of inputs is one UnionExec), so what stacks is the query's own shape, a long chain of joins or nested "
        "subqueries: write an intermediate result to Parquet and ship a plan that reads it.",
    ),
)


def deep_target(message: str, plan_levels: int, expr_levels: int) -> str:
    """What nests in a too-deep blob whose root is ``message``: its plan nodes when stacked plan nodes make most
    of the nesting (``plan_levels`` against ``expr_levels``, counted alike), else its expressions."""
    if message in ("LogicalPlanNode", "PhysicalPlanNode") and plan_levels >= expr_levels:
        return "logical plan" if message == "LogicalPlanNode" else "physical plan"
    return "expression"


SET_WORKER_CTX = (
    "\n    def init_worker():\n"
    "        ctx = SessionContext()\n"
    "        ctx.register_udf(the_udf)   # register_udaf / register_udwf for the other kinds\n"
    "        datafusion.ipc.set_worker_ctx(ctx)\n"
    "    Pool(initializer=init_worker)\n"
    "(Ray: do it in the actor's __init__; `Expr.from_bytes(b, ctx)` takes the ctx directly.)"
)
#: failures of serialization, read by explain (and named by check, eval)
SERIALIZATION: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        id="python-minor-mismatch",
        title="Python minor version differs between sender and worker",
        layer="dfpy",
        stage="udf-decode",
        ties_to="function",
        eval_hint=EvalHint(pattern=r"serialized on Python \d+\.\d+ but this process", text="run the same Python minor version as the sender", restage=True),
        patterns=(
            rf"Inline Python {_KIND} UDF payload was serialized on Python (?P<sender_python>\d+\.\d+) but this "
            r"process is running Python (?P<receiver_python>\d+\.\d+)",
        ),
        cause="The {kind} UDF was pickled (cloudpickle) on Python {sender_python} and this worker runs Python "
        "{receiver_python}. cloudpickle bytecode is not portable across Python minor versions, so datafusion "
        "refuses the payload before unpickling it.",
        fix="Run the driver and the workers on the same Python minor version (same image / same venv). If they "
        "cannot match, send the function by name instead: `exprtool reencode --by-name BLOB` (or encode with "
        "`SessionContext().with_python_udf_inlining(enabled=False)`) and register it on every worker:"
        + SET_WORKER_CTX,
        datafusion_text="Inline Python {kind} UDF payload was serialized on Python {sender_python} but this process is running "
        "Python {receiver_python}.",
    ),
    CatalogEntry(
        id="wire-version-unsupported",
        title="UDF payload from another datafusion-python version",
        layer="dfpy",
        stage="udf-decode",
        ties_to="function",
        eval_hint=EvalHint(pattern=r"wire-format version", text="align datafusion-python versions on sender and receiver", restage=True),
        patterns=(
            rf"Inline Python {_KIND} UDF payload wire-format version v(?P<version>\d+); this build supports "
            r"(?P<supported>v\d+\.\.=v\d+)",
        ),
        cause="The inline {kind} UDF payload uses DFPY wire-format v{version}; this datafusion-python reads only "
        "{supported}. Sender and worker run different datafusion-python versions.",
        fix="Pin the same datafusion version on driver and workers (`pip install datafusion==<driver's version>`); "
        "`exprtool check --env` compares the two environments.",
        datafusion_text="Inline Python {kind} UDF payload wire-format version v{version}; this build supports {supported}.",
    ),
    CatalogEntry(
        id="header-truncated",
        title="UDF payload header cut short",
        layer="dfpy",
        stage="udf-decode",
        ties_to="payload",
        patterns=(
            rf"Truncated inline Python {_KIND} UDF payload: missing (?P<missing>wire-format version|Python major "
            r"version|Python minor version) byte",
        ),
        cause="The inline {kind} UDF payload ends inside its 10-byte DFPY header (no {missing} byte): the bytes were "
        "truncated or rewritten between sender and worker.",
        fix="Ship the bytes unchanged: no str()/text decoding, no size-limited channel. Compare the sender's blob "
        "with `exprtool explain --blob SENDER_BLOB` or `exprtool check`.",
        datafusion_text="Truncated inline Python {kind} UDF payload: missing {missing} byte",
    ),
    CatalogEntry(
        id="inlining-disabled",
        title="Worker refuses inline Python UDFs",
        layer="dfpy",
        stage="udf-decode",
        ties_to="function",
        eval_hint=EvalHint(pattern=r"inlining is disabled on this session", text="the blob carries inline UDF code and --strict refuses it: re-encode by name, or drop --strict", restage=True),
        patterns=(
            rf"Refusing to deserialize inline Python {_KIND} UDF '(?P<function>[^']*)': Python UDF inlining is "
            r"disabled",
        ),
        cause="The blob carries {kind} UDF '{function}' as pickled Python code, and the receiving session was created "
        "with `with_python_udf_inlining(enabled=False)`, so it will not unpickle it.",
        fix="Either have the sender re-encode with the function by name (`exprtool reencode --by-name BLOB`, or "
        "`to_bytes(SessionContext().with_python_udf_inlining(enabled=False))`) and register '{function}' on "
        "every worker:"
        + SET_WORKER_CTX
        + "\nOr enable inlining on the worker (accepting the cloudpickle execution risk).",
        datafusion_text="Refusing to deserialize inline Python {kind} UDF '{function}': Python UDF inlining is disabled on this "
        "session.",
    ),
    CatalogEntry(
        id="by-name-not-registered",
        title="Function sent by name is not registered on the worker",
        layer="plan",
        stage="udf-decode",
        ties_to="function",
        eval_hint=EvalHint(pattern=r"is not provided for (?:scalar|aggregate|window) function", text="the function travels by name: register it on the worker context (--worker-ctx module:function)", restage=True),
        patterns=(rf"(?P<codec>Logical|Physical)ExtensionCodec is not provided for {_KIND} function {_FN}{_END}",),
        cause="'{function}' travelled by name only (a Python UDF encoded with inlining off, an FFI UDF, or a UDF "
        "whose payload was dropped), and the worker's context has no {kind} function called '{function}'. "
        "Despite the wording, no codec is missing: the function is.",
        fix="Register '{function}' on every worker (the pool initializer runs once per process):"
        + SET_WORKER_CTX
        + "\nOr let the UDF travel inline: encode without "
        "`with_python_udf_inlining(enabled=False)` (not possible for FFI UDFs).",
        datafusion_text="{codec}ExtensionCodec is not provided for {kind} function {function}",
    ),
    CatalogEntry(
        id="module-missing",
        title="A module the UDF imports is missing on the worker",
        layer="cloudpickle",
        stage="udf-decode",
        ties_to="function",
        eval_hint=EvalHint(pattern=r"ModuleNotFoundError", text="install the module on the worker, or make the sender pickle the function by value (on Ray: ship it with --ray-working-dir DIR or --ray-py-module PATH)"),
        patterns=(
            _PYERR
            + r"ModuleNotFoundError'>, value: ModuleNotFoundError\([\"']No module named '(?P<module>[^']+)'",
        ),
        cause="A Python UDF in the blob refers to module '{module}' by reference (an importable function, class or "
        "module global), and '{module}' cannot be imported on the worker. Only the driver has it.",
        fix="Install '{module}' on the workers (same version as the driver), or ship it inside the blob: call "
        "`cloudpickle.register_pickle_by_value({module})` on the driver before encoding. "
        "`exprtool inspect BLOB` lists every module the blob needs. Ray actors get it only through a "
        "`runtime_env` (`eval --engine ray --ray-working-dir DIR`).",
        datafusion_text="PyErr {{ type: <class 'ModuleNotFoundError'>, value: ModuleNotFoundError(\"No module named '{module}'\")",
    ),
    CatalogEntry(
        id="module-attribute-missing",
        title="The worker's copy of a module lacks the UDF's function",
        layer="cloudpickle",
        stage="udf-decode",
        ties_to="function",
        patterns=(
            _PYERR
            + r"AttributeError'>, value: AttributeError\(\"Can't get attribute '(?P<attribute>[^']+)' on "
            r"<module '(?P<module>[^']+)'",
        ),
        cause="A Python UDF refers to '{module}.{attribute}' by reference; the worker imports a '{module}' that has "
        "no '{attribute}' (a different version of that module).",
        fix="Deploy the same version of '{module}' to the workers, or ship it by value with "
        "`cloudpickle.register_pickle_by_value({module})` on the driver.",
        datafusion_text="Can't get attribute '{attribute}' on <module '{module}' …>",
    ),
    CatalogEntry(
        id="global-not-shipped",
        title="A by-value UDF uses a global that did not travel",
        layer="cloudpickle",
        stage="execute",
        ties_to="function",
        patterns=(_PYERR + r"NameError'>, value: NameError\([\"']name '(?P<name>[^']+)' is not defined",),
        cause="A Python UDF travels by value and its code uses the global name '{name}', but cloudpickle did not "
        "ship it: cloudpickle takes only the names the function's module globals held when it was pickled (a name "
        "defined later, deleted, or reached only through another object). Decoding succeeds; the first call fails.",
        fix="Ship the global: define '{name}' at module level of a by-value module before encoding (so the "
        "function's globals hold it), or register its module with `cloudpickle.register_pickle_by_value(module)`; "
        "`exprtool check BLOB` lists every such name.",
        datafusion_text="PyErr {{ type: <class 'NameError'>, value: NameError(\"name '{name}' is not defined\")",
    ),
    CatalogEntry(
        id="cloudpickle-truncated",
        title="UDF payload cut short",
        layer="cloudpickle",
        stage="udf-decode",
        ties_to="payload",
        patterns=(
            _PYERR + r"UnpicklingError'>, value: UnpicklingError\('(?P<detail>pickle data was truncated)'\)",
            _PYERR + r"EOFError'>, value: EOFError\('(?P<detail>Ran out of input)'\)",
        ),
        cause="The cloudpickle stream of an inline UDF ends early ({detail}): the bytes were truncated between "
        "sender and worker.",
        fix="Ship the bytes unchanged (binary-safe channel, no size limit); re-create the blob on the driver and "
        "compare with `exprtool check BLOB`.",
        datafusion_text="PyErr {{ type: <class '_pickle.UnpicklingError'>, value: UnpicklingError('pickle data was truncated')",
    ),
    CatalogEntry(
        id="cloudpickle-corrupt",
        title="UDF payload corrupted",
        layer="cloudpickle",
        stage="udf-decode",
        ties_to="payload",
        patterns=(
            r"Unable to decode [^\n]*?"
            + _PYERR
            + r"(?P<exc_type>[\w.]+)'>, value: (?P<detail>[^\n]*?), traceback",
        ),
        cause="Unpickling an inline UDF failed with {exc_type}: the cloudpickle bytes were altered in transit, or "
        "the UDF's own __setstate__/reduce code failed on the worker ({detail}).",
        fix="Re-create the blob on the driver and ship it as raw bytes; `exprtool check BLOB` reads the cloudpickle "
        "stream statically and points at the damaged offset.",
        datafusion_text="PyErr {{ type: <class '{exc_type}'>, value: {detail}, traceback: None }}",
        confidence="likely",
    ),
    CatalogEntry(
        id="codec-not-installed",
        title="Extension codec that wrote the payload is not installed",
        layer="envelope",
        stage="udf-decode",
        ties_to="function",
        eval_hint=EvalHint(pattern=r"was encoded by extension codec", text="install the same extension codec on the worker context", restage=True),
        patterns=(
            r"an? (?P<kind>[\w ]+?) was encoded by extension codec '(?P<codec_id>[^']+)', which is not installed "
            r"on this session \((?P<installed>[^)\n]*)\)",
        ),
        cause="The {kind} was written by extension codec '{codec_id}' (a DFPYCHN envelope), and the decoding session "
        "does not have that codec ({installed}).",
        fix="Install the same codec on the worker's context under the same id — "
        "`ctx.with_logical_extension_codec(codec, codec_id='{codec_id}')` (or the library's `with_extensions`) — "
        "and use that ctx (`datafusion.ipc.set_worker_ctx(ctx)`). An `anon:` id comes from a bare PyCapsule: "
        "reinstall it on the sender with `codec_id=` and re-encode.",
        datafusion_text="a {kind} was encoded by extension codec '{codec_id}', which is not installed on this session",
    ),
    CatalogEntry(
        id="envelope-version-unsupported",
        title="Codec envelope from another datafusion-python version",
        layer="envelope",
        stage="udf-decode",
        ties_to="function",
        patterns=(
            r"Extension codec payload envelope version v(?P<version>\d+); this build supports "
            r"(?P<supported>v\d+\.\.=v\d+)",
        ),
        cause="The DFPYCHN codec envelope is version v{version}; this datafusion-python reads {supported}. Sender "
        "and worker run different datafusion-python versions.",
        fix="Pin the same datafusion version on driver and workers; `exprtool check --env` compares them.",
        datafusion_text="Extension codec payload envelope version v{version}; this build supports {supported}.",
    ),
    CatalogEntry(
        id="envelope-truncated",
        title="Codec envelope cut short",
        layer="envelope",
        stage="udf-decode",
        ties_to="payload",
        patterns=(
            r"Truncated extension codec payload: (?P<detail>missing envelope version byte|missing codec id length"
            r"|codec id shorter than its declared length)",
        ),
        cause="A UDF payload starts with the DFPYCHN codec envelope but ends inside it ({detail}): the blob was cut "
        "short or altered between sender and worker.",
        fix="Ship the bytes unchanged (a binary-safe transport: no text conversion, no size limit that cuts them); "
        "`exprtool inspect` on the sender's copy shows where the envelope should end.",
        datafusion_text="Truncated extension codec payload: {detail}",
    ),
    CatalogEntry(
        id="envelope-codec-id-invalid",
        title="Codec envelope with a codec id that is not UTF-8",
        layer="envelope",
        stage="udf-decode",
        ties_to="payload",
        patterns=(rf"Extension codec payload carries a non-UTF-8 codec id: (?P<detail>[^\n\"]+?){_END}",),
        cause="The codec id inside a DFPYCHN envelope is not valid UTF-8 ({detail}): codecs write their ids as UTF-8, "
        "so the bytes were altered in transit.",
        fix="Re-create the blob on the sender and ship it over a binary-safe transport; `exprtool diff` against the "
        "sender's copy shows the damaged byte.",
        datafusion_text="Extension codec payload carries a non-UTF-8 codec id: {detail}",
    ),
    CatalogEntry(
        id="family-mismatch",
        title="UDF payload of another kind inside a function node",
        layer="dfpy",
        stage="udf-decode",
        ties_to="function",
        patterns=(),
        cause="The {kind} function node '{function}' carries a payload framed for another UDF kind (DFPYUDF scalar, "
        "DFPYUDA aggregate, DFPYUDW window). datafusion's {kind} codec does not read it and falls back to one "
        "that has none, so registering '{function}' on the worker does not help: the blob was spliced or altered.",
        fix="Re-create the blob on the sender from the original expression; `exprtool inspect` on the sender's copy "
        "shows each function's kind and frame.",
        datafusion_text="{codec}ExtensionCodec is not provided for {kind} function {function}",
        refines="by-name-not-registered",
    ),
    CatalogEntry(
        id="pickle-given-to-from-bytes",
        title="pickle.dumps output given to from_bytes",
        layer="container",
        stage="decode",
        ties_to="blob",
        patterns=(r"failed to decode Protobuf message: (?P<detail>invalid tag value: 0)\b",),
        cause="Most often these are `pickle.dumps(expr)` bytes passed to `Expr.from_bytes` (its docstring says that "
        "works; it does not): a pickle starts with 0x80 and soon reads as field number 0.",
        fix="Use the matching pair: `pickle.loads(b)` for `pickle.dumps(expr)`, `Expr.from_bytes(b)` for "
        "`expr.to_bytes()`. `exprtool inspect BLOB` tells which one you have.",
        datafusion_text="failed to decode Protobuf message: invalid tag value: 0",
        confidence="likely",
    ),
    CatalogEntry(
        id="too-deep",
        title="Blob nested deeper than datafusion decodes",
        layer="protobuf",
        stage="decode",
        ties_to="blob",
        patterns=(r"failed to decode Protobuf message: (?P<path>(?:[\w.]+: )*)recursion limit reached",),
        cause="The blob nests more than 100 protobuf messages on one path (prost's decode limit): about 50 nested "
        "function calls, or about 48 plan nodes stacked on one path, each node two messages whatever its number "
        "of inputs. Encoding has no such limit, so the sender produced bytes no datafusion can decode.",
        fix="{remedy} `exprtool inspect BLOB` shows the depth.",
        remedies=DEEP_FIXES,
        datafusion_text="failed to decode Protobuf message: … recursion limit reached",
    ),
    CatalogEntry(
        id="protobuf-truncated",
        title="Blob cut short",
        layer="protobuf",
        stage="decode",
        ties_to="blob",
        patterns=(r"failed to decode Protobuf message: (?P<path>(?:[\w.]+: )*)buffer underflow",),
        cause="The protobuf message ends before its declared length: the blob was truncated (partial read or "
        "write, size-limited channel, bytes→str→bytes conversion).",
        fix="Ship the exact bytes (`len()` on both sides must match); `exprtool explain --blob SENT_BLOB` compares "
        "the sent size with where the data ended.",
        datafusion_text="failed to decode Protobuf message: LogicalExprNode.expr_type: buffer underflow",
    ),
    CatalogEntry(
        id="wrong-message-type",
        title="Bytes of one kind given to another decoder",
        layer="protobuf",
        stage="decode",
        ties_to="blob",
        patterns=(
            r"Unsupported logical plan 'LogicalPlanNode \{ logical_plan_type: None \}'",
            r"Internal error: Missing required field in protobuf",
            r"failed to decode Protobuf message: (?P<path>(?:[\w.]+: )*)(?P<detail>invalid wire type: \w+ "
            r"\(expected \w+\)|invalid string value: data is not UTF-8 encoded)",
        ),
        cause="The bytes are a different protobuf message than the decoder expects: typically `expr.to_bytes()` given "
        "to `LogicalPlan.from_bytes` (or plan bytes to `Expr.from_bytes`, logical to physical). An empty or "
        "corrupted blob can read the same way.",
        fix="Decode with the matching class: Expr.from_bytes for Expr.to_bytes, LogicalPlan.from_bytes(ctx, b) for "
        "LogicalPlan.to_bytes, ExecutionPlan.from_bytes(ctx, b) for ExecutionPlan.to_bytes. "
        "`exprtool inspect BLOB` detects which message the bytes hold.",
        datafusion_text="Unsupported logical plan 'LogicalPlanNode {{ logical_plan_type: None }}' | Missing required field in "
        "protobuf | invalid wire type: … (expected …)",
        confidence="likely",
    ),
    CatalogEntry(
        id="protobuf-garbage",
        title="Blob is not a datafusion protobuf",
        layer="protobuf",
        stage="decode",
        ties_to="blob",
        eval_hint=EvalHint(pattern=r"failed to decode Protobuf message|Missing required field", text=GENERIC_HINT),
        patterns=(
            r"failed to decode Protobuf message: (?P<path>(?:[\w.]+: )*)(?P<detail>invalid varint|invalid tag "
            r"value: \d+|invalid wire type value: \d+|invalid key value: \d+|unexpected end group tag|"
            r"delimited length exceeded|[^\n]+)",
        ),
        cause="The bytes do not parse as protobuf ({detail}): not a datafusion blob, corrupted in transit, or "
        "still wrapped (base64/hex text, compression, a pickle).",
        fix="Check what the worker actually received: `exprtool inspect BLOB` detects pickles and base64/hex text; "
        "ship raw bytes end to end.",
        datafusion_text="failed to decode Protobuf message: {detail}",
    ),
    CatalogEntry(
        id="empty-blob",
        title="Empty blob",
        layer="protobuf",
        stage="decode",
        ties_to="blob",
        patterns=(r"Unable to decode expr: Missing required field expr_type",),
        cause="The decoder got zero bytes (or a message with no expression set): the payload was lost on the way "
        "(empty file, wrong key, failed read).",
        fix="Check that the blob was written and read in full (`len(blob) > 0`); `exprtool inspect BLOB`.",
        datafusion_text="Unable to decode expr: Missing required field expr_type",
    ),
    CatalogEntry(
        id="cannot-pickle",
        title="Object that cannot be pickled",
        layer="pickle",
        stage="encode",
        ties_to="object",
        patterns=(r"cannot pickle '(?P<type>datafusion\.[\w.]+)' object",),
        cause="Only `datafusion.Expr` can be pickled in datafusion 55; a {type} cannot (DataFrame, LogicalPlan, "
        "ExecutionPlan, SessionContext, SortExpr, WindowFrame and UDF objects all refuse). In a process pool "
        "this also happens when a worker *returns* one ('Error sending result').",
        fix="Ship something serializable: a DataFrame as `df.logical_plan().to_bytes()` (receiver: "
        "`ctx.create_dataframe_from_logical_plan(LogicalPlan.from_bytes(ctx, b))`), a plan via `to_bytes()`, a "
        "UDF inside an Expr that calls it, results as pyarrow tables (`df.to_arrow_table()`); build the "
        "SessionContext on the worker.",
        datafusion_text="cannot pickle '{type}' object",
    ),
    CatalogEntry(
        id="subquery-not-serializable",
        title="EXISTS / IN subquery cannot be serialized",
        layer="protobuf",
        stage="encode",
        ties_to="plan",
        patterns=(r"Proto serialization error: (?P<what>[^\n]*?<subquery>\)) is not yet supported",),
        cause="datafusion-proto 55 cannot encode {what}: EXISTS and IN subqueries have no protobuf form (scalar "
        "subqueries do).",
        fix="Rewrite the subquery as a join (semi join for EXISTS / IN, anti join for NOT EXISTS / NOT IN), or run "
        "the SQL on the worker instead of shipping the plan.",
        datafusion_text="Proto serialization error: {what} is not yet supported",
    ),
    CatalogEntry(
        id="memory-table-not-serializable",
        title="In-memory table cannot be serialized in a logical plan",
        layer="plan",
        stage="encode",
        ties_to="plan",
        patterns=(r"Error serializing custom table", r"No installed extension codec handled a table provider"),
        cause="The plan scans an in-memory table (from_pydict / from_arrow / register_record_batches). Logical plans "
        "have no encoding for it; only the physical plan carries the rows.",
        fix="Write the data to Parquet/CSV that workers can read and register it as a listing table, ship the rows "
        "separately (Arrow IPC) and register them on the worker, or ship "
        "`df.execution_plan().to_bytes()` (rows included).",
        datafusion_text="Error serializing custom table … LogicalExtensionCodec is not provided",
    ),
)

#: the data's errors (a cast, a division, an overflow while the query runs) come before the predicted damage:
#: datafusion words some of them like damaged Arrow rows met while decoding, and the specific reading wins
ENTRIES: tuple[CatalogEntry, ...] = (*SERIALIZATION, *VALUE_FAILURES, *PREDICTED, *RUN_FAILURES)



#: entries by id, for `check` and the JSON output
CATALOG: dict[str, CatalogEntry] = {e.id: e for e in ENTRIES}
#: what eval's classifier tries, in order: the worker's own failures first (a FileNotFoundError anywhere in
#: the text is the worker's directory), then the serialization failures, then the other failures of a run
EVAL_HINTED: tuple[CatalogEntry, ...] = (
    CATALOG["worker-cwd-file-missing"],
    *(e for e in ENTRIES if e.eval_hint is not None and e.explained),
    *(e for e in ENTRIES if e.eval_hint is not None and not e.explained and e.id != "worker-cwd-file-missing"),
)
