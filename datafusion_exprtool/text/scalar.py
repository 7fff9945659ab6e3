"""ScalarValue Debug text and arrow-rs DataType Display, rebuilt from the proto tree alone.

Both run on the engine (engine.py). Nested literals (List, Struct, Map: Arrow IPC read with pyarrow) are
in nested.py; Rust text conventions (floats, dates, decimals, string escapes) in rust_text.py.
"""

from __future__ import annotations

from typing import Any

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.tables import ENUMS
from datafusion_exprtool.text.engine import UNSUPPORTED, Gen, arm, children, placeholder, render_with
from datafusion_exprtool.text.rust_text import (
    DECIMALS,
    civil_date,
    format_decimal,
    rust_debug_str,
    rust_float,
)

# --------------------------------------------------------------------------- DataType Display

_SIMPLE_TYPES = {
    "NONE": "Null", "BOOL": "Boolean", "UINT8": "UInt8", "INT8": "Int8", "UINT16": "UInt16", "INT16": "Int16",
    "UINT32": "UInt32", "INT32": "Int32", "UINT64": "UInt64", "INT64": "Int64", "FLOAT16": "Float16",
    "FLOAT32": "Float32", "FLOAT64": "Float64", "UTF8": "Utf8", "BINARY": "Binary", "DATE32": "Date32",
    "DATE64": "Date64", "LARGE_BINARY": "LargeBinary", "LARGE_UTF8": "LargeUtf8", "BINARY_VIEW": "BinaryView",
    "UTF8_VIEW": "Utf8View",
}  # fmt: skip
_UNIT_SHORT = {0: "s", 1: "ms", 2: "µs", 3: "ns"}


def _metadata(pairs: list[tuple[str, str]] | None) -> str:
    if not pairs:
        return ""
    body = ", ".join(f"{rust_debug_str(k)}: {rust_debug_str(v)}" for k, v in sorted(dict(pairs).items()))
    return f", metadata: {{{body}}}"


def _field_gen(field: Msg) -> Gen:
    """``"name": [non-null ]<type>[, metadata: {...}]`` as in a Struct or Map."""
    d = field.to_dict()
    yield rust_debug_str(d.get("name", "")) + ": " + ("" if d.get("nullable") else "non-null ")
    yield type_gen(d.get("arrow_type"))
    yield _metadata(d.get("metadata"))


def _list_gen(field: Msg | None, prefix: str) -> Gen:
    d = field.to_dict() if field is not None else {}
    yield prefix + ("" if d.get("nullable") else "non-null ")
    yield type_gen(d.get("arrow_type"))
    name = d.get("name", "")
    yield ("" if name == "item" else f", field: '{name}'") + _metadata(d.get("metadata")) + ")"


def type_gen(msg: Msg | None) -> Gen:
    if msg is None:
        yield "<missing type>"
        return
    name, value, number = arm(msg)
    if name in _SIMPLE_TYPES:
        yield _SIMPLE_TYPES[name]
    elif name == "FIXED_SIZE_BINARY":
        yield f"FixedSizeBinary({value})"
    elif name in ("DURATION", "TIME32", "TIME64"):
        yield f"{name.title()}({_UNIT_SHORT.get(value, value)})"
    elif name == "TIMESTAMP":
        d = value.to_dict()
        unit = _UNIT_SHORT.get(d.get("time_unit", 0), "?")
        tz = d.get("timezone")
        yield f"Timestamp({unit}, {rust_debug_str(tz)})" if tz else f"Timestamp({unit})"
    elif name == "INTERVAL":
        yield f"Interval({ENUMS['IntervalUnit'].get(value, value)})"
    elif name in DECIMALS:
        d = value.to_dict()
        yield f"{DECIMALS[name]}({d.get('precision', 0)}, {d.get('scale', 0)})"
    elif name in ("LIST", "LARGE_LIST"):
        yield _list_gen(value.to_dict().get("field_type"), "List(" if name == "LIST" else "LargeList(")
    elif name == "FIXED_SIZE_LIST":
        d = value.to_dict()
        yield _list_gen(d.get("field_type"), f"FixedSizeList({d.get('list_size', 0)} x ")
    elif name == "STRUCT":
        yield "Struct("
        for i, f in enumerate(children(value, 1, "Field")):
            yield ", " if i else ""
            yield _field_gen(f)
        yield ")"
    elif name == "MAP":
        d = value.to_dict()
        yield "Map("
        yield _field_gen(d["field_type"]) if "field_type" in d else "<missing field>"
        yield ", sorted)" if d.get("keys_sorted") else ", unsorted)"
    elif name == "DICTIONARY":
        d = value.to_dict()
        yield "Dictionary("
        yield type_gen(d.get("key"))
        yield ", "
        yield type_gen(d.get("value"))
        yield ")"
    elif name == "UNION":
        d = value.to_dict()
        yield "Union(" + ("Dense" if d.get("union_mode") == 1 else "Sparse")
        ids = d.get("type_ids") or []
        for i, f in enumerate(d.get("union_types") or []):
            yield f", {ids[i] if i < len(ids) else i}: ("
            yield _field_gen(f)
            yield ")"
        yield ")"
    else:
        yield placeholder(UNSUPPORTED, "protobuf", msg.offset, f"<unsupported ArrowType field {number} @{msg.offset}>")


def datatype_display(msg: Msg) -> str:
    """arrow-rs 59 ``Display for DataType`` of a proto ArrowType (as CAST(... AS <here>) prints it)."""
    return render_with(type_gen, msg)


# --------------------------------------------------------------------------- ScalarValue Debug

INTS = {
    "int8_value": "Int8", "int16_value": "Int16", "int32_value": "Int32", "int64_value": "Int64",
    "uint8_value": "UInt8", "uint16_value": "UInt16", "uint32_value": "UInt32", "uint64_value": "UInt64",
}  # fmt: skip
_STRINGS = {"utf8_value": "Utf8", "large_utf8_value": "LargeUtf8", "utf8_view_value": "Utf8View"}
_BINARIES = {"binary_value": "Binary", "large_binary_value": "LargeBinary", "binary_view_value": "BinaryView"}
_DURATIONS = {
    "duration_second_value": "DurationSecond", "duration_millisecond_value": "DurationMillisecond",
    "duration_microsecond_value": "DurationMicrosecond", "duration_nanosecond_value": "DurationNanosecond",
}  # fmt: skip
_TS_ARMS = {
    "time_second_value": "Second", "time_millisecond_value": "Millisecond",
    "time_microsecond_value": "Microsecond", "time_nanosecond_value": "Nanosecond",
}  # fmt: skip
_TIME_ARMS = {
    "time32_second_value": "Time32Second", "time32_millisecond_value": "Time32Millisecond",
    "time64_microsecond_value": "Time64Microsecond", "time64_nanosecond_value": "Time64Nanosecond",
}  # fmt: skip
_DEC_ARMS = {
    "decimal32_value": "Decimal32", "decimal64_value": "Decimal64",
    "decimal128_value": "Decimal128", "decimal256_value": "Decimal256",
}  # fmt: skip
_NESTED = {
    "list_value": "List", "large_list_value": "LargeList", "fixed_size_list_value": "FixedSizeList",
    "struct_value": "Struct", "map_value": "Map",
}  # fmt: skip
# typed NULL: ArrowType arm -> Debug text
NULL_PLAIN = {k: f"{v}(NULL)" for k, v in _SIMPLE_TYPES.items() if k not in ("NONE", "DATE32", "DATE64")}
NULL_PLAIN.update({"NONE": "NULL", "DATE32": 'Date32("NULL")', "DATE64": 'Date64("NULL")'})
_TIME_NAMES = {("TIME32", 0): "Time32Second", ("TIME32", 1): "Time32Millisecond",
               ("TIME64", 2): "Time64Microsecond", ("TIME64", 3): "Time64Nanosecond"}  # fmt: skip
_DUR_NAMES = {
    0: "DurationSecond",
    1: "DurationMillisecond",
    2: "DurationMicrosecond",
    3: "DurationNanosecond",
}
_INTERVAL_NAMES = {0: "IntervalYearMonth", 1: "IntervalDayTime", 2: "IntervalMonthDayNano"}


def _tz_debug(tz: str | None) -> str:
    return f"Some({rust_debug_str(tz)})" if tz else "None"


def _decimal_parts(value: Msg) -> tuple[int, int, int]:
    d = value.to_dict()
    return int.from_bytes(d.get("value", b""), "big", signed=True), d.get("p", 0), d.get("s", 0)


def _interval_mdn(value: Msg) -> str:
    d = value.to_dict()
    return f"IntervalMonthDayNano {{ months: {d.get('months', 0)}, days: {d.get('days', 0)}, nanoseconds: {d.get('nanos', 0)} }}"


def _typed_null(t: Msg) -> Gen:
    name, value, number = arm(t)
    if name in NULL_PLAIN:
        yield NULL_PLAIN[name]
    elif name == "FIXED_SIZE_BINARY":
        yield f"FixedSizeBinary({value}, NULL)"
    elif name == "TIMESTAMP":
        d = value.to_dict()
        unit = ENUMS["TimeUnit"].get(d.get("time_unit", 0), "?")
        yield f"Timestamp{unit}(NULL, {_tz_debug(d.get('timezone'))})"
    elif (name, value) in _TIME_NAMES:
        yield f'{_TIME_NAMES[(name, value)]}("NULL")'
    elif name == "DURATION":
        yield f'{_DUR_NAMES.get(value, "Duration")}("NULL")'
    elif name == "INTERVAL":
        yield f'{_INTERVAL_NAMES.get(value, "Interval")}("NULL")'
    elif name in DECIMALS:
        d = value.to_dict()
        yield f"{DECIMALS[name]}(NULL,{d.get('precision', 0)},{d.get('scale', 0)})"
    elif name == "DICTIONARY":
        d = value.to_dict()
        yield "Dictionary("
        yield type_gen(d.get("key"))
        yield ", "
        yield _typed_null(d["value"]) if "value" in d else "NULL"
        yield ")"
    elif name in ("LIST", "LARGE_LIST", "FIXED_SIZE_LIST"):  # a null list formats as nothing
        yield {"LIST": "List", "LARGE_LIST": "LargeList", "FIXED_SIZE_LIST": "FixedSizeList"}[name] + "()"
    elif name == "STRUCT":  # every child null: ``name:`` with nothing after it
        names = [str(singles_name(f)) + ":" for f in children(value, 1, "Field")]
        yield "Struct({" + ",".join(names) + "})"
    elif name == "MAP":
        yield "Map([NULL])"
    else:
        yield placeholder(UNSUPPORTED, "protobuf", t.offset, f"<unsupported typed NULL field {number} @{t.offset}>")


def singles_name(field: Msg) -> str:
    return next((f.value for f in field.fields() if f.name == "name"), "")


def scalar_gen(msg: Msg, display: bool = False) -> Gen:
    """ScalarValue Debug (``Int64(1)``); with ``display`` its Display (``1``), used by window frame bounds."""
    name, value, number = arm(msg)
    if name is None:
        if not number:
            yield "<empty ScalarValue>"
            return
        yield placeholder(UNSUPPORTED, "protobuf", msg.offset, f"<unsupported ScalarValue field {number} @{msg.offset}>")
        return
    text = scalar_display_text(name, value)
    if text is not None:
        if display:
            yield binary_display(name, value) or text
            return
        yield debug_wrap(name, value, text)
    elif name == "null_value":
        if display:
            yield "NULL"
        else:
            yield _typed_null(value)
    elif name == "dictionary_value":
        d = value.to_dict()
        if display:
            yield scalar_gen(d["value"], True) if "value" in d else "NULL"
            return
        yield "Dictionary("
        yield type_gen(d.get("index_type"))
        yield ", "
        yield scalar_gen(d["value"]) if "value" in d else "NULL"
        yield ")"
    elif name in _NESTED:
        from datafusion_exprtool.text.nested import nested_text  # noqa: PLC0415  (nested.py builds on this module; pyarrow behind it)

        body = nested_text(_NESTED[name], value, display)
        yield body if display else f"{_NESTED[name]}({body})"
    else:
        yield placeholder(UNSUPPORTED, "protobuf", msg.offset, f"<unsupported ScalarValue {name} @{msg.offset}>")


def scalar_display_text(name: str, value: Any) -> str | None:
    """ScalarValue Display of the simple (non-recursive) arms, or None."""
    if name in INTS:
        return str(value)
    if name == "bool_value":
        return "true" if value else "false"
    if name in ("float64_value", "float32_value"):
        return rust_float(value, name == "float32_value")
    if name in _STRINGS:
        return value
    if name in _BINARIES:
        return ",".join(str(b) for b in value)
    if name == "fixed_size_binary_value":
        return ",".join(str(b) for b in value.to_dict().get("values", b""))
    if name == "date_32_value":
        return civil_date(value)
    if name == "date_64_value":
        return civil_date(value // 86_400_000)
    if name in _DURATIONS or name == "interval_yearmonth_value":
        return str(value)
    if name in ("time32_value", "time64_value", "timestamp_value"):
        sub = value.which("value")
        return str(sub[1]) if sub is not None else "NULL"
    if name in _DEC_ARMS:
        return format_decimal(*_decimal_parts(value))
    if name == "interval_month_day_nano":
        return _interval_mdn(value)
    if name == "interval_daytime_value":
        d = value.to_dict()
        return f"IntervalDayTime {{ days: {d.get('days', 0)}, milliseconds: {d.get('milliseconds', 0)} }}"
    return None


def binary_display(name: str, value: Any) -> str | None:
    """ScalarValue Display of a binary: its first 10 bytes in upper-case hex, ``...`` after when longer (Debug
    shows the bytes as decimals, ``Binary("0,1,2,255")``); None for any other arm."""
    if name in _BINARIES:
        raw = value
    elif name == "fixed_size_binary_value":
        raw = value.to_dict().get("values", b"")
    else:
        return None
    return raw[:10].hex().upper() + ("..." if len(raw) > 10 else "")


def debug_wrap(name: str, value: Any, text: str) -> str:
    """ScalarValue Debug around its Display text (``Int64(1)``, ``Utf8("x")``)."""
    if name in INTS:
        return f"{INTS[name]}({text})"
    if name == "bool_value":
        return f"Boolean({text})"
    if name in ("float64_value", "float32_value"):
        return f"{'Float64' if name == 'float64_value' else 'Float32'}({text})"
    if name in _STRINGS:
        return f'{_STRINGS[name]}("{text}")'
    if name in _BINARIES:
        return f'{_BINARIES[name]}("{text}")'
    if name == "fixed_size_binary_value":
        return f'FixedSizeBinary({value.to_dict().get("length", 0)}, "{text}")'
    if name == "date_32_value":
        return f'Date32("{text}")'
    if name == "date_64_value":
        return f'Date64("{text}")'
    if name in _DURATIONS:
        return f'{_DURATIONS[name]}("{text}")'
    if name == "interval_yearmonth_value":
        return f'IntervalYearMonth("{text}")'
    if name == "interval_daytime_value":
        return f'IntervalDayTime("{text}")'
    if name == "interval_month_day_nano":
        return f'IntervalMonthDayNano("{text}")'
    if name in ("time32_value", "time64_value"):
        sub = (value.which("value") or ("",))[0]
        return f'{_TIME_ARMS.get(sub, "Time")}("{text}")'
    if name == "timestamp_value":
        sub = (value.which("value") or ("",))[0]
        tz = value.to_dict().get("timezone")
        return f"Timestamp{_TS_ARMS.get(sub, '')}({text}, {_tz_debug(tz)})"
    if name in _DEC_ARMS:
        _v, p, s = _decimal_parts(value)
        return f"{_DEC_ARMS[name]}({text},{p},{s})"
    return text


def simple_scalar_debug(msg: Msg) -> str | None:
    """Debug text of a literal that needs no child expansion (most of them), else None."""
    name, value, _n = arm(msg)
    if name is None:
        return None
    text = scalar_display_text(name, value)
    return None if text is None else debug_wrap(name, value, text)


def scalar_debug(msg: Msg) -> str:
    """Rust ScalarValue Debug as datafusion prints a literal inside ``canonical_name()``."""
    return render_with(scalar_gen, msg)
