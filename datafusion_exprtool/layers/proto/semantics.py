"""What datafusion's ``from_proto`` refuses in a blob prost decodes fine: empty oneofs, missing required
fields, unknown binary operators, binary expressions with fewer than two operands, enum values out of range.

``scan`` checks the wire format; this checks meaning, in one iterative walk (explicit stack, any depth,
linear). Runs of literal leaves (a 1M-entry IN list) are stepped over with ``runs.leaf_run``: a leaf entry
has a literal arm and a scalar value, so nothing in it can be refused here.

Every text below is datafusion 55's own, read from its error on a crafted blob (tests/layers/test_proto_semantics.py
feeds the same bytes to datafusion and asserts it refuses them with that text).
"""

from __future__ import annotations

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.roots import PLAN_MESSAGES
from datafusion_exprtool.layers.proto.runs import leaf_run
from datafusion_exprtool.layers.proto.scan import leaf_runs
from datafusion_exprtool.layers.proto.tables import ENUMS, MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, VARINT, read_varint
from datafusion_exprtool.model import FROM_PROTO_IDS, Finding

#: a message of this type, present where datafusion reads it, must set an arm of this oneof
#: (type -> (oneof group in the tables, datafusion's text)); roots are scan's business
ONEOF_REQUIRED: dict[str, tuple[str, str]] = {
    "LogicalExprNode": ("expr_type", "Missing required field expr_type"),
    "ArrowType": ("arrow_type_enum", "Missing required field arrow_type_enum"),
    "ScalarTime32Value": ("value", "Missing required field value"),
    "ScalarTime64Value": ("value", "Missing required field value"),
    "ScalarTimestampValue": ("value", "Missing required field value"),
    "TableReference": ("table_reference_enum", "Missing required field table_reference_enum"),
    "LogicalPlanNode": (
        "LogicalPlanType",
        "Unsupported logical plan 'LogicalPlanNode { logical_plan_type: None }'",
    ),
    "PhysicalPlanNode": (
        "PhysicalPlanType",
        "Unsupported physical plan 'PhysicalPlanNode { physical_plan_type: None }'",
    ),
    "PhysicalExprNode": ("ExprType", "Unexpected empty physical expression"),
    "GenerateSeriesNode": ("args", "Missing args in GenerateSeriesNode"),
}
#: a ScalarValue must set its value where it is a literal or a frame bound (elsewhere, e.g. statistics,
#: an empty one means "absent"): (parent type, field name)
SCALAR_REQUIRED = {
    ("LogicalExprNode", "literal"),
    ("PhysicalExprNode", "literal"),
    ("WindowFrameBound", "bound_value"),
}
SCALAR_TEXT = "Missing required field value"

_EXPR = "Missing required field expr"
_PROTOBUF = "Missing required field in protobuf"


def _exec(node: str, *fields: str) -> dict[str, str]:
    """datafusion 55's words for a physical node whose required field is absent."""
    return {f: f"{node} is missing required field '{f}'" for f in fields}


_DESERIALIZE = "Protobuf deserialization error, "
#: the DDL statements and Prepare (tools/plan_node_tables.py): found the same way
_STATEMENTS_REQUIRED: dict[str, dict[str, str]] = {
    "CreateExternalTableNode": {
        "schema": f"{_DESERIALIZE}CreateExternalTableNode was missing required field schema",
        "name": f"{_DESERIALIZE}CreateExternalTable was missing required field name",
        "constraints": f"{_DESERIALIZE}CreateExternalTableNode was missing required table constraints",
    },
    "CreateExternalTableNode.ColumnDefaultsEntry": {"value": "Missing required field expr_type"},
    "CreateViewNode": {"input": f"{_DESERIALIZE}CreateViewNode has invalid LogicalPlan input",
                       "name": f"{_DESERIALIZE}CreateView was missing required field name"},
    "CreateCatalogSchemaNode": {"schema": f"{_DESERIALIZE}CreateCatalogSchemaNode was missing required field schema"},
    "CreateCatalogNode": {"schema": f"{_DESERIALIZE}CreateCatalogNode was missing required field schema"},
    "DropViewNode": {"name": f"{_DESERIALIZE}DropView was missing required field name", "schema": _PROTOBUF},
    "PrepareNode": {"input": _PROTOBUF},
}  # fmt: skip
#: plan node fields datafusion's from_proto requires, with its text when one is absent: found by dropping each
#: field from plans datafusion wrote (tests/layers/test_proto_required.py repeats it and also checks that
#: nothing datafusion accepts is flagged). A field whose text depends on where its message sits is left out.
PLAN_REQUIRED_FIELDS: dict[str, dict[str, str]] = {
    "AggregateExecNode": {**_exec("AggregateExec", "input"), "input_schema": "input_schema in AggregateNode is missing"},
    "AnalyzeExecNode": _exec("AnalyzeExec", "input", "schema"),
    "ArrowScanExecNode": _exec("ArrowScanExecNode", "base_conf"),
    "ParquetScanExecNode": _exec("ParquetScanExecNode", "base_conf"),
    "CoalescePartitionsExecNode": _exec("CoalescePartitionsExec", "input"),
    "EmptyExecNode": _exec("EmptyExec", "schema"),
    "PlaceholderRowExecNode": _exec("PlaceholderRowExec", "schema"),
    "ExplainExecNode": _exec("ExplainExec", "schema"),
    "FileScanExecConf": _exec("FileScanExecConf", "schema", "statistics", "constraints"),
    "FilterExecNode": _exec("FilterExec", "input", "expr"),
    "GlobalLimitExecNode": _exec("GlobalLimitExec", "input"),
    "HashJoinExecNode": _exec("HashJoinExec", "left", "right"),
    "JoinOn": {"left": "HashJoinExec is missing required field 'on.left'",
               "right": "HashJoinExec is missing required field 'on.right'"},  # only read under a HashJoinExec
    "MemoryScanExecNode": {"schema": "schema in MemoryScanExecNode is missing"},
    "ProjectionExecNode": _exec("ProjectionExec", "input"),
    "ProjectionExpr": {"expr": "ProjectionExpr missing expr field"},
    "RepartitionExecNode": _exec("RepartitionExec", "input", "partitioning"),
    "UnnestExecNode": _exec("UnnestExec", "input", "schema", "options"),
    "GenerateSeriesNode": {"schema": _PROTOBUF},
    "GenerateSeriesArgsTimestamp": {"step": "Missing step in TimestampArgs"},
    "GenerateSeriesArgsDate": {"step": "Missing step in DateArgs"},
    "ParquetSinkExecNode": _exec("ParquetSinkExecNode", "input", "sink"),
    "CsvSinkExecNode": _exec("CsvSinkExecNode", "input", "sink"),
    "JsonSinkExecNode": _exec("JsonSinkExecNode", "input", "sink"),
    "ParquetSink": _exec("ParquetSink", "config", "parquet_options"),
    "CsvSink": _exec("CsvSink", "config", "writer_options"),
    "JsonSink": _exec("JsonSink", "config", "writer_options"),
    "FileSinkConfig": _exec("FileSinkConfig", "output_schema"),
    # a panic, not an error: the receiver's process reports a PanicException
    "StringifiedPlan": {"plan_type": "Cannot create protobuf::StringifiedPlan from StringifiedPlan { plan_type: None"},
    "ProjectionNode": {"input": _PROTOBUF},
    "SelectionNode": {"input": _PROTOBUF, "expr": "expression required"},
    "AnalyzeNode": {"input": _PROTOBUF},
    "ExplainNode": {"input": _PROTOBUF},
    "UnnestNode": {"input": _PROTOBUF, "options": _PROTOBUF},
    "CopyToNode": {"input": _PROTOBUF},
    "DmlNode": {"input": _PROTOBUF, "table_name": "Protobuf deserialization error, DML  was missing required field name",
                "target": "LogicalPlanNode should be provided"},
    "WindowAggExecNode": _exec("WindowAggExec", "input"),
    "CrossJoinExecNode": _exec("CrossJoinExec", "left", "right"),
    "NestedLoopJoinExecNode": _exec("NestedLoopJoinExec", "left", "right"),
    "SortPreservingMergeExecNode": _exec("SortPreservingMergeExec", "input"),
    "DistinctOnNode": {"input": _PROTOBUF},
    "CteWorkTableScanNode": {"schema": _PROTOBUF},
    "RecursiveQueryNode": {
        f: f"Protobuf deserialization error, RecursiveQueryNode was missing required field {f}"
        for f in ("static_term", "recursive_term")
    },
    "SortExecNode": _exec("SortExec", "input"),
    "PhysicalDynamicFilterNode": {"inner_expr": "Missing inner_expr in PhysicalDynamicFilterNode"},
    "PhysicalWindowExprNode": {"window_frame": "Missing required field 'window_frame' in protobuf"},
    **{node: {"input": _PROTOBUF} for node in ("LimitNode", "SortNode", "AggregateNode", "WindowNode", "DistinctNode")},
    "JoinNode": {"left": _PROTOBUF, "right": _PROTOBUF},
    "SubqueryAliasNode": {
        "input": _PROTOBUF, "alias": "Protobuf deserialization error, SubqueryAlias was missing required field name",
    },
    "ListingTableScanNode": {
        "schema": _PROTOBUF,
        "table_name": "Protobuf deserialization error, ListingTableScan was missing required field name",
    },
    **_STATEMENTS_REQUIRED,
    "SortMergeJoinExecNode": _exec("SortMergeJoinExec", "left", "right"),
    "SymmetricHashJoinExecNode": _exec("SymmetricHashJoinExec", "left", "right"),
    "AsyncFuncExecNode": _exec("AsyncFuncExec", "input"),
    "BufferExecNode": _exec("BufferExec", "input"),
    "ScalarSubqueryExecNode": _exec("ScalarSubqueryExec", "input"),
    "PhysicalScalarSubqueryExprNode": {"data_type": "ScalarSubqueryExpr is missing required field 'data_type'"},
}  # fmt: skip
#: message fields datafusion requires: type -> {field name: datafusion's text when it is absent}
REQUIRED_FIELDS: dict[str, dict[str, str]] = {
    "AliasNode": {"expr": _EXPR},
    "BetweenNode": {"expr": _EXPR, "low": _EXPR, "high": _EXPR},
    "CastNode": {"expr": _EXPR, "arrow_type": "Missing required field arrow_type"},
    "TryCastNode": {"expr": _EXPR, "arrow_type": "Missing required field arrow_type"},
    "Field": {"arrow_type": "Missing required field arrow_type"},
    "LikeNode": {"expr": _EXPR, "pattern": "Missing required field pattern"},
    "ILikeNode": {"expr": _EXPR, "pattern": "Missing required field pattern"},
    "SimilarToNode": {"expr": _EXPR, "pattern": "Missing required field pattern"},
    "InListNode": {"expr": _EXPR},
    **{
        t: {"expr": _EXPR}
        for t in (
            "IsNull",
            "IsNotNull",
            "IsTrue",
            "IsFalse",
            "IsUnknown",
            "IsNotTrue",
            "IsNotFalse",
            "IsNotUnknown",
            "Not",
            "NegativeNode",
            "SortExprNode",
        )
    },  # fmt: skip
    "List": {"field_type": "Missing required field field_type"},
    "Map": {"field_type": "Missing required field field_type"},
    "WhenThen": {
        "when_expr": "Missing required field when_expr",
        "then_expr": "Missing required field then_expr",
    },
    "ScalarSubqueryExprNode": {"subquery": "Missing required field ScalarSubqueryExprNode.subquery"},
    "SubqueryNode": {"subquery": "Missing required field SubqueryNode.subquery"},
    "WindowFrame": {"start_bound": "Missing required field start_bound"},
    "WindowExprNode": {"window_frame": "missing window frame during deserialization"},
    "ScalarNestedValue": {"schema": "Invalid schema while deserializing nested ScalarValue"},
    **PLAN_REQUIRED_FIELDS,
}

_TIME = "Unknown i32 value for TimeUnit enum: {v}"
#: enum fields datafusion refuses out of range: (type, field) -> text ({v}: the value). Not listed
#: (accepted out of range by datafusion 55): Precision.precision_info, among others not verified.
ENUM_TEXTS: dict[tuple[str, str], str] = {
    (
        "AggregateUDFExprNode",
        "null_treatment",
    ): "Received an AggregateUdfExprNode message with unknown NullTreatment {v}",
    ("WindowExprNode", "null_treatment"): "Received a WindowExprNode message with unknown NullTreatment {v}",
    ("ArrowType", "DURATION"): _TIME,
    ("ArrowType", "TIME32"): _TIME,
    ("ArrowType", "TIME64"): _TIME,
    ("ArrowType", "INTERVAL"): "Unknown i32 value for IntervalUnit enum: {v}",
    ("Timestamp", "time_unit"): _TIME,
    ("WindowFrame", "window_frame_units"): "Unknown i32 value for WindowFrameUnits enum: {v}",
    ("WindowFrameBound", "window_frame_bound_type"): "Unknown i32 value for WindowFrameBoundType enum: {v}",
    ("AggregateExecNode", "mode"): "Received an AggregateNode message with unknown AggregateMode {v}",
}

BINARY_OPERATORS = frozenset(
    (
        "Or And Eq NotEq LtEq GtEq Lt Gt LikeMatch ILikeMatch NotLikeMatch NotILikeMatch IsDistinctFrom "
        "IsNotDistinctFrom RegexMatch RegexIMatch RegexNotMatch RegexNotIMatch BitwiseAnd BitwiseOr BitwiseXor "
        "BitwiseShiftLeft BitwiseShiftRight StringConcat AtArrow ArrowAt Arrow LongArrow HashArrow HashLongArrow "
        "AtAt IntegerDivide HashMinus AtQuestion Question QuestionAnd QuestionPipe Colon Plus Minus Multiply "
        "Divide Modulo"
    ).split()
)
OPERANDS_TEXT = "A binary expression must always have at least 2 operands"

#: finding ids (check maps them to errors; inspection reports them as warnings)
IDS = FROM_PROTO_IDS  # the ids of what this module finds: damage (model.DAMAGE_IDS), inspect exits 3


def _oneof_text(child_type: str, parent: str, field: str) -> str | None:
    if child_type == "ScalarValue":
        return SCALAR_TEXT if (parent, field) in SCALAR_REQUIRED else None
    spec = ONEOF_REQUIRED.get(child_type)
    return spec[1] if spec else None


#: where a message's required fields are worded differently: (parent type, field) -> {field: text}
REQUIRED_IN: dict[tuple[str, str], dict[str, str]] = {
    ("PhysicalWindowExprNode", "window_frame"): {"start_bound": "Missing start_bound in WindowFrame"},
    **{
        (f"{join}Node", "filter"): {
            "expression": f"{join} is missing required field 'filter.expression'",
            "schema": f"{join}: JoinFilter missing schema",
        }
        for join in ("NestedLoopJoinExec", "HashJoinExec", "SortMergeJoinExec", "SymmetricHashJoinExec")
    },
    **{
        (f"{join}Node", "on"): {side: f"{join} is missing required field 'on.{side}'" for side in ("left", "right")}
        for join in ("SortMergeJoinExec", "SymmetricHashJoinExec")
    },
    ("SortMergeJoinExecNode", "sort_options"): {},  # one per key, with no expression: only its order
}
#: messages datafusion reads leniently: a statistic's value that does not convert becomes Absent, so nothing
#: under a Precision is ever refused
TOLERATED = frozenset({"Precision"})
#: per message type, found once: (fields, leaf runs, required fields, its required oneof's group)
_ROWS: dict[str, tuple] = {}
#: per (parent type, field name) of a message field: the text when the child message is empty
_EMPTY_TEXTS: dict[tuple[str, str, str], str | None] = {}


def _row(typ: str) -> tuple:
    row = _ROWS.get(typ)
    if row is None:
        group = "value" if typ == "ScalarValue" else ONEOF_REQUIRED.get(typ, ("",))[0]
        row = _ROWS[typ] = (MESSAGES.get(typ), leaf_runs(typ), REQUIRED_FIELDS.get(typ), group)
    return row


def _empty_text(child: str, parent: str, field: str) -> str | None:
    key = (child, parent, field)
    if key not in _EMPTY_TEXTS:
        _EMPTY_TEXTS[key] = _oneof_text(child, parent, field)
    return _EMPTY_TEXTS[key]


def validate(root: Msg) -> list[Finding]:
    """Everything datafusion's ``from_proto`` would refuse under ``root`` (the root's own oneof excluded)."""
    buf, origin = root.buf, root.origin
    out: list[Finding] = []
    stack: list[tuple[str, int, int, str | None, dict | None]] = [(root.type, root.start, root.end, None, None)]
    push, pop = stack.append, stack.pop
    try:
        while stack:
            typ, start, end, empty_text, required_here = pop()
            fields, runs, required, group = _ROWS.get(typ) or _row(typ)
            if required_here is not None:
                required = required_here
            if fields is None:
                continue
            oneof = group if empty_text else ""
            seen: set[str] = set()
            arm = False
            operands = 0
            op: str | None = None
            pos = start
            while pos < end:
                tag_pos = pos
                key = buf[pos]
                if key < 0x80:
                    pos += 1
                    run = runs[key] if runs is not None else None
                    if run is not None and pos + 3 < end:
                        p2, count = leaf_run(buf, tag_pos, end, run.spec)
                        if count:
                            pos = p2
                            seen.add(run.field)
                            if typ == "BinaryExprNode":
                                operands += count
                            continue
                else:
                    key, pos = read_varint(buf, pos, end, origin)
                wire = key & 7
                if wire == VARINT:
                    value, pos = read_varint(buf, pos, end, origin)
                    a = b = 0
                elif wire == LEN:
                    n, a = read_varint(buf, pos, end, origin)
                    pos = b = a + n
                    value = 0
                else:  # i64 / i32: a float64 or float32 literal is its ScalarValue's arm too
                    pos += 8 if wire == 1 else 4
                    value = a = b = 0
                spec = fields.get(key >> 3)
                if spec is None:
                    continue
                name, kind, child, _repeated, group = spec
                seen.add(name)
                if group is not None and group == oneof:
                    arm = True
                if kind == "message" and wire == LEN:
                    if child in MESSAGES and child not in TOLERATED:
                        push((child, a, b, _empty_text(child, typ, name), REQUIRED_IN.get((typ, name))))
                    if typ == "BinaryExprNode":
                        operands += 1
                elif kind == "enum" and wire == VARINT:
                    text = ENUM_TEXTS.get((typ, name))
                    v = ((value + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
                    if text is not None and v not in ENUMS[child]:
                        out.append(_finding("enum-out-of-range", origin + tag_pos, text.format(v=v)))
                elif typ == "BinaryExprNode" and name == "op" and wire == LEN:
                    op = bytes(buf[a:b]).decode("utf-8", "replace")
            at = origin + start
            if empty_text is not None and oneof and not arm:
                cid = (
                    "empty-plan-node"
                    if typ in PLAN_MESSAGES
                    else "missing-required-field"
                )
                out.append(_finding(cid, at, empty_text))
            if required:
                for name, text in required.items():
                    if name not in seen:
                        out.append(_finding("missing-required-field", at, text))
            if typ == "BinaryExprNode":
                op = op or ""
                if op not in BINARY_OPERATORS:
                    out.append(_finding("unknown-binary-operator", at, _op_text(op)))
                if operands < 2:
                    out.append(_finding("binary-operands", at, OPERANDS_TEXT))
    except (DecodeError, IndexError):  # scan validated the wire format; a broken blob is scan's to report
        pass
    out.sort(key=lambda f: f.offset or 0)
    return out


def _op_text(op: str) -> str:
    """datafusion prints the name with Rust's Debug quoting: exact for plain ASCII, the stem otherwise."""
    if all(" " <= c <= "~" and c not in "\"\\'" for c in op):
        return f"Unsupported binary operator '\"{op}\"'"
    return "Unsupported binary operator '"


def _finding(cid: str, offset: int, text: str) -> Finding:
    return Finding(id=cid, severity="error", layer="protobuf", offset=offset, datafusion_text=text)
