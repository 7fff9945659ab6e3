"""What a scan collects besides validity: function sites, clear text, codec payloads, placeholders, the root oneof.

The walk in ``scan.py`` only records positions (function node bodies, name / payload fields,
statistics); this module holds the tables of which fields matter and turns the positions into
``ScanResult`` facts once the walk succeeded. Its tables also feed ``scan``'s dispatch tables.
"""

from __future__ import annotations

from datafusion_exprtool.errors import CORRUPT, EMPTY_PLAN, INVALID_UTF8, MISSING_FIELD, DecodeError
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.roots import PLAN_MESSAGES, ROOT_ONEOF
from datafusion_exprtool.layers.proto.scan_result import FunctionSite, ScanResult, Statistic
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, VARINT, iter_raw
from datafusion_exprtool.model import Sensitive

#: clear-text findings kept per scan; the rest are only counted (``ScanResult.sensitive_dropped``)
MAX_SENSITIVE = 200

#: function-call nodes (fact sheet §2.1): kind, name field numbers, fun_definition field number
SITE_NODES: dict[str, tuple[str, tuple[int, ...], int]] = {
    "ScalarUDFExprNode": ("scalar", (1,), 3),
    "AggregateUDFExprNode": ("aggregate", (1,), 6),
    "WindowExprNode": ("window", (9, 3), 10),  # udwf, udaf (an aggregate used as a window function)
    "PhysicalScalarUdfNode": ("scalar", (1,), 3),
    "PhysicalAggregateExprNode": ("aggregate", (4,), 7),
    "PhysicalWindowExprNode": ("window", (10, 3), 9),
    "HigherOrderUDFExprNode": ("scalar", (1,), 3),
}
UDAF_AS_WINDOW = {("WindowExprNode", 3), ("PhysicalWindowExprNode", 3)}

#: clear-text fields (fact sheet §5.4): (message, field number) -> handler
SENSITIVE_FIELDS = {
    ("ListingTableScanNode", 2): "path",
    ("PartitionedFile", 1): "path",
    ("CopyToNode", 2): "path",
    ("FileScanExecConf", 8): "url",
    ("FileSinkConfig", 1): "url",
    ("FileSinkConfig", 3): "path",  # where a sink writes (COPY TO, INSERT INTO)
    ("MemoryScanExecNode", 1): "rows",
    ("ParquetOptions", 16): "environment",  # created_by: 'datafusion version 55.2.0'
    ("StringifiedPlan", 2): "explain",  # an ExplainExec's plan texts: paths, literals, statistics
    ("CreateExternalTableNode", 2): "path",  # CREATE EXTERNAL TABLE … LOCATION
    ("CreateExternalTableNode", 7): "sql",  # the statement as datafusion rebuilt its SQL text
    ("CreateViewNode", 4): "sql",  # the view's SQL text
}
#: placeholder ids ($1, $name; fact sheet §1.3): a plan or expression that carries one needs a value for it
PLACEHOLDER_FIELDS = {("PlaceholderNode", 1): "placeholder"}
#: bytes written by an extension codec (a table provider, an extension plan node, a file type): opaque to
#: exprtool and possibly a pickle, so their presence makes a reading partial
CODEC_FIELDS = {
    ("LogicalExtensionNode", 1), ("PhysicalExtensionNode", 1), ("CustomTableScanNode", 5),
    ("PhysicalExtensionExprNode", 1), ("CopyToNode", 3),
}  # fmt: skip
#: message fields whose positions the scan records (``flag`` in its tables): column statistics, the nested
#: literal values whose Arrow IPC bytes the inspection reads back (``inspection/arrow_damage.py``), and a
#: CREATE EXTERNAL TABLE's options (``key=value`` in clear text: credentials travel there)
STAT_FIELDS = {
    ("ColumnStats", 1): "min_value", ("ColumnStats", 2): "max_value", ("CreateExternalTableNode", 8): "option",
    **{("ScalarValue", n): "nested" for n in (16, 17, 18, 32, 41)},  # large_list, list, fixed_size_list, struct, map
}  # fmt: skip

class Broken(Exception):
    """Internal to the scan: where, why (``text``) and what (``kind``, an errors kind) broke in the wire
    format; scan() adds the field path.

    Defined here because a clear-text field's UTF-8 check (``utf8_text``) raises it too.
    """

    def __init__(self, pos: int, text: str, kind: str = CORRUPT):
        self.pos = pos
        self.text = text
        self.kind = kind


def utf8_text(buf: bytes, a: int, b: int) -> str:
    """The string prost would accept, or Broken at the first byte that is not UTF-8."""
    try:
        return buf[a:b].decode("utf-8")
    except UnicodeDecodeError as err:
        raise Broken(a + err.start, "invalid string value: data is not UTF-8 encoded", INVALID_UTF8) from None


def special_field(
    act: str, buf: bytes, a: int, b: int, origin: int, sites: list[list], res: ScanResult
) -> None:
    """A function name / payload, or a clear-text field (all length-delimited).

    Name and payload fields exist only in function nodes: the node they belong to is the last one
    entered whose body holds them (sites are appended in pre-order).
    """
    site = None
    if act in ("fundef", "name", "udaf"):
        i = len(sites) - 1
        while i >= 0 and sites[i][5] <= a:
            i -= 1
        site = sites[i] if i >= 0 else None  # None: the function node is the scanned root itself
    if act == "fundef":
        if site is not None:
            site[2], site[3] = a, b
        return
    if act.startswith("codec:"):
        res.codec_payloads.append((act[6:], origin + a, b - a))
        return
    if act == "rows":
        res.table_rows.append((origin + a, a, b))
        add_sensitive(res, Sensitive("table-rows", "protobuf", origin + a,
                                  f"memory-table partition: {b - a} bytes of Arrow IPC with the rows"))  # fmt: skip
        return
    text = utf8_text(buf, a, b)
    if act == "placeholder":
        res.placeholders.append((text, origin + a))
    elif act in ("name", "udaf"):
        if site is not None:
            site[1], site[6] = text, act == "udaf"
    elif act == "path" or (act == "url" and text not in ("", "file:///")):
        add_sensitive(res, Sensitive("path", "protobuf", origin + a, text))
    elif act == "environment" and text:
        add_sensitive(res, Sensitive("environment", "protobuf", origin + a, text))
    elif act == "explain" and text and not any(s.kind == "explain-text" and s.text == text for s in res.sensitive):
        add_sensitive(res, Sensitive("explain-text", "protobuf", origin + a, text))  # each distinct text once
    elif act == "sql" and text:
        add_sensitive(res, Sensitive("sql-text", "protobuf", origin + a, text))


def add_sensitive(res: ScanResult, item: Sensitive) -> None:
    if len(res.sensitive) < MAX_SENSITIVE:
        res.sensitive.append(item)
    else:
        res.sensitive_dropped += 1


def finish(res: ScanResult, buf: bytes, origin: int, sites: list[list], stats: list) -> None:
    """After a successful walk: function sites, statistics, version strings, the root oneof."""
    for node, name, fa, fb, start, end, udaf in sites:
        kind = SITE_NODES[node][0]
        res.functions.append(
            FunctionSite(
                node,
                name,
                kind,
                None if fa is None else buf[fa:fb],
                None if fa is None else origin + fa,
                Msg(node, buf, start, end, origin),
                udaf,
            )  # fmt: skip
        )
    for label, a, b in stats:
        if label == "nested":
            res.nested_literals.append(Msg("ScalarNestedValue", buf, a, b, origin))
            continue
        if label == "option":
            add_sensitive(res, Sensitive("option", "protobuf", origin + a, _entry_text(buf, a, b)))
            continue
        value = _precision_value(buf, a, b)
        if value is not None:
            res.statistics.append(Statistic(label, origin + a, value))
    oneof, _missing = ROOT_ONEOF.get(res.message, (None, ""))
    table = MESSAGES[res.message]
    for number, _wire, _a, _b, _tag in iter_raw(buf, 0, len(buf)):
        spec = table.get(number)
        if spec is not None and spec.oneof == oneof:
            res.root_arms.append(spec.name)
    if oneof is not None and not res.root_arms:
        kind = EMPTY_PLAN if res.message in PLAN_MESSAGES else MISSING_FIELD
        raise DecodeError("protobuf", origin, _missing, kind=kind)


def _entry_text(buf: bytes, a: int, b: int) -> str:
    """``key=value`` of a map<string, string> entry the scan read (so both are UTF-8; the last of each wins)."""
    parts = {1: "", 2: ""}
    for number, wire, x, y, _tag in iter_raw(buf, a, b):
        if number in parts and wire == LEN:
            parts[number] = buf[x:y].decode()
    return f"{parts[1]}={parts[2]}"


def _precision_value(buf: bytes, a: int, b: int) -> Msg | None:
    """The ScalarValue of a Precision{precision_info, val: ScalarValue} that holds a value; None if absent."""
    info, val = 0, None
    for number, wire, x, y, _tag in iter_raw(buf, a, b):
        if number == 1 and wire == VARINT:
            info = x
        elif number == 2 and wire == LEN:
            val = (x, y)
    if info == 2 or val is None or val[0] == val[1]:  # ABSENT, or an empty ScalarValue
        return None
    return Msg("ScalarValue", buf, val[0], val[1])
