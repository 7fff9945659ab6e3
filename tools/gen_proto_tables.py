"""Generate datafusion_exprtool/layers/proto/tables.py from the wire-format fact sheet.

The fact sheet (shared/wire-format.md) lists every field of the datafusion 55 protobuf messages as
markdown tables. This script turns those rows into data, so the decoder never hand-types a field number.

    python tools/gen_proto_tables.py ../shared/wire-format.md > datafusion_exprtool/layers/proto/tables.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from plan_node_tables import MORE_PLAN_NODE_ENUMS, MORE_PLAN_NODE_MESSAGES

SCALARS = {
    "string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
    "double", "float", "fixed32", "fixed64", "sfixed32", "sfixed64",
}


def parse(text: str) -> tuple[dict, dict]:
    messages: dict[str, dict[int, tuple]] = {}
    enums: dict[str, dict[int, str]] = {}
    current = None
    for line in text.splitlines():
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and re.fullmatch(r"`\w+`", cells[0]) and re.fullmatch(
            r"\w+=\d+(, \w+=\d+)*", cells[1]
        ):
            name = cells[0].strip("`")
            enums[name] = {
                int(v): k.strip() for k, v in (p.split("=") for p in cells[1].split(","))
            }
            continue
        if len(cells) < 6 or cells[1] in ("#", "---:", "–"):
            continue
        msg, num, field, ftype, label = cells[0], cells[1], cells[2], cells[3], cells[4]
        if msg:
            current = msg.strip("`")
        if not num.isdigit() or current is None:
            continue
        field = field.strip("`")
        ftype = ftype.replace("(not expanded)", "").strip()
        repeated = label == "repeated"
        oneof = None
        m = re.match(r"oneof `(\w+)`", label)
        if m:
            oneof = m.group(1)
        if ftype.startswith("map<"):
            kind, type_name, repeated = "map", None, True
        elif ftype.startswith("enum "):
            kind, type_name = "enum", ftype.split()[1]
        elif ftype in SCALARS:
            kind, type_name = ftype, None
        else:
            kind, type_name = "message", ftype
        messages.setdefault(current, {})[int(num)] = (field, kind, type_name, repeated, oneof)
    return messages, enums


#: fields the fact sheet saw in datafusion 55.0.0 blobs but its reference .proto lacks (§5.6): known to
#: exist, so not "unknown"; their meaning is not guessed (raw bytes) unless datafusion's own text names it
SUPPLEMENT: dict[str, dict[int, tuple]] = {
    # 14: datafusion 55.0.0 names it in its decode errors ("AggregateExecNode.schema: Schema.columns: Field…")
    "AggregateExecNode": {14: ("schema", "message", "Schema", False, None)},
}

# --- option messages (datafusion-proto-common 55.2.0, as linked into the datafusion 55.0.0 wheel) -------
# The fact sheet names these types (ParquetFormat.options, CsvFormat.options, NdJsonFormat.options,
# ParquetScanExecNode.parquet_options) but lists none of their fields, so the scan skipped their bodies.
# Sources: field numbers, names and kinds of the older fields from apache/datafusion
# datafusion/proto-common/proto/datafusion_common.proto (stored copy at commit 0071677715752dfc21a7cb96afa6fb
# 4be8f41b2a, whose 34 is `prefetch_row_groups`: the wheel writes force_filter_selections there, and the
# wheel wins); the fields that copy lacks (ParquetOptions 34-38, ParquetCdcOptions, CsvOptions 19-22,
# JsonOptions 3-4) named after the docs.rs pages of datafusion-proto-common 55.1.0 (Rust field and oneof
# names and types) and the 55.x from_proto conversions (oneof variants such as CoerceInt96Tz). Every row
# below was then checked against the installed wheel (tests/layers/test_proto_options.py repeats the checks):
#   number and wire type: set the option in CREATE EXTERNAL TABLE ... OPTIONS / SET, and the field appears
#     in to_bytes() with the value set (bools that default to true: cleared when set to false);
#   name and oneof: flip the field's wire type; datafusion's error names `<Message>.<rust field>` — the
#     field's own name, or the oneof's (`ParquetOptions.compression_opt`) for a oneof member;
#   integer width and sign: a varint of 2**32 + 3 read and re-encoded by datafusion comes back as 3 for
#     a 32-bit field; -1 comes back as 10 bytes for int32 (norm_level), as 4294967295 for uint32.
# ParquetOptions 14 and 20, ParquetColumnOptions 8 are reserved/removed; crypto options are not written.
_PARQUET_OPTIONS: dict[int, tuple] = {
    1: ("enable_page_index", "bool", None, False, None),
    2: ("pruning", "bool", None, False, None),
    3: ("skip_metadata", "bool", None, False, None),
    4: ("metadata_size_hint", "uint64", None, False, "metadata_size_hint_opt"),
    5: ("pushdown_filters", "bool", None, False, None),
    6: ("reorder_filters", "bool", None, False, None),
    7: ("data_pagesize_limit", "uint64", None, False, None),
    8: ("write_batch_size", "uint64", None, False, None),
    9: ("writer_version", "string", None, False, None),
    10: ("compression", "string", None, False, "compression_opt"),
    11: ("dictionary_enabled", "bool", None, False, "dictionary_enabled_opt"),
    12: ("dictionary_page_size_limit", "uint64", None, False, None),
    13: ("statistics_enabled", "string", None, False, "statistics_enabled_opt"),
    15: ("max_row_group_size", "uint64", None, False, None),
    16: ("created_by", "string", None, False, None),
    17: ("column_index_truncate_length", "uint64", None, False, "column_index_truncate_length_opt"),
    18: ("data_page_row_count_limit", "uint64", None, False, None),
    19: ("encoding", "string", None, False, "encoding_opt"),
    21: ("bloom_filter_fpp", "double", None, False, "bloom_filter_fpp_opt"),
    22: ("bloom_filter_ndv", "uint64", None, False, "bloom_filter_ndv_opt"),
    23: ("allow_single_file_parallelism", "bool", None, False, None),
    24: ("maximum_parallel_row_group_writers", "uint64", None, False, None),
    25: ("maximum_buffered_record_batches_per_stream", "uint64", None, False, None),
    26: ("bloom_filter_on_read", "bool", None, False, None),
    27: ("bloom_filter_on_write", "bool", None, False, None),
    28: ("schema_force_view_types", "bool", None, False, None),
    29: ("binary_as_string", "bool", None, False, None),
    30: ("skip_arrow_metadata", "bool", None, False, None),
    31: ("statistics_truncate_length", "uint64", None, False, "statistics_truncate_length_opt"),
    32: ("coerce_int96", "string", None, False, "coerce_int96_opt"),
    33: ("max_predicate_cache_size", "uint64", None, False, "max_predicate_cache_size_opt"),
    # newer than the stored .proto (fact sheet §5.6 saw 35 and 38 as unknown fields)
    34: ("force_filter_selections", "bool", None, False, None),
    35: ("content_defined_chunking", "message", "ParquetCdcOptions", False, None),
    36: ("coerce_int96_tz", "string", None, False, "coerce_int96_tz_opt"),
    37: ("max_row_group_bytes", "uint64", None, False, "max_row_group_bytes_opt"),
    38: ("max_in_list_size", "uint64", None, False, None),
}
OPTION_MESSAGES: dict[str, dict[int, tuple]] = {
    "TableParquetOptions": {
        1: ("global", "message", "ParquetOptions", False, None),
        2: ("column_specific_options", "message", "ParquetColumnSpecificOptions", True, None),
        3: ("key_value_metadata", "map", None, True, None),
    },
    "ParquetOptions": _PARQUET_OPTIONS,
    "ParquetCdcOptions": {  # not in the stored .proto: wheel bytes + docs.rs (norm_level i32, sizes u64)
        1: ("enabled", "bool", None, False, None),
        2: ("min_chunk_size", "uint64", None, False, None),
        3: ("max_chunk_size", "uint64", None, False, None),
        4: ("norm_level", "int32", None, False, None),
    },
    "ParquetColumnSpecificOptions": {
        1: ("column_name", "string", None, False, None),
        2: ("options", "message", "ParquetColumnOptions", False, None),
    },
    "ParquetColumnOptions": {
        1: ("bloom_filter_enabled", "bool", None, False, "bloom_filter_enabled_opt"),
        2: ("encoding", "string", None, False, "encoding_opt"),
        3: ("dictionary_enabled", "bool", None, False, "dictionary_enabled_opt"),
        4: ("compression", "string", None, False, "compression_opt"),
        5: ("statistics_enabled", "string", None, False, "statistics_enabled_opt"),
        6: ("bloom_filter_fpp", "double", None, False, "bloom_filter_fpp_opt"),
        7: ("bloom_filter_ndv", "uint64", None, False, "bloom_filter_ndv_opt"),
    },
    "CsvOptions": {  # proto3 `optional` scalars are plain Option<T> in prost: no oneof group
        1: ("has_header", "bytes", None, False, None),
        2: ("delimiter", "bytes", None, False, None),
        3: ("quote", "bytes", None, False, None),
        4: ("escape", "bytes", None, False, None),
        5: ("compression", "enum", "CompressionTypeVariant", False, None),
        6: ("schema_infer_max_rec", "uint64", None, False, None),
        7: ("date_format", "string", None, False, None),
        8: ("datetime_format", "string", None, False, None),
        9: ("timestamp_format", "string", None, False, None),
        10: ("timestamp_tz_format", "string", None, False, None),
        11: ("time_format", "string", None, False, None),
        12: ("null_value", "string", None, False, None),
        13: ("null_regex", "string", None, False, None),
        14: ("comment", "bytes", None, False, None),
        15: ("double_quote", "bytes", None, False, None),
        16: ("newlines_in_values", "bytes", None, False, None),
        17: ("terminator", "bytes", None, False, None),
        18: ("truncated_rows", "bytes", None, False, None),
        # newer than the stored .proto: wheel bytes + docs.rs (compression_level u32, quote_style enum)
        19: ("compression_level", "uint32", None, False, None),
        # CsvQuoteStyle: 0 necessary, 1 always, 2 non_numeric, 3 never (seen in bytes); its proto value
        # names were found in no source, so it has no ENUMS entry and renders as a number
        20: ("quote_style", "enum", "CsvQuoteStyle", False, None),
        21: ("ignore_leading_whitespace", "bytes", None, False, None),
        22: ("ignore_trailing_whitespace", "bytes", None, False, None),
    },
    "JsonOptions": {
        1: ("compression", "enum", "CompressionTypeVariant", False, None),
        2: ("schema_infer_max_rec", "uint64", None, False, None),
        # newer than the stored .proto (fact sheet §5.6 saw 4 as unknown): wheel bytes + docs.rs
        3: ("compression_level", "uint32", None, False, None),
        4: ("newline_delimited", "bool", None, False, None),
    },
}


# --- plan node messages the fact sheet names but does not tabulate ("not expanded") ---------------------
# Source: apache/datafusion datafusion/proto/proto/datafusion.proto (a stored copy from the 55 line: the
# PhysicalPlanNode arms up to 39 scalar_subquery, GenerateSeriesNode's four argument shapes), each row then
# checked against bytes the installed datafusion 55 writes (tests/layers/test_proto_plan_nodes.py): the
# number and wire type by building the node (ArrowScan: register_arrow; UnnestExec / logical Unnest:
# unnest_columns and SQL unnest; LazyMemoryExec: range() / generate_series() with integers, timestamps with
# and without a time zone, dates, a NULL argument; ExplainExec: EXPLAIN [VERBOSE]; AnalyzeExec / logical
# Analyze: EXPLAIN ANALYZE [VERBOSE]), the name and oneof by flipping the field's wire type and reading
# datafusion's refusal (`<Message>.<field or oneof>`). The stored copy has GenerateSeriesArgsTimestamp's
# timezone as `optional string tz = 4`; datafusion 55 writes arm 6 (date_args) for time-zone-less timestamps.
PLAN_NODE_MESSAGES: dict[str, dict[int, tuple]] = {
    "ArrowScanExecNode": {1: ("base_conf", "message", "FileScanExecConf", False, None)},
    "UnnestExecNode": {
        1: ("input", "message", "PhysicalPlanNode", False, None),
        2: ("schema", "message", "Schema", False, None),
        3: ("list_type_columns", "message", "ListUnnest", True, None),
        4: ("struct_type_columns", "uint64", None, True, None),
        5: ("options", "message", "UnnestOptions", False, None),
    },
    "ListUnnest": {
        1: ("index_in_input_schema", "uint32", None, False, None),
        2: ("depth", "uint32", None, False, None),
    },
    "UnnestOptions": {
        1: ("preserve_nulls", "bool", None, False, None),
        2: ("recursions", "message", "RecursionUnnestOption", True, None),
        # not in the stored copy: datafusion 55's SQL unnest writes 3 = 1 (a varint); its refusal names the
        # field `UnnestOptions.null_handling`; the enum's type and value names were found in no source, so it
        # has no ENUMS entry and reads as a number
        3: ("null_handling", "enum", "UnnestNullHandling", False, None),
    },
    "RecursionUnnestOption": {
        1: ("output_column", "message", "Column", False, None),
        2: ("input_column", "message", "Column", False, None),
        3: ("depth", "uint32", None, False, None),
    },
    "ColumnUnnestListItem": {
        1: ("input_index", "uint32", None, False, None),
        2: ("recursion", "message", "ColumnUnnestListRecursion", False, None),
    },
    "ColumnUnnestListRecursion": {
        1: ("output_column", "message", "Column", False, None),
        2: ("depth", "uint32", None, False, None),
    },
    "GenerateSeriesNode": {
        1: ("schema", "message", "Schema", False, None),
        2: ("target_batch_size", "uint32", None, False, None),
        3: ("contains_null", "message", "GenerateSeriesArgsContainsNull", False, "args"),
        4: ("int64_args", "message", "GenerateSeriesArgsInt64", False, "args"),
        5: ("timestamp_args", "message", "GenerateSeriesArgsTimestamp", False, "args"),
        6: ("date_args", "message", "GenerateSeriesArgsDate", False, "args"),
    },
    "GenerateSeriesArgsContainsNull": {1: ("name", "enum", "GenerateSeriesName", False, None)},
    "GenerateSeriesArgsInt64": {
        1: ("start", "int64", None, False, None),
        2: ("end", "int64", None, False, None),
        3: ("step", "int64", None, False, None),
        4: ("include_end", "bool", None, False, None),
        5: ("name", "enum", "GenerateSeriesName", False, None),
    },
    "GenerateSeriesArgsTimestamp": {
        1: ("start", "int64", None, False, None),
        2: ("end", "int64", None, False, None),
        3: ("step", "message", "IntervalMonthDayNanoValue", False, None),
        4: ("tz", "string", None, False, None),
        5: ("include_end", "bool", None, False, None),
        6: ("name", "enum", "GenerateSeriesName", False, None),
    },
    "GenerateSeriesArgsDate": {
        1: ("start", "int64", None, False, None),
        2: ("end", "int64", None, False, None),
        3: ("step", "message", "IntervalMonthDayNanoValue", False, None),
        4: ("include_end", "bool", None, False, None),
        5: ("name", "enum", "GenerateSeriesName", False, None),
    },
    "ExplainExecNode": {
        1: ("schema", "message", "Schema", False, None),
        2: ("stringified_plans", "message", "StringifiedPlan", True, None),
        3: ("verbose", "bool", None, False, None),
    },
    "StringifiedPlan": {
        1: ("plan_type", "message", "PlanType", False, None),
        2: ("plan", "string", None, False, None),
    },
    "PlanType": {
        1: ("InitialLogicalPlan", "message", "EmptyMessage", False, "plan_type_enum"),
        2: ("OptimizedLogicalPlan", "message", "OptimizedLogicalPlanType", False, "plan_type_enum"),
        3: ("FinalLogicalPlan", "message", "EmptyMessage", False, "plan_type_enum"),
        4: ("InitialPhysicalPlan", "message", "EmptyMessage", False, "plan_type_enum"),
        5: ("OptimizedPhysicalPlan", "message", "OptimizedPhysicalPlanType", False, "plan_type_enum"),
        6: ("FinalPhysicalPlan", "message", "EmptyMessage", False, "plan_type_enum"),
        7: ("AnalyzedLogicalPlan", "message", "AnalyzedLogicalPlanType", False, "plan_type_enum"),
        8: ("FinalAnalyzedLogicalPlan", "message", "EmptyMessage", False, "plan_type_enum"),
        9: ("InitialPhysicalPlanWithStats", "message", "EmptyMessage", False, "plan_type_enum"),
        10: ("FinalPhysicalPlanWithStats", "message", "EmptyMessage", False, "plan_type_enum"),
        11: ("InitialPhysicalPlanWithSchema", "message", "EmptyMessage", False, "plan_type_enum"),
        12: ("FinalPhysicalPlanWithSchema", "message", "EmptyMessage", False, "plan_type_enum"),
        13: ("PhysicalPlanError", "message", "EmptyMessage", False, "plan_type_enum"),
    },
    "AnalyzedLogicalPlanType": {1: ("analyzer_name", "string", None, False, None)},
    "OptimizedLogicalPlanType": {1: ("optimizer_name", "string", None, False, None)},
    "OptimizedPhysicalPlanType": {1: ("optimizer_name", "string", None, False, None)},
    "AnalyzeExecNode": {
        1: ("verbose", "bool", None, False, None),
        2: ("show_statistics", "bool", None, False, None),
        3: ("input", "message", "PhysicalPlanNode", False, None),
        4: ("schema", "message", "Schema", False, None),
    },
    "AnalyzeNode": {
        1: ("input", "message", "LogicalPlanNode", False, None),
        2: ("verbose", "bool", None, False, None),
    },
}
# Sinks (DataSinkExec: COPY ... TO, INSERT INTO a listing table) and the logical Dml node, same sources and
# checks; CsvWriterOptions / JsonWriterOptions from datafusion/proto-common/proto/datafusion_common.proto (a
# stored copy of the 55 line). DmlNode.Type: datafusion 55 writes 3 (INSERT INTO) and 4 (INSERT OVERWRITE);
# the other values are the .proto's, not seen in bytes (a listing table supports no other DML).
_FILE_SINK = {
    1: ("input", "message", "PhysicalPlanNode", False, None),
    3: ("sink_schema", "message", "Schema", False, None),
    4: ("sort_order", "message", "PhysicalSortExprNodeCollection", False, None),
}
PLAN_NODE_MESSAGES |= {
    "ParquetSinkExecNode": {**_FILE_SINK, 2: ("sink", "message", "ParquetSink", False, None)},
    "CsvSinkExecNode": {**_FILE_SINK, 2: ("sink", "message", "CsvSink", False, None)},
    "JsonSinkExecNode": {**_FILE_SINK, 2: ("sink", "message", "JsonSink", False, None)},
    "ParquetSink": {
        1: ("config", "message", "FileSinkConfig", False, None),
        2: ("parquet_options", "message", "TableParquetOptions", False, None),
    },
    "CsvSink": {
        1: ("config", "message", "FileSinkConfig", False, None),
        2: ("writer_options", "message", "CsvWriterOptions", False, None),
    },
    "JsonSink": {
        1: ("config", "message", "FileSinkConfig", False, None),
        2: ("writer_options", "message", "JsonWriterOptions", False, None),
    },
    "FileSinkConfig": {
        1: ("object_store_url", "string", None, False, None),
        2: ("file_groups", "message", "PartitionedFile", True, None),
        3: ("table_paths", "string", None, True, None),
        4: ("output_schema", "message", "Schema", False, None),
        5: ("table_partition_cols", "message", "PartitionColumn", True, None),
        9: ("keep_partition_by_columns", "bool", None, False, None),
        10: ("insert_op", "enum", "InsertOp", False, None),
        11: ("file_extension", "string", None, False, None),
        12: ("file_output_mode", "enum", "FileOutputMode", False, None),
    },
    "CsvWriterOptions": {
        1: ("compression", "enum", "CompressionTypeVariant", False, None),
        2: ("delimiter", "string", None, False, None),
        3: ("has_header", "bool", None, False, None),
        4: ("date_format", "string", None, False, None),
        5: ("datetime_format", "string", None, False, None),
        6: ("timestamp_format", "string", None, False, None),
        7: ("time_format", "string", None, False, None),
        8: ("null_value", "string", None, False, None),
        9: ("quote", "string", None, False, None),
        10: ("escape", "string", None, False, None),
        11: ("double_quote", "bool", None, False, None),
        12: ("quote_style", "enum", "CsvQuoteStyle", False, None),
        13: ("ignore_leading_whitespace", "bool", None, False, None),
        14: ("ignore_trailing_whitespace", "bool", None, False, None),
    },
    "JsonWriterOptions": {1: ("compression", "enum", "CompressionTypeVariant", False, None)},
    "DmlNode": {
        1: ("dml_type", "enum", "DmlNode.Type", False, None),
        2: ("input", "message", "LogicalPlanNode", False, None),
        3: ("table_name", "message", "TableReference", False, None),
        5: ("target", "message", "LogicalPlanNode", False, None),
    },
}
# A dynamic filter (PhysicalExprNode arm 23: a TopK sort's, a hash join's or a MIN/MAX aggregate's filter, pushed
# into a scan's predicate; the same node as SortExecNode/HashJoinExecNode/AggregateExecNode.dynamic_filter). Read
# from bytes datafusion 55 writes (tests/layers/test_proto_dynamic_filter.py): the wire type of each field from a
# planned and an executed TopK and hash join, each name from datafusion's refusal when that field's wire type is
# flipped; fields 6-19 sent as a varint and as a message are ignored by datafusion (no such fields). generation is
# a Rust u64 (DynamicFilterInner), 1 until the filter is first updated; inner_expr is the current predicate
# (datafusion refuses a node without one: "Missing inner_expr in PhysicalDynamicFilterNode").
PLAN_NODE_MESSAGES |= {
    "PhysicalDynamicFilterNode": {
        1: ("children", "message", "PhysicalExprNode", True, None),
        2: ("remapped_children", "message", "PhysicalExprNode", True, None),
        3: ("generation", "uint64", None, False, None),
        4: ("inner_expr", "message", "PhysicalExprNode", False, None),
        5: ("is_complete", "bool", None, False, None),
    },
    # PhysicalExprNode arm 21: the partition hash a partitioned hash join's executed dynamic filter routes on
    # (``CASE hash_repartition % 2 WHEN 0 THEN … END``); same sources and checks, from an executed partitioned join.
    # Fields 3-5 and 7-11 sent with any wire type are ignored by datafusion (no such fields); datafusion displays
    # ``description``.
    "PhysicalHashExprNode": {
        1: ("on_columns", "message", "PhysicalExprNode", True, None),
        2: ("seed0", "uint64", None, False, None),
        6: ("description", "string", None, False, None),
    },
}
PLAN_NODE_ENUMS: dict[str, dict[int, str]] = {
    "GenerateSeriesName": {0: "GS_GENERATE_SERIES", 1: "GS_RANGE"},
    "InsertOp": {0: "Append", 1: "Overwrite", 2: "Replace"},
    "FileOutputMode": {0: "FILE_OUTPUT_MODE_AUTOMATIC", 1: "FILE_OUTPUT_MODE_SINGLE_FILE", 2: "FILE_OUTPUT_MODE_DIRECTORY"},
    "DmlNode.Type": {0: "UPDATE", 1: "DELETE", 2: "CTAS", 3: "INSERT_APPEND", 4: "INSERT_OVERWRITE", 5: "INSERT_REPLACE",
                     6: "TRUNCATE"},
}


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/wire-format.md")
    messages, enums = parse(src.read_text())
    for type_name, fields in SUPPLEMENT.items():
        for number, spec in fields.items():
            messages[type_name].setdefault(number, spec)
    for type_name, fields in {**OPTION_MESSAGES, **PLAN_NODE_MESSAGES, **MORE_PLAN_NODE_MESSAGES}.items():  # the fact sheet wins
        for number, spec in fields.items():
            messages.setdefault(type_name, {}).setdefault(number, spec)
    for type_name, values in {**PLAN_NODE_ENUMS, **MORE_PLAN_NODE_ENUMS}.items():
        enums.setdefault(type_name, values)
    out = [
        '"""Protobuf field tables of datafusion 55 (generated by tools/gen_proto_tables.py; do not edit).',
        "",
        "MESSAGES[type][number] = FieldSpec(name, kind, type, repeated, oneof).",
        "kind is a protobuf scalar type, 'message', 'enum' or 'map' (map<string,string>).",
        "A message type that has no entry here is opaque: its bytes are kept, never guessed.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from functools import partial",
        "from operator import itemgetter",
        "",
        "",
        "class FieldSpec(tuple):",
        '    """One field of a message: a row of the fact sheet, read by name.',
        "",
        "    A tuple with named fields, made without ``typing.NamedTuple``'s class machinery and with each row",
        "    built in C from its constant tuple: the table is read on every start-up.",
        '    """',
        "",
        "    __slots__ = ()",
        "    name = property(itemgetter(0), doc=\"the field name (for a oneof member, the arm's name)\")",
        "    kind = property(itemgetter(1), doc=\"a protobuf scalar type, 'message', 'enum' or 'map'\")",
        "    type = property(itemgetter(2), doc=\"the message or enum type (None for scalars and maps)\")",
        "    repeated = property(itemgetter(3), doc=\"repeated (maps count as repeated)\")",
        "    oneof = property(itemgetter(4), doc=\"the oneof group the field belongs to, if any\")",
        "",
        "    def __repr__(self) -> str:",
        "        return f\"FieldSpec{tuple.__repr__(self)}\"",
        "",
        "",
        "_row = partial(tuple.__new__, FieldSpec)",
        "",
        "MESSAGES: dict[str, dict[int, FieldSpec]] = {",
    ]
    for name, fields in messages.items():
        out.append(f"    {name!r}: {{")
        for num in sorted(fields):
            out.append(f"        {num}: _row({tuple(fields[num])!r}),")
        out.append("    },")
    out.append("}")
    out.append("")
    out.append("ENUMS: dict[str, dict[int, str]] = {")
    for name, values in enums.items():
        out.append(f"    {name!r}: {values!r},")
    out.append("}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
