"""Option messages inside plans (TableParquetOptions, ParquetOptions, ParquetCdcOptions, ParquetColumn*,
CsvOptions, JsonOptions): the field tables read them, so scan and prost_error see damage inside them.

Every blob is written by the installed datafusion with options set away from their defaults; values read
back are compared with what datafusion reports (its session settings) or with what the test set; damaged
variants are decoded for real in a child process (support.decoding.decode_all).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from datafusion import SessionConfig, SessionContext
from support.decoding import decode_cases

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.prost_error import PREFIX, prost_error
from datafusion_exprtool.layers.proto.scan import scan
from datafusion_exprtool.layers.proto.tables import ENUMS, MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, iter_raw

OPTION_TYPES = {
    "TableParquetOptions", "ParquetOptions", "ParquetCdcOptions", "ParquetColumnSpecificOptions",
    "ParquetColumnOptions", "CsvOptions", "JsonOptions",
}  # fmt: skip
ROOTS = {"logical": "LogicalPlanNode", "physical": "PhysicalPlanNode"}

#: session settings away from their defaults (datafusion.execution.parquet.<key>)
PARQUET_SET = {
    "allow_single_file_parallelism": "false", "binary_as_string": "true", "bloom_filter_fpp": "0.25",
    "bloom_filter_ndv": "77", "bloom_filter_on_read": "false", "bloom_filter_on_write": "true",
    "coerce_int96": "ms", "coerce_int96_tz": "UTC", "column_index_truncate_length": "65",
    "compression": "snappy", "content_defined_chunking.enabled": "true",
    "content_defined_chunking.max_chunk_size": "1048577", "content_defined_chunking.min_chunk_size": "262145",
    "content_defined_chunking.norm_level": "-2", "created_by": "exprtool test", "data_page_row_count_limit": "20001",
    "data_pagesize_limit": "1048577", "dictionary_enabled": "false", "dictionary_page_size_limit": "1048578",
    "enable_page_index": "false", "encoding": "plain", "force_filter_selections": "true",
    "max_in_list_size": "21", "max_predicate_cache_size": "0", "max_row_group_bytes": "1000",
    "max_row_group_size": "1048579", "maximum_buffered_record_batches_per_stream": "3",
    "maximum_parallel_row_group_writers": "2", "metadata_size_hint": "0", "pruning": "false",
    "pushdown_filters": "true", "reorder_filters": "true", "schema_force_view_types": "false",
    "skip_arrow_metadata": "true", "skip_metadata": "false", "statistics_enabled": "chunk",
    "statistics_truncate_length": "0", "write_batch_size": "1025", "writer_version": "2.0",
}  # fmt: skip
#: table options of CREATE EXTERNAL TABLE ... OPTIONS ('format.<key>' '<value>')
PARQUET_TABLE = {
    "bloom_filter_enabled::a": "true", "encoding::a": "plain", "dictionary_enabled::a": "false",
    "compression::a": "zstd(5)", "statistics_enabled::a": "none", "bloom_filter_fpp::a": "0.5",
    "bloom_filter_ndv::a": "9", "metadata::owner": "exprtool",
}  # fmt: skip
CSV_TABLE = {
    "has_header": "true", "delimiter": ";", "quote": "''", "terminator": "~", "escape": "\\",
    "double_quote": "false", "newlines_in_values": "true", "compression": "xz", "schema_infer_max_rec": "7",
    "date_format": "%Y", "datetime_format": "%Y-%m", "timestamp_format": "%H", "timestamp_tz_format": "%Z",
    "time_format": "%M", "null_value": "NULL", "null_regex": "^N$", "comment": "#", "truncated_rows": "true",
    "quote_style": "always", "compression_level": "3", "ignore_leading_whitespace": "true",
    "ignore_trailing_whitespace": "true",
}  # fmt: skip
JSON_TABLE = {
    "compression": "zstd",
    "schema_infer_max_rec": "9",
    "newline_delimited": "false",
    "compression_level": "5",
}


def _table(ctx: SessionContext, stored: str, location: Path, options: dict[str, str]) -> SessionContext:
    opts = ", ".join(f"'format.{k}' '{v}'" for k, v in options.items())
    ctx.sql(
        f"CREATE EXTERNAL TABLE t (a BIGINT, s VARCHAR) STORED AS {stored} LOCATION '{location}' OPTIONS ({opts})"
    )
    return ctx


@pytest.fixture(scope="module")
def blobs(tmp_path_factory) -> dict:
    """name -> (kind, blob) written by datafusion, plus the parquet session's settings as datafusion reports them."""
    tmp = tmp_path_factory.mktemp("options")
    data = pa.table({"a": [1, 2, 3], "s": ["x", "y", "z"]})
    pq.write_table(data, tmp / "d.parquet")
    pcsv.write_csv(data, tmp / "d.csv")
    (tmp / "d.json").write_text("".join(json.dumps(r) + "\n" for r in data.to_pylist()))
    ctx = SessionContext(SessionConfig().with_information_schema(True))
    for key, value in PARQUET_SET.items():
        ctx.sql(f"SET datafusion.execution.parquet.{key} = '{value}'")
    settings = {}
    for batch in ctx.sql("SELECT name, value FROM information_schema.df_settings").collect():
        d = batch.to_pydict()
        settings.update(zip(d["name"], d["value"], strict=True))
    parquet = _table(ctx, "PARQUET", tmp / "d.parquet", PARQUET_TABLE).sql("SELECT * FROM t")
    csv = _table(SessionContext(), "CSV", tmp / "d.csv", CSV_TABLE).sql("SELECT * FROM t")
    js = _table(SessionContext(), "JSON", tmp / "d.json", JSON_TABLE).sql("SELECT * FROM t")
    out = {
        "parquet.logical": ("logical", parquet.logical_plan().to_bytes()),
        "parquet.physical": ("physical", parquet.execution_plan().to_bytes()),
        "csv.logical": ("logical", csv.logical_plan().to_bytes()),
        "json.logical": ("logical", js.logical_plan().to_bytes()),
    }
    return {"blobs": out, "settings": settings, "tmp": tmp}


def _find(root: Msg, type_name: str) -> Msg:
    """The first message of ``type_name`` in pre-order below ``root``."""
    stack = [root]
    while stack:
        m = stack.pop()
        if m.type == type_name:
            return m
        stack += reversed([f.value for f in m.fields() if isinstance(f.value, Msg) and f.value.known])
    raise AssertionError(f"no {type_name} in {root.type}")


def _root(blobs: dict, name: str) -> Msg:
    kind, blob = blobs["blobs"][name]
    return Msg(ROOTS[kind], blob, 0, len(blob))


def test_scan_reads_option_messages_whole(blobs) -> None:
    """No unknown field and nothing opaque inside the option messages datafusion writes."""
    for name, (kind, blob) in blobs["blobs"].items():
        res = scan(blob, ROOTS[kind])
        assert not [u for u in res.unknown if u.type in OPTION_TYPES], (name, res.unknown)
        assert not [o for o in res.opaque if o[0] in OPTION_TYPES], (name, res.opaque)
        assert res.unknown_count == 0, (name, res.unknown)


def _expected(kind: str, value: str | None):
    """A df_settings text as the proto field holds it (an absent field reads as the proto3 default)."""
    if value is None or value == "None":
        return None
    if kind == "bool":
        return value == "true"
    if kind == "double":
        return float(value)
    if kind in ("uint64", "int32"):
        return int(value)
    return value


@pytest.mark.parametrize("name", ["parquet.logical", "parquet.physical"])
def test_parquet_options_match_datafusions_settings(blobs, name) -> None:
    """Each ParquetOptions / ParquetCdcOptions field holds what datafusion reports for the same setting."""
    global_ = _find(_root(blobs, name), "ParquetOptions")
    cdc = _find(global_, "ParquetCdcOptions")
    checked = 0
    for key, text in blobs["settings"].items():
        if not key.startswith("datafusion.execution.parquet."):
            continue
        key = key.removeprefix("datafusion.execution.parquet.")
        msg, field = (
            (cdc, key.split(".")[1]) if key.startswith("content_defined_chunking.") else (global_, key)
        )
        table = MESSAGES[msg.type]
        (spec,) = [s for s in table.values() if s[0] == field]
        got = msg.to_dict().get(field)
        want = _expected(spec[1], text)
        if spec[4] is None and got is None:  # proto3 leaves a zero value off the wire
            got = {"bool": False, "string": ""}.get(spec[1], 0)
        assert got == want, (key, got, want)
        checked += 1
    assert checked == len(PARQUET_SET) and checked >= 39
    assert global_.to_dict()["content_defined_chunking"].type == "ParquetCdcOptions"


def test_table_level_options_decode_as_set(blobs) -> None:
    root = _root(blobs, "parquet.logical")
    table = _find(root, "TableParquetOptions").to_dict()
    assert table["key_value_metadata"] == [("owner", "exprtool")]
    (column,) = table["column_specific_options"]
    col = column.to_dict()
    assert col["column_name"] == "a"
    assert col["options"].to_dict() == {
        "bloom_filter_enabled": True, "encoding": "plain", "dictionary_enabled": False, "compression": "zstd(5)",
        "statistics_enabled": "none", "bloom_filter_fpp": 0.5, "bloom_filter_ndv": 9,
    }  # fmt: skip
    csv = _find(_root(blobs, "csv.logical"), "CsvOptions").to_dict()
    assert csv == {
        "has_header": b"\x01", "delimiter": b";", "quote": b"'", "escape": b"\\", "compression": 2,
        "schema_infer_max_rec": 7, "date_format": "%Y", "datetime_format": "%Y-%m", "timestamp_format": "%H",
        "timestamp_tz_format": "%Z", "time_format": "%M", "null_value": "NULL", "null_regex": "^N$",
        "comment": b"#", "double_quote": b"\x00", "newlines_in_values": b"\x01", "terminator": b"~",
        "truncated_rows": b"\x01", "compression_level": 3, "quote_style": 1,
        "ignore_leading_whitespace": b"\x01", "ignore_trailing_whitespace": b"\x01",
    }  # fmt: skip
    assert ENUMS["CompressionTypeVariant"][csv["compression"]] == "XZ"
    js = _find(_root(blobs, "json.logical"), "JsonOptions").to_dict()
    assert js == {
        "compression": 3,
        "schema_infer_max_rec": 9,
        "compression_level": 5,
        "newline_delimited": False,
    }


# --- damage inside option messages --------------------------------------------------------------------
def _field_tag(msg: Msg, name: str) -> tuple[int, int]:
    """(offset of the tag's first byte, wire type) of the named field in ``msg``."""
    number = next(n for n, s in MESSAGES[msg.type].items() if s[0] == name)
    for n, wire, _a, _b, tag in iter_raw(msg.buf, msg.start, msg.end):
        if n == number:
            return tag, wire
    raise AssertionError(f"{msg.type}.{name} not on the wire")


def _flip_wire(blob: bytes, tag: int, wire: int) -> bytes:
    """One bit of the tag's low byte flipped so the wire type is wrong (varint <-> i64, len -> varint)."""
    out = bytearray(blob)
    out[tag] ^= 2 if wire == LEN else 1
    return bytes(out)


def _bad_utf8(blob: bytes, msg: Msg, name: str) -> bytes:
    tag, _wire = _field_tag(msg, name)
    for _n, _w, a, _b, t in iter_raw(msg.buf, msg.start, msg.end):
        if t == tag:
            out = bytearray(blob)
            out[a] ^= 0x80  # an ASCII first byte becomes a lone continuation byte
            return bytes(out)
    raise AssertionError(name)


def _targeted(blobs: dict) -> list[tuple[str, str, bytes]]:
    """(label, kind, damaged blob): wrong wire types and invalid UTF-8 in each option message."""
    out = []
    for name in ("parquet.logical", "parquet.physical"):
        kind, blob = blobs["blobs"][name]
        root = _root(blobs, name)
        g = _find(root, "ParquetOptions")
        for field in (
            "writer_version",
            "max_in_list_size",
            "compression",
            "bloom_filter_fpp",
            "force_filter_selections",
        ):
            tag, wire = _field_tag(g, field)
            out.append((f"{name}:{field}:wire", kind, _flip_wire(blob, tag, wire)))
        out.append((f"{name}:writer_version:utf8", kind, _bad_utf8(blob, g, "writer_version")))
        out.append((f"{name}:coerce_int96_tz:utf8", kind, _bad_utf8(blob, g, "coerce_int96_tz")))
        cdc = _find(g, "ParquetCdcOptions")
        out.append((f"{name}:norm_level:wire", kind, _flip_wire(blob, *_field_tag(cdc, "norm_level"))))
        col = _find(root, "ParquetColumnOptions")
        out.append(
            (f"{name}:column.compression:wire", kind, _flip_wire(blob, *_field_tag(col, "compression")))
        )
        spec = _find(root, "ParquetColumnSpecificOptions")
        out.append((f"{name}:column_name:utf8", kind, _bad_utf8(blob, spec, "column_name")))
    kind, blob = blobs["blobs"]["csv.logical"]
    csv = _find(_root(blobs, "csv.logical"), "CsvOptions")
    out.append(("csv:null_value:utf8", kind, _bad_utf8(blob, csv, "null_value")))
    out.append(("csv:quote_style:wire", kind, _flip_wire(blob, *_field_tag(csv, "quote_style"))))
    out.append(("csv:delimiter:wire", kind, _flip_wire(blob, *_field_tag(csv, "delimiter"))))
    kind, blob = blobs["blobs"]["json.logical"]
    js = _find(_root(blobs, "json.logical"), "JsonOptions")
    out.append(("json:newline_delimited:wire", kind, _flip_wire(blob, *_field_tag(js, "newline_delimited"))))
    return out


def _verdicts(blobs: dict, cases: list[tuple[str, str, bytes]]) -> list[str | None]:
    return decode_cases(cases, blobs["tmp"], "damaged")


def _agree(label: str, kind: str, data: bytes, theirs: str | None) -> bool:
    """scan refuses what prost refuses, and prost_error says it in datafusion's words; True if prost refused."""
    ours = prost_error(data, ROOTS[kind])
    refused_by_prost = theirs is not None and PREFIX in theirs
    if refused_by_prost:
        with pytest.raises(DecodeError):
            scan(data, ROOTS[kind])
        assert ours is not None and ours in theirs.replace('\\"', '"'), (label, ours, theirs)
    else:  # prost reads it (datafusion may still refuse it later, in from_proto): so does scan
        assert ours is None, (label, ours, theirs)
        scan(data, ROOTS[kind])
    return refused_by_prost


def test_targeted_damage_in_options_is_refused_like_datafusion(blobs) -> None:
    cases = _targeted(blobs)
    verdicts = _verdicts(blobs, cases)
    for (label, kind, data), theirs in zip(cases, verdicts, strict=True):
        assert theirs is not None and PREFIX in theirs, (label, theirs)  # every one is prost's refusal
        assert _agree(label, kind, data, theirs)
    said = {label: prost_error(data, ROOTS[kind]) or "" for label, kind, data in cases}
    utf8 = "invalid string value: data is not UTF-8 encoded"
    assert said["parquet.logical:writer_version:utf8"].startswith(f"{PREFIX}ParquetOptions.writer_version: ")
    assert said["parquet.logical:writer_version:utf8"].endswith(utf8)
    assert said["parquet.physical:compression:wire"].startswith(f"{PREFIX}ParquetOptions.compression_opt: ")
    assert said["parquet.physical:compression:wire"].endswith(
        "invalid wire type: Varint (expected LengthDelimited)"
    )
    cdc = f"{PREFIX}ParquetCdcOptions.norm_level: ParquetOptions.content_defined_chunking: TableParquetOptions.global:"
    assert said["parquet.logical:norm_level:wire"].startswith(cdc)
    assert said["csv:null_value:utf8"].startswith(f"{PREFIX}CsvOptions.null_value: CsvFormat.options: ")


def test_random_bit_flips_in_options_agree_with_datafusion(blobs) -> None:
    """Seeded single-bit flips inside the option bodies: prost's refusals are all scan's and prost_error's."""
    rng = random.Random(55)
    cases = []
    for name in ("parquet.logical", "parquet.physical", "csv.logical", "json.logical"):
        kind, blob = blobs["blobs"][name]
        top = (
            "TableParquetOptions"
            if name.startswith("parquet")
            else "CsvOptions"
            if "csv" in name
            else "JsonOptions"
        )
        m = _find(_root(blobs, name), top)
        for _ in range(12):
            out = bytearray(blob)
            out[rng.randrange(m.start, m.end)] ^= 1 << rng.randrange(8)
            cases.append((name, kind, bytes(out)))
    verdicts = _verdicts(blobs, cases)
    refused = sum(
        _agree(label, kind, data, theirs) for (label, kind, data), theirs in zip(cases, verdicts, strict=True)
    )
    assert refused >= 5  # the damage is real: a share of the flips break the wire format
