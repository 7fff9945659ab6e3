"""The neutral decoded model: what a blob holds, with no knowledge of consoles or JSON.

Data flows one way: bytes -> layer decoders -> these objects -> reports -> renderers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: bump when a key of the JSON output changes meaning or disappears
SCHEMA_VERSION = 1

LAYERS = ("container", "pickle", "protobuf", "dfpy", "cloudpickle", "arrow-ipc")


@dataclass
class InputInfo:
    path: str  # "-" for stdin
    size: int  # bytes as read (before base64/hex decoding)
    sha256: str  # of the bytes as read
    container: str  # "pickle" | "protobuf"
    text_encoding: str | None = None  # None | "base64" | "hex" | "python-bytes" | "base64+base64" …, outer first
    pickle_protocol: int | None = None


#: how a shown sentence hands over to the text the receiver raises, after exprtool's own words
#: what datafusion's from_proto refuses though prost reads the bytes (``layers/proto/semantics.py`` proves each
#: from the bytes alone, with datafusion's own text)
FROM_PROTO_IDS = frozenset({
    "missing-required-field", "empty-plan-node", "unknown-binary-operator", "binary-operands", "enum-out-of-range",
    "scan-column-unresolved",
})  # fmt: skip
#: a physical file scan's projection naming a column past its schema (``inspection/plan_scans.py``)
UNRESOLVED_ID = "scan-column-unresolved"
#: Arrow IPC values inside the protobuf that do not read back (``inspection/arrow_damage.py``)
ARROW_DAMAGE_IDS = frozenset({"literal-value-corrupt", "table-rows-corrupt"})
#: inspection warnings that say a layer could not be read (not merely left opaque, as a foreign codec's bytes or
#: a node the tables do not expand are): the blob is damaged and the receiver's decoder refuses it too. The one
#: list both `inspect` (exit 3) and `check` (an error for each) read, through ``Inspection.damage``
DAMAGE_IDS = frozenset({
    "layer-error",  # a DFPY frame, a cloudpickle stream or an Arrow IPC schema the reader gave up on
    "frame-overrun",  # a pickle FRAME (outer pickle or UDF stream) claiming more bytes than follow
    "udf-tuple-shape",  # the UDF stream reads, but not as the tuple datafusion unpacks
    "udf-schema-not-bytes",  # a UDF's Arrow schema that is not bytes
    "dfpy-truncated",  # the DFPY header cut short
    "dfpy-envelope-truncated",  # the DFPYCHN envelope cut short
}) | FROM_PROTO_IDS | ARROW_DAMAGE_IDS  # fmt: skip
RAISES = "; the receiver raises: "
#: how a shown sentence introduces datafusion's refusal when exprtool adds no words of its own
REFUSES = "datafusion refuses this: "


@dataclass(kw_only=True)
class Finding:
    """One fact a report wants a human to see: a safety finding, an inspection warning, a check failure.

    Its parts stay apart: ``message`` is exprtool's own words, ``datafusion_text`` what datafusion (or the
    receiver's unpickler) would raise for it; a display joins them (``sentence``), a report that lists them
    separately (check) reads each. A layer that knows which error catalog entry the receiver meets sets
    ``catalog_id``; one that reports a ``DecodeError`` keeps its ``kind`` in ``decode_kind``: reports read
    these, never the wording of ``message``.
    """

    id: str  # stable kebab-case identifier; in a check report the catalog id when datafusion has a text for it
    severity: str  # "info" | "warning" | "error"
    layer: str  # one of LAYERS (or "plan" for a function a check finds unregistered)
    offset: int | None = None  # absolute byte offset in the decoded input
    message: str = ""  # exprtool's own words: what it found, why, what it compared
    function: str | None = None  # the UDF it concerns, when there is one
    verdict: str | None = None  # the safety verdict this finding implies: None | "code" | "suspicious"
    datafusion_text: str = ""  # what the receiver raises: a substring of its error text ("" when nothing)
    fix: str = ""  # what to do about it (check findings)
    catalog_id: str | None = None  # the catalog entry of what the receiver raises, set where it is found
    decode_kind: str | None = None  # the kind of the DecodeError it reports (errors.TRUNCATED, ...)
    #: how ``sentence`` introduces ``datafusion_text`` when there is no ``message`` ("": the text alone,
    #: for a problem a layer words exactly as datafusion does)
    lead: str = REFUSES

    @property
    def sentence(self) -> str:
        """The one line shown for the finding: exprtool's words, then the text the receiver raises."""
        if not self.datafusion_text:
            return self.message
        if not self.message:
            return self.lead + self.datafusion_text
        return self.message + RAISES + self.datafusion_text


@dataclass
class SafetyReport:
    status: str  # "complete" (every layer read) | "partial" (something stayed opaque)
    verdict: str  # "data" | "code" | "suspicious"
    findings: list[Finding] = field(default_factory=list)


@dataclass
class ClosureValue:
    """A captured closure cell or by-value global: summarized, never rebuilt."""

    name: str | None
    type: str  # "str", "int", "dict", "function", "module:numpy", ...
    size: int | None  # len() for containers/strings/bytes, None otherwise
    preview: str  # short, printable


@dataclass
class CallableInfo:
    """What the worker needs to rebuild the UDF's callable, read from the cloudpickle stream."""

    by_value: bool  # True: code travels in the blob; False: a module.qualname reference
    kind: str  # "function" | "class" | "reference" | "unknown"
    qualname: str | None = None
    module: str | None = None
    filename: str | None = None  # co_filename: the sender's absolute path
    firstlineno: int | None = None
    co_names: list[str] = field(default_factory=list)
    closure: list[ClosureValue] = field(default_factory=list)
    globals: list[ClosureValue] = field(default_factory=list)  # by-value globals (func.__globals__ subset)
    references: list[str] = field(default_factory=list)  # "module.qualname" globals (by reference)
    subimports: list[str] = field(default_factory=list)  # cloudpickle subimport('<module>')
    code_imports: list[str] = field(default_factory=list)  # IMPORT_NAME targets in the bytecode
    # LOAD_GLOBAL names of the by-value bytecode that neither travel in its globals nor are builtins (nor are
    # stored by the code itself): the call raises NameError on the worker (read only on the same Python minor)
    unshipped_globals: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)  # for by-value classes: method names


@dataclass
class FunctionInfo:
    """One function the blob calls, and how it travels."""

    name: str
    kind: str  # "scalar" | "aggregate" | "window"
    transport: str  # "inline" | "by_name" | "builtin"
    node: str  # protobuf message that carries it, e.g. "ScalarUDFExprNode"
    occurrences: int = 1
    offset: int | None = None  # absolute offset of the fun_definition bytes (or of the node)
    payload_size: int | None = None
    family: str | None = None  # "DFPYUDF" | "DFPYUDA" | "DFPYUDW"
    wire_version: int | None = None
    python: str | None = None  # "3.11"
    codec_id: str | None = None  # set when wrapped in a DFPYCHN envelope
    envelope_version: int | None = None
    volatility: str | None = None
    input_types: list[str] | None = None  # pyarrow type strings, e.g. "int64"
    return_type: str | None = None
    return_field: dict[str, Any] | None = None  # {"name", "nullable", "metadata"}
    state_types: list[str] | None = None
    callable: CallableInfo | None = None
    imports: list[str] = field(default_factory=list)  # top-level modules the worker must import
    payload_sha256: str | None = None


@dataclass
class Sensitive:
    """Content that travels in clear text."""

    kind: str  # "path" | "captured-value" | "literal" | "table-rows" | "statistics" | "environment" | "explain-text"
    # | "sql-text" (a view's or external table's SQL) | "option" (a CREATE EXTERNAL TABLE option, key=value)
    layer: str
    offset: int | None
    text: str
    function: str | None = None


@dataclass
class Payload:
    """One protobuf message found in the input (a pickle may hold several Exprs)."""

    message: str  # "LogicalExprNode" | "LogicalPlanNode" | "PhysicalPlanNode"
    offset: int  # absolute offset of the protobuf bytes in the decoded input
    size: int
    rendered: str
    depth: int
    root: Any = None  # proto.msg.Msg, the lazy root view (not serialized)
    #: the placeholders ($1, $name) in it: (id, absolute offset of the id), in wire order (not serialized)
    placeholders: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Inspection:
    input: InputInfo
    payloads: list[Payload]
    functions: list[FunctionInfo]
    safety: SafetyReport
    warnings: list[Finding] = field(default_factory=list)
    sensitive: list[Sensitive] = field(default_factory=list)
    unknown_fields: list[Finding] = field(default_factory=list)

    @property
    def message(self) -> str:
        return self.payloads[0].message if self.payloads else ""

    @property
    def damage(self) -> list[Finding]:
        """The warnings that say a layer could not be read (``DAMAGE_IDS``): datafusion cannot decode the blob."""
        return [w for w in self.warnings if w.id in DAMAGE_IDS]

    @property
    def rendered(self) -> str:
        return "\n".join(p.rendered for p in self.payloads)

    @property
    def depth(self) -> int:
        return max((p.depth for p in self.payloads), default=0)
