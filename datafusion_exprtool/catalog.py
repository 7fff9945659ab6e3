"""Every known datafusion 55 serialization failure, as data: how it reads, what caused it, how to fix it.

One entry per failure. ``patterns`` are regexes over datafusion's text *after* ``explain.normalize``
(ANSI codes stripped, ``\\"`` unescaped), with named groups for the facts the text carries (function,
kind, versions, module, codec id, ...). ``cause`` and ``fix`` are ``str.format`` templates over those
groups; a group that did not match renders as ``<name>``. ``datafusion_text`` is the shape of
datafusion's own message (fact sheet §2.8), for ``check`` to say what a receiver would print.

Order matters: when two entries match overlapping text, the earlier (more specific) one wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FN = r"(?P<function>[^\n\"'\\]+?)"  # a function name runs to the closing quote/paren or line end
_END = r"(?=\\*[\"')]|\s*$|\n)"
_KIND = r"(?P<kind>scalar|aggregate|window)"
_PYERR = r"PyErr \{ type: <class '(?:builtins\.)?(?:_pickle\.)?"

SET_WORKER_CTX = (
    "\n    def init_worker():\n"
    "        ctx = SessionContext()\n"
    "        ctx.register_udf(the_udf)   # register_udaf / register_udwf for the other kinds\n"
    "        datafusion.ipc.set_worker_ctx(ctx)\n"
    "    Pool(initializer=init_worker)\n"
    "(Ray: do it in the actor's __init__; `Expr.from_bytes(b, ctx)` takes the ctx directly.)"
)


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    title: str
    layer: str  # container | pickle | protobuf | dfpy | cloudpickle | envelope | plan | arrow-ipc
    patterns: tuple[str, ...]
    cause: str
    fix: str
    datafusion_text: str = ""
    confidence: str = "certain"  # "certain": the text names this failure; "likely": the usual cause
    refines: str = ""  # an entry whose text this one shares: no patterns; explain --blob tells them apart
    compiled: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", tuple(re.compile(p, re.MULTILINE) for p in self.patterns))


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def render(template: str, fields: dict[str, str | None]) -> str:
    """Fill a cause/fix template; absent fields show as ``<name>``."""
    return template.format_map(_Blank({k: v for k, v in fields.items() if v is not None}))


ENTRIES: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        "python-minor-mismatch",
        "Python minor version differs between sender and worker",
        "dfpy",
        (
            rf"Inline Python {_KIND} UDF payload was serialized on Python (?P<sender_python>\d+\.\d+) but this "
            r"process is running Python (?P<receiver_python>\d+\.\d+)",
        ),
        "The {kind} UDF was pickled (cloudpickle) on Python {sender_python} and this worker runs Python "
        "{receiver_python}. cloudpickle bytecode is not portable across Python minor versions, so datafusion "
        "refuses the payload before unpickling it.",
        "Run the driver and the workers on the same Python minor version (same image / same venv). If they "
        "cannot match, send the function by name instead: `exprtool reencode --by-name BLOB` (or encode with "
        "`SessionContext().with_python_udf_inlining(enabled=False)`) and register it on every worker:"
        + SET_WORKER_CTX,
        "Inline Python {kind} UDF payload was serialized on Python {sender_python} but this process is running "
        "Python {receiver_python}.",
    ),
    CatalogEntry(
        "wire-version-unsupported",
        "UDF payload from another datafusion-python version",
        "dfpy",
        (
            rf"Inline Python {_KIND} UDF payload wire-format version v(?P<version>\d+); this build supports "
            r"(?P<supported>v\d+\.\.=v\d+)",
        ),
        "The inline {kind} UDF payload uses DFPY wire-format v{version}; this datafusion-python reads only "
        "{supported}. Sender and worker run different datafusion-python versions.",
        "Pin the same datafusion version on driver and workers (`pip install datafusion==<driver's version>`); "
        "`exprtool check --env` compares the two environments.",
        "Inline Python {kind} UDF payload wire-format version v{version}; this build supports {supported}.",
    ),
    CatalogEntry(
        "header-truncated",
        "UDF payload header cut short",
        "dfpy",
        (
            rf"Truncated inline Python {_KIND} UDF payload: missing (?P<missing>wire-format version|Python major "
            r"version|Python minor version) byte",
        ),
        "The inline {kind} UDF payload ends inside its 10-byte DFPY header (no {missing} byte): the bytes were "
        "truncated or rewritten between sender and worker.",
        "Ship the bytes unchanged: no str()/text decoding, no size-limited channel. Compare the sender's blob "
        "with `exprtool explain --blob SENDER_BLOB` or `exprtool check`.",
        "Truncated inline Python {kind} UDF payload: missing {missing} byte",
    ),
    CatalogEntry(
        "inlining-disabled",
        "Worker refuses inline Python UDFs",
        "dfpy",
        (
            rf"Refusing to deserialize inline Python {_KIND} UDF '(?P<function>[^']*)': Python UDF inlining is "
            r"disabled",
        ),
        "The blob carries {kind} UDF '{function}' as pickled Python code, and the receiving session was created "
        "with `with_python_udf_inlining(enabled=False)`, so it will not unpickle it.",
        "Either have the sender re-encode with the function by name (`exprtool reencode --by-name BLOB`, or "
        "`to_bytes(SessionContext().with_python_udf_inlining(enabled=False))`) and register '{function}' on "
        "every worker:"
        + SET_WORKER_CTX
        + "\nOr enable inlining on the worker (accepting the cloudpickle execution risk).",
        "Refusing to deserialize inline Python {kind} UDF '{function}': Python UDF inlining is disabled on this "
        "session.",
    ),
    CatalogEntry(
        "by-name-not-registered",
        "Function sent by name is not registered on the worker",
        "plan",
        (rf"(?P<codec>Logical|Physical)ExtensionCodec is not provided for {_KIND} function {_FN}{_END}",),
        "'{function}' travelled by name only (a Python UDF encoded with inlining off, an FFI UDF, or a UDF "
        "whose payload was dropped), and the worker's context has no {kind} function called '{function}'. "
        "Despite the wording, no codec is missing: the function is.",
        "Register '{function}' on every worker (the pool initializer runs once per process):"
        + SET_WORKER_CTX
        + "\nOr let the UDF travel inline: encode without "
        "`with_python_udf_inlining(enabled=False)` (not possible for FFI UDFs).",
        "{codec}ExtensionCodec is not provided for {kind} function {function}",
    ),
    CatalogEntry(
        "module-missing",
        "A module the UDF imports is missing on the worker",
        "cloudpickle",
        (
            _PYERR
            + r"ModuleNotFoundError'>, value: ModuleNotFoundError\([\"']No module named '(?P<module>[^']+)'",
        ),
        "A Python UDF in the blob refers to module '{module}' by reference (an importable function, class or "
        "module global), and '{module}' cannot be imported on the worker. Only the driver has it.",
        "Install '{module}' on the workers (same version as the driver), or ship it inside the blob: call "
        "`cloudpickle.register_pickle_by_value({module})` on the driver before encoding. "
        "`exprtool inspect BLOB` lists every module the blob needs.",
        "PyErr {{ type: <class 'ModuleNotFoundError'>, value: ModuleNotFoundError(\"No module named '{module}'\")",
    ),
    CatalogEntry(
        "module-attribute-missing",
        "The worker's copy of a module lacks the UDF's function",
        "cloudpickle",
        (
            _PYERR
            + r"AttributeError'>, value: AttributeError\(\"Can't get attribute '(?P<attribute>[^']+)' on "
            r"<module '(?P<module>[^']+)'",
        ),
        "A Python UDF refers to '{module}.{attribute}' by reference; the worker imports a '{module}' that has "
        "no '{attribute}' (a different version of that module).",
        "Deploy the same version of '{module}' to the workers, or ship it by value with "
        "`cloudpickle.register_pickle_by_value({module})` on the driver.",
        "Can't get attribute '{attribute}' on <module '{module}' …>",
    ),
    CatalogEntry(
        "cloudpickle-truncated",
        "UDF payload cut short",
        "cloudpickle",
        (
            _PYERR + r"UnpicklingError'>, value: UnpicklingError\('(?P<detail>pickle data was truncated)'\)",
            _PYERR + r"EOFError'>, value: EOFError\('(?P<detail>Ran out of input)'\)",
        ),
        "The cloudpickle stream of an inline UDF ends early ({detail}): the bytes were truncated between "
        "sender and worker.",
        "Ship the bytes unchanged (binary-safe channel, no size limit); re-create the blob on the driver and "
        "compare with `exprtool check BLOB`.",
        "PyErr {{ type: <class '_pickle.UnpicklingError'>, value: UnpicklingError('pickle data was truncated')",
    ),
    CatalogEntry(
        "cloudpickle-corrupt",
        "UDF payload corrupted",
        "cloudpickle",
        (
            r"Unable to decode [^\n]*?"
            + _PYERR
            + r"(?P<exc_type>[\w.]+)'>, value: (?P<detail>[^\n]*?), traceback",
        ),
        "Unpickling an inline UDF failed with {exc_type}: the cloudpickle bytes were altered in transit, or "
        "the UDF's own __setstate__/reduce code failed on the worker ({detail}).",
        "Re-create the blob on the driver and ship it as raw bytes; `exprtool check BLOB` reads the cloudpickle "
        "stream statically and points at the damaged offset.",
        "PyErr {{ type: <class '{exc_type}'>, value: {detail}, traceback: None }}",
        confidence="likely",
    ),
    CatalogEntry(
        "codec-not-installed",
        "Extension codec that wrote the payload is not installed",
        "envelope",
        (
            r"an? (?P<kind>[\w ]+?) was encoded by extension codec '(?P<codec_id>[^']+)', which is not installed "
            r"on this session \((?P<installed>[^)\n]*)\)",
        ),
        "The {kind} was written by extension codec '{codec_id}' (a DFPYCHN envelope), and the decoding session "
        "does not have that codec ({installed}).",
        "Install the same codec on the worker's context under the same id — "
        "`ctx.with_logical_extension_codec(codec, codec_id='{codec_id}')` (or the library's `with_extensions`) — "
        "and use that ctx (`datafusion.ipc.set_worker_ctx(ctx)`). An `anon:` id comes from a bare PyCapsule: "
        "reinstall it on the sender with `codec_id=` and re-encode.",
        "a {kind} was encoded by extension codec '{codec_id}', which is not installed on this session",
    ),
    CatalogEntry(
        "envelope-version-unsupported",
        "Codec envelope from another datafusion-python version",
        "envelope",
        (
            r"Extension codec payload envelope version v(?P<version>\d+); this build supports "
            r"(?P<supported>v\d+\.\.=v\d+)",
        ),
        "The DFPYCHN codec envelope is version v{version}; this datafusion-python reads {supported}. Sender "
        "and worker run different datafusion-python versions.",
        "Pin the same datafusion version on driver and workers; `exprtool check --env` compares them.",
        "Extension codec payload envelope version v{version}; this build supports {supported}.",
    ),
    CatalogEntry(
        "envelope-truncated",
        "Codec envelope cut short",
        "envelope",
        (
            r"Truncated extension codec payload: (?P<detail>missing envelope version byte|missing codec id length"
            r"|codec id shorter than its declared length)",
        ),
        "A UDF payload starts with the DFPYCHN codec envelope but ends inside it ({detail}): the blob was cut "
        "short or altered between sender and worker.",
        "Ship the bytes unchanged (a binary-safe transport: no text conversion, no size limit that cuts them); "
        "`exprtool inspect` on the sender's copy shows where the envelope should end.",
        "Truncated extension codec payload: {detail}",
    ),
    CatalogEntry(
        "envelope-codec-id-invalid",
        "Codec envelope with a codec id that is not UTF-8",
        "envelope",
        (rf"Extension codec payload carries a non-UTF-8 codec id: (?P<detail>[^\n\"]+?){_END}",),
        "The codec id inside a DFPYCHN envelope is not valid UTF-8 ({detail}): codecs write their ids as UTF-8, "
        "so the bytes were altered in transit.",
        "Re-create the blob on the sender and ship it over a binary-safe transport; `exprtool diff` against the "
        "sender's copy shows the damaged byte.",
        "Extension codec payload carries a non-UTF-8 codec id: {detail}",
    ),
    CatalogEntry(
        "family-mismatch",
        "UDF payload of another kind inside a function node",
        "dfpy",
        (),
        "The {kind} function node '{function}' carries a payload framed for another UDF kind (DFPYUDF scalar, "
        "DFPYUDA aggregate, DFPYUDW window). datafusion's {kind} codec does not read it and falls back to one "
        "that has none, so registering '{function}' on the worker does not help: the blob was spliced or altered.",
        "Re-create the blob on the sender from the original expression; `exprtool inspect` on the sender's copy "
        "shows each function's kind and frame.",
        "{codec}ExtensionCodec is not provided for {kind} function {function}",
        refines="by-name-not-registered",
    ),
    CatalogEntry(
        "pickle-given-to-from-bytes",
        "pickle.dumps output given to from_bytes",
        "container",
        (r"failed to decode Protobuf message: (?P<detail>invalid tag value: 0)\b",),
        "Most often these are `pickle.dumps(expr)` bytes passed to `Expr.from_bytes` (its docstring says that "
        "works; it does not): a pickle starts with 0x80 and soon reads as field number 0.",
        "Use the matching pair: `pickle.loads(b)` for `pickle.dumps(expr)`, `Expr.from_bytes(b)` for "
        "`expr.to_bytes()`. `exprtool inspect BLOB` tells which one you have.",
        "failed to decode Protobuf message: invalid tag value: 0",
        confidence="likely",
    ),
    CatalogEntry(
        "too-deep",
        "Expression nested deeper than datafusion decodes",
        "protobuf",
        (r"failed to decode Protobuf message: (?P<path>(?:[\w.]+: )*)recursion limit reached",),
        "The blob nests more than 100 protobuf messages (prost's decode limit; about 50 nested function calls "
        "or 49 stacked plan nodes). Encoding has no such limit, so the sender produced bytes no datafusion can "
        "decode.",
        "Flatten the expression on the driver: chain same-operator terms (`a + b + c` stays flat), build "
        "deep CASE/IN logic as `in_list` or a lookup join, or precompute intermediate columns. "
        "`exprtool inspect BLOB` shows the depth.",
        "failed to decode Protobuf message: LogicalExprNode.expr_type: … recursion limit reached",
    ),
    CatalogEntry(
        "protobuf-truncated",
        "Blob cut short",
        "protobuf",
        (r"failed to decode Protobuf message: (?P<path>(?:[\w.]+: )*)buffer underflow",),
        "The protobuf message ends before its declared length: the blob was truncated (partial read or "
        "write, size-limited channel, bytes→str→bytes conversion).",
        "Ship the exact bytes (`len()` on both sides must match); `exprtool explain --blob SENT_BLOB` compares "
        "the sent size with where the data ended.",
        "failed to decode Protobuf message: LogicalExprNode.expr_type: buffer underflow",
    ),
    CatalogEntry(
        "wrong-message-type",
        "Bytes of one kind given to another decoder",
        "protobuf",
        (
            r"Unsupported logical plan 'LogicalPlanNode \{ logical_plan_type: None \}'",
            r"Internal error: Missing required field in protobuf",
            r"failed to decode Protobuf message: (?P<path>(?:[\w.]+: )*)(?P<detail>invalid wire type: \w+ "
            r"\(expected \w+\)|invalid string value: data is not UTF-8 encoded)",
        ),
        "The bytes are a different protobuf message than the decoder expects: typically `expr.to_bytes()` given "
        "to `LogicalPlan.from_bytes` (or plan bytes to `Expr.from_bytes`, logical to physical). An empty or "
        "corrupted blob can read the same way.",
        "Decode with the matching class: Expr.from_bytes for Expr.to_bytes, LogicalPlan.from_bytes(ctx, b) for "
        "LogicalPlan.to_bytes, ExecutionPlan.from_bytes(ctx, b) for ExecutionPlan.to_bytes. "
        "`exprtool inspect BLOB` detects which message the bytes hold.",
        "Unsupported logical plan 'LogicalPlanNode {{ logical_plan_type: None }}' | Missing required field in "
        "protobuf | invalid wire type: … (expected …)",
        confidence="likely",
    ),
    CatalogEntry(
        "protobuf-garbage",
        "Blob is not a datafusion protobuf",
        "protobuf",
        (
            r"failed to decode Protobuf message: (?P<path>(?:[\w.]+: )*)(?P<detail>invalid varint|invalid tag "
            r"value: \d+|invalid wire type value: \d+|invalid key value: \d+|unexpected end group tag|"
            r"delimited length exceeded|[^\n]+)",
        ),
        "The bytes do not parse as protobuf ({detail}): not a datafusion blob, corrupted in transit, or "
        "still wrapped (base64/hex text, compression, a pickle).",
        "Check what the worker actually received: `exprtool inspect BLOB` detects pickles and base64/hex text; "
        "ship raw bytes end to end.",
        "failed to decode Protobuf message: {detail}",
    ),
    CatalogEntry(
        "empty-blob",
        "Empty blob",
        "protobuf",
        (r"Unable to decode expr: Missing required field expr_type",),
        "The decoder got zero bytes (or a message with no expression set): the payload was lost on the way "
        "(empty file, wrong key, failed read).",
        "Check that the blob was written and read in full (`len(blob) > 0`); `exprtool inspect BLOB`.",
        "Unable to decode expr: Missing required field expr_type",
    ),
    CatalogEntry(
        "cannot-pickle",
        "Object that cannot be pickled",
        "pickle",
        (r"cannot pickle '(?P<type>datafusion\.[\w.]+)' object",),
        "Only `datafusion.Expr` can be pickled in datafusion 55; a {type} cannot (DataFrame, LogicalPlan, "
        "ExecutionPlan, SessionContext, SortExpr, WindowFrame and UDF objects all refuse). In a process pool "
        "this also happens when a worker *returns* one ('Error sending result').",
        "Ship something serializable: a DataFrame as `df.logical_plan().to_bytes()` (receiver: "
        "`ctx.create_dataframe_from_logical_plan(LogicalPlan.from_bytes(ctx, b))`), a plan via `to_bytes()`, a "
        "UDF inside an Expr that calls it, results as pyarrow tables (`df.to_arrow_table()`); build the "
        "SessionContext on the worker.",
        "cannot pickle '{type}' object",
    ),
    CatalogEntry(
        "subquery-not-serializable",
        "EXISTS / IN subquery cannot be serialized",
        "protobuf",
        (r"Proto serialization error: (?P<what>[^\n]*?<subquery>\)) is not yet supported",),
        "datafusion-proto 55 cannot encode {what}: EXISTS and IN subqueries have no protobuf form (scalar "
        "subqueries do).",
        "Rewrite the subquery as a join (semi join for EXISTS / IN, anti join for NOT EXISTS / NOT IN), or run "
        "the SQL on the worker instead of shipping the plan.",
        "Proto serialization error: {what} is not yet supported",
    ),
    CatalogEntry(
        "memory-table-not-serializable",
        "In-memory table cannot be serialized in a logical plan",
        "plan",
        (r"Error serializing custom table", r"No installed extension codec handled a table provider"),
        "The plan scans an in-memory table (from_pydict / from_arrow / register_record_batches). Logical plans "
        "have no encoding for it; only the physical plan carries the rows.",
        "Write the data to Parquet/CSV that workers can read and register it as a listing table, ship the rows "
        "separately (Arrow IPC) and register them on the worker, or ship "
        "`df.execution_plan().to_bytes()` (rows included).",
        "Error serializing custom table … LogicalExtensionCodec is not provided",
    ),
    # --- failures `check` predicts (check_damage, proto.semantics): after every entry above, so that an
    # existing, more specific reading of the same text wins (a top-level empty blob stays `empty-blob`,
    # an empty top-level logical plan node stays `wrong-message-type`)
    CatalogEntry(
        "pickle-truncated",
        "Pickled Expr cut short",
        "pickle",
        (r"(?:UnpicklingError|EOFError): (?P<detail>pickle data was truncated|Ran out of input)",),
        "`pickle.loads` stopped before the pickle's STOP opcode ({detail}): the `pickle.dumps(expr)` bytes "
        "were truncated between sender and receiver.",
        "Ship the exact bytes (binary-safe channel, no size limit: `len()` must match on both sides); "
        "re-create the blob with `pickle.dumps(expr)` on the sender. `exprtool check BLOB` shows where it stops.",
        "{detail}",
    ),
    CatalogEntry(
        "pickle-corrupt",
        "Pickled Expr corrupted",
        "pickle",
        (r"UnpicklingError: (?P<detail>[^\n]+)",),
        "`pickle.loads` met bytes no pickle has ({detail}): the `pickle.dumps(expr)` output was altered in "
        "transit (text decoding, a patched byte) or is not a pickle at all.",
        "Re-create it with `pickle.dumps(expr)` and ship raw bytes; `exprtool inspect BLOB` shows where it "
        "breaks.",
        "{detail}",
        confidence="likely",
    ),
    CatalogEntry(
        "table-rows-corrupt",
        "Rows inside a physical plan corrupted",
        "arrow-ipc",
        (r"DataFusion error: Arrow error: (?P<detail>[^\n]+)",),
        "Arrow refused data while the plan was decoded ({detail}): the rows a physical plan carries (a memory "
        "table's Arrow IPC partitions) were altered in transit.",
        "Re-create the plan (`df.execution_plan().to_bytes()`) and ship raw bytes; `exprtool check BLOB` "
        "validates every partition and names the damaged one.",
        "Arrow error: {detail}",
        confidence="likely",
    ),
    CatalogEntry(
        "literal-value-corrupt",
        "Nested literal value corrupted",
        "arrow-ipc",
        (
            r"Error IPC message while deserializing nested ScalarValue: (?P<detail>[^\n]+)",
            r"Decoding nested ScalarValue value[^\n]*?(?P<detail>ArrowError\([^\n]+)",
            r"(?:PanicException: |Rust panic: |panicked[^\n]*\n)?(?P<detail>the offset of the new Buffer cannot "
            r"exceed the existing length[^\n]*)",
        ),
        "The Arrow IPC bytes of a nested literal (a list, struct or map value) were altered in transit "
        "({detail}). datafusion reads them with arrow-rs, which refuses them or panics slicing a buffer.",
        "Re-create the expression on the sender and ship raw bytes (no text conversion); `exprtool check BLOB` "
        "names the literal and its byte offset.",
        "Error IPC message while deserializing nested ScalarValue: … / Decoding nested ScalarValue value … / "
        "the offset of the new Buffer cannot exceed the existing length: …",
        confidence="likely",
    ),
    CatalogEntry(
        "empty-plan-node",
        "Plan node with nothing set",
        "protobuf",
        (
            r"Unsupported (?P<plan>physical|logical) plan '(?P<node>(?:Physical|Logical)PlanNode) \{ "
            r"(?P<oneof>\w+): None \}'",
        ),
        "A {node} inside the plan has no node type set ({oneof}: None): prost reads it, datafusion's "
        "from_proto refuses it. The blob was altered in transit or written by another datafusion version.",
        "Re-create the plan on the sender and ship raw bytes; `exprtool check BLOB` names the empty node and "
        "its byte offset.",
        "Unsupported {plan} plan '{node} {{ {oneof}: None }}'",
    ),
    CatalogEntry(
        "missing-required-field",
        "Node lacks a field datafusion requires",
        "protobuf",
        (
            r"(?P<detail>Missing required field (?!in protobuf)(?P<field>[\w.]+))",
            r"(?P<detail>Unexpected empty physical expression|missing window frame during deserialization|"
            r"Invalid schema while deserializing nested ScalarValue)",
        ),
        "A nested node lacks a field datafusion requires ({detail}): prost reads the blob, datafusion's "
        "from_proto refuses it. The blob was altered in transit (a flipped bit, a text conversion) or "
        "written by another datafusion version.",
        "Re-create the blob on the sender and ship raw bytes; `exprtool check BLOB` names the node and its "
        "byte offset.",
        "{detail}",
    ),
    CatalogEntry(
        "unknown-binary-operator",
        "Binary expression with an unknown operator",
        "protobuf",
        (
            r"Unsupported binary operator '\"(?P<operator>[^\"\n]*)\"'",
            r"Unsupported binary operator '(?P<operator>[^\n]*)",
        ),
        "A binary expression names operator '{operator}', which this datafusion does not have: the operator "
        "name was altered in transit, or the sender's datafusion has an operator this one lacks.",
        "Re-create the blob on the sender and ship raw bytes; if it is intact, run the same datafusion "
        "version on both sides (`exprtool check --env`).",
        "Unsupported binary operator '\"{operator}\"'",
    ),
    CatalogEntry(
        "binary-operands",
        "Binary expression with fewer than two operands",
        "protobuf",
        (r"A binary expression must always have at least 2 operands",),
        "A binary expression in the blob has fewer than two operands: datafusion never writes one, so the "
        "blob was altered in transit or built by hand.",
        "Re-create the blob on the sender and ship raw bytes; `exprtool check BLOB` names the node's offset.",
        "A binary expression must always have at least 2 operands",
    ),
    CatalogEntry(
        "enum-out-of-range",
        "Enum value datafusion does not know",
        "protobuf",
        (
            r"(?P<detail>Unknown i32 value for (?P<enum>\w+) enum: (?P<value>-?\d+))",
            r"(?P<detail>Received an? (?P<node>\w+) message with unknown (?P<enum>\w+) (?P<value>-?\d+))",
        ),
        "A {enum} field holds {value}, which datafusion 55 does not define: the blob was altered in transit "
        "or written by a newer datafusion.",
        "Re-create the blob on the sender and ship raw bytes; if it is intact, run the same datafusion "
        "version on both sides (`exprtool check --env`).",
        "{detail}",
    ),
)

#: entries by id, for `check` and the JSON output
CATALOG: dict[str, CatalogEntry] = {e.id: e for e in ENTRIES}


@dataclass(frozen=True)
class Wrapper:
    """A way a failure reaches the user far from its cause; recognised so the hint can say where to look."""

    id: str
    pattern: str
    hint: str


WRAPPERS: tuple[Wrapper, ...] = (
    Wrapper(
        "multiprocessing",
        r"multiprocessing\.pool\.RemoteTraceback|^RemoteTraceback",
        "raised in a multiprocessing worker; the worker-side traceback is the quoted block",
    ),
    Wrapper(
        "multiprocessing-result",
        r"MaybeEncodingError|Error sending result:",
        "the worker's *return value* could not be pickled back to the parent",
    ),
    Wrapper(
        "concurrent.futures",
        r"concurrent\.futures\.process\._RemoteTraceback|_RemoteTraceback",
        "raised in a ProcessPoolExecutor worker",
    ),
    Wrapper(
        "broken-process-pool",
        r"BrokenProcessPool",
        "a worker died or its initializer failed; the first error above is the cause",
    ),
    Wrapper(
        "ray",
        r"RayTaskError|ray\.exceptions\.|\bray::",
        "raised inside a Ray task/actor while it decoded its arguments",
    ),
    Wrapper("dask", r"distributed\.|dask\.", "re-raised by Dask from a worker"),
    Wrapper("joblib", r"joblib\.|loky\.", "re-raised by joblib/loky from a worker"),
    Wrapper("pyerr", r"PyErr \{ type:", "a Python exception raised inside datafusion's Rust code (PyErr)"),
)
