"""Nested literals (List, LargeList, FixedSizeList, Struct, Map): their Arrow IPC bytes read with pyarrow.

A nested ScalarValue carries a one-column record batch; arrow-rs's array formatter prints its value.
pyarrow is imported only when a blob holds such a literal, so ``inspect --json`` of anything else
never pays for it. Proto ArrowType -> pyarrow type conversion runs on the one engine (``evaluate``).
"""

from __future__ import annotations

import struct
from typing import Any

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.engine import UNDECODABLE, Gen, arm, children, drive, evaluate, placeholder
from datafusion_exprtool.text.rust_text import (
    DECIMALS,
    civil_date,
    float_special,
    format_decimal,
    rust_debug_str,
    shortest_digits,
)


def ryu_float(x: float, single: bool = False) -> str:
    """arrow-rs array display of floats (ryu): ``1.0``, ``1e20``, ``0.00001``, ``1e-7``."""
    special = float_special(x, "0.0")
    if special is not None:
        return special
    sign = "-" if x < 0 else ""
    ds, kk = shortest_digits(abs(x), single)
    n, limit, low = len(ds), (13 if single else 16), (-6 if single else -5)
    if 0 <= kk - n and kk <= limit:
        return f"{sign}{ds}{'0' * (kk - n)}.0"
    if 0 < kk <= limit:
        return f"{sign}{ds[:kk]}.{ds[kk:]}"
    if low < kk <= 0:
        return f"{sign}0.{'0' * -kk}{ds}"
    mant = ds if n == 1 else f"{ds[0]}.{ds[1:]}"
    return f"{sign}{mant}e{kk - 1}"


def clock(secs: int, nanos: int) -> str:
    """chrono time-of-day text with 0/3/6/9 fractional digits."""
    secs %= 86400
    text = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    if nanos:
        if nanos % 1_000_000 == 0:
            text += f".{nanos // 1_000_000:03d}"
        elif nanos % 1000 == 0:
            text += f".{nanos // 1000:06d}"
        else:
            text += f".{nanos:09d}"
    return text


_PA_SIMPLE = {
    "NONE": "null", "BOOL": "bool_", "UINT8": "uint8", "INT8": "int8", "UINT16": "uint16", "INT16": "int16",
    "UINT32": "uint32", "INT32": "int32", "UINT64": "uint64", "INT64": "int64", "FLOAT16": "float16",
    "FLOAT32": "float32", "FLOAT64": "float64", "UTF8": "string", "BINARY": "binary", "DATE32": "date32",
    "DATE64": "date64", "LARGE_BINARY": "large_binary", "LARGE_UTF8": "large_string",
    "BINARY_VIEW": "binary_view", "UTF8_VIEW": "string_view",
}  # fmt: skip
_PA_UNIT = {0: "s", 1: "ms", 2: "us", 3: "ns"}


def pa_field(pa: Any, field: Msg) -> Gen:
    d = field.to_dict()
    t = yield _pa_type(pa, d.get("arrow_type"))
    return pa.field(d.get("name", ""), t, d.get("nullable", False), dict(d.get("metadata") or []) or None)


def _pa_type(pa: Any, msg: Msg | None) -> Gen:
    if msg is None:
        raise ValueError("missing ArrowType")
    name, value, _n = arm(msg)
    if name in _PA_SIMPLE:
        return getattr(pa, _PA_SIMPLE[name])()
    if name == "FIXED_SIZE_BINARY":
        return pa.binary(value)
    if name in ("DURATION", "TIME32", "TIME64"):
        return getattr(pa, name.lower())(_PA_UNIT[value])
    if name == "TIMESTAMP":
        d = value.to_dict()
        return pa.timestamp(_PA_UNIT[d.get("time_unit", 0)], d.get("timezone") or None)
    if name == "INTERVAL" and value == 2:
        return pa.month_day_nano_interval()
    if name in DECIMALS:
        d = value.to_dict()
        return getattr(pa, name.lower())(d.get("precision", 0), d.get("scale", 0))
    if name in ("LIST", "LARGE_LIST", "FIXED_SIZE_LIST"):
        d = value.to_dict()
        f = yield pa_field(pa, d["field_type"])
        if name == "FIXED_SIZE_LIST":
            return pa.list_(f, d.get("list_size", 0))
        return pa.list_(f) if name == "LIST" else pa.large_list(f)
    if name == "STRUCT":
        fields = []
        for f in children(value, 1, "Field"):
            fields.append((yield pa_field(pa, f)))
        return pa.struct(fields)
    if name == "MAP":
        d = value.to_dict()
        entries = yield pa_field(pa, d["field_type"])
        return pa.map_(entries.type.field(0), entries.type.field(1), d.get("keys_sorted", False))
    if name == "DICTIONARY":
        d = value.to_dict()
        k = yield _pa_type(pa, d.get("key"))
        v = yield _pa_type(pa, d.get("value"))
        return pa.dictionary(k, v)
    raise ValueError(f"no pyarrow type for {name}")


def _utc_offset(tz: str, seconds: int) -> int:
    if tz[:1] in "+-" and ":" in tz:
        h, m = tz[1:].split(":")[:2]
        return (1 if tz[0] == "+" else -1) * (int(h) * 3600 + int(m) * 60)
    if tz.upper() in ("UTC", "Z"):
        return 0
    import datetime  # noqa: PLC0415
    import zoneinfo  # noqa: PLC0415

    when = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return int(when.astimezone(zoneinfo.ZoneInfo(tz)).utcoffset().total_seconds())  # type: ignore[union-attr]


_PER_SEC = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}


def _timestamp(raw: int, unit: str, tz: str | None) -> str:
    per = _PER_SEC[unit]
    secs, frac = divmod(raw, per)
    nanos = frac * (1_000_000_000 // per)
    suffix = ""
    if tz:
        off = _utc_offset(tz, secs)
        secs += off
        sign = "+" if off >= 0 else "-"
        suffix = "Z" if off == 0 else f"{sign}{abs(off) // 3600:02d}:{abs(off) // 60 % 60:02d}"
    return f"{civil_date(secs // 86400)}T{clock(secs, nanos)}{suffix}"


def _duration(raw: int, unit: str) -> str:
    per = _PER_SEC[unit]
    sign = "-" if raw < 0 else ""
    secs, frac = divmod(abs(raw), per)
    if secs == 0 and frac == 0:
        return "P0D"
    nanos = frac * (1_000_000_000 // per)
    text = f"{sign}PT{secs}"
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "S"


def _mdn(v: Any) -> str:
    parts = []
    if v.months:
        parts.append(f"{v.months} mons")
    if v.days:
        parts.append(f"{v.days} days")
    ns = v.nanoseconds
    if ns:
        secs = int(ns / 1_000_000_000)
        mins, hours = int(secs / 60), int(secs / 3600)
        secs, mins = secs - int(secs / 60) * 60, mins - hours * 60
        nanos = ns - int(ns / 1_000_000_000) * 1_000_000_000
        if hours:
            parts.append(f"{hours} hours")
        if mins:
            parts.append(f"{mins} mins")
        if secs or nanos:
            parts.append(f"{'-' if secs < 0 or nanos < 0 else ''}{abs(secs)}.{abs(nanos):09d} secs")
    return " ".join(parts) or "0 secs"


def _arrow_fmt(pa: Any, sc: Any) -> Gen:
    """arrow-rs ArrayFormatter text of one pyarrow scalar (nulls print as nothing)."""
    if not sc.is_valid:
        return
    t = sc.type
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield "["
        for i, x in enumerate(sc.values):
            yield ", " if i else ""
            yield _arrow_fmt(pa, x)
        yield "]"
    elif pa.types.is_map(t):
        yield "{"
        for i, entry in enumerate(sc.values):
            yield ", " if i else ""
            yield _arrow_fmt(pa, entry[0])
            yield ": "
            yield _arrow_fmt(pa, entry[1])
        yield "}"
    elif pa.types.is_struct(t):
        yield "{"
        for i in range(t.num_fields):
            yield f"{', ' if i else ''}{t.field(i).name}: "
            yield _arrow_fmt(pa, sc[i])
        yield "}"
    elif pa.types.is_dictionary(t):
        yield _arrow_fmt(pa, sc.value)
    else:
        yield _arrow_leaf(pa, t, sc)


def _arrow_leaf(pa: Any, t: Any, sc: Any) -> str:
    if pa.types.is_floating(t):
        return ryu_float(sc.as_py(), t.bit_width == 32) if t.bit_width != 16 else str(sc.as_py())
    if pa.types.is_boolean(t):
        return "true" if sc.as_py() else "false"
    if (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or t == pa.binary_view()
    ):
        return sc.as_py().hex()
    if pa.types.is_date32(t):
        return civil_date(sc.value)
    if pa.types.is_date64(t):
        return _timestamp(sc.value, "ms", None)
    if pa.types.is_timestamp(t):
        return _timestamp(sc.value, t.unit, t.tz)
    if pa.types.is_time(t):
        per = _PER_SEC[t.unit]
        secs, frac = divmod(sc.value, per)
        return clock(secs, frac * (1_000_000_000 // per))
    if pa.types.is_duration(t):
        return _duration(sc.value, t.unit)
    if pa.types.is_decimal(t):
        return format_decimal(int(sc.as_py().scaleb(t.scale)), t.precision, t.scale)
    if t == pa.month_day_nano_interval():
        return _mdn(sc.as_py())
    return str(sc.as_py())


def _read_nested(pa: Any, value: Msg) -> Any:
    d = value.to_dict()
    schema_msg = d.get("schema")
    fields = [f for f in children(schema_msg, 1, "Field")] if schema_msg is not None else []
    if len(fields) != 1:
        raise ValueError("nested literal schema must have one field")
    field = evaluate(pa_field(pa, fields[0]))
    ipc, body = d.get("ipc_message", b""), d.get("arrow_data", b"")
    pad = (-len(ipc)) % 8
    framed = b"\xff\xff\xff\xff" + struct.pack("<i", len(ipc) + pad) + ipc + b"\0" * pad + body
    batch = pa.ipc.read_record_batch(pa.ipc.read_message(pa.py_buffer(framed)), pa.schema([field]))
    # the bytes are untrusted: an offset or length out of range aborts the process inside Arrow's C++
    # unless the batch is validated before any value is read
    batch.validate(full=True)
    return batch.column(0)[0]


def _struct_display(pa: Any, sc: Any) -> str:
    """ScalarValue Display of a struct: ``{a:1,inner:{b:x}}`` (a struct field recurses, a null struct shows
    every field as NULL, other fields print as the array formatter does)."""
    t = sc.type
    parts = []
    for i in range(t.num_fields):
        if not sc.is_valid:
            parts.append(f"{t.field(i).name}:NULL")
        elif pa.types.is_struct(t.field(i).type):
            parts.append(f"{t.field(i).name}:" + _struct_display(pa, sc[i]))
        else:
            parts.append(f"{t.field(i).name}:" + "".join(drive(_arrow_fmt(pa, sc[i]))))
    return "{" + ",".join(parts) + "}"


def nested_text(kind: str, value: Msg, display: bool = False) -> str:
    """Body of a List/LargeList/FixedSizeList/Struct/Map literal, read from its Arrow IPC bytes: ScalarValue
    Debug's (inside ``canonical_name()``), or with ``display`` its Display (a physical plan's literal)."""
    try:
        import pyarrow as pa  # noqa: PLC0415  (only a blob with a nested literal pays for pyarrow)

        sc = _read_nested(pa, value)
        if kind == "Struct" and display:
            return _struct_display(pa, sc)
        if kind == "Struct":
            t = sc.type
            parts = [
                f"{t.field(i).name}:" + "".join(drive(_arrow_fmt(pa, sc[i]))) for i in range(t.num_fields)
            ]
            return "{" + ",".join(parts) + "}"
        if kind == "Map":
            if not sc.is_valid:
                return "NULL" if display else "[NULL]"
            quote = (lambda x: x) if display else rust_debug_str
            pairs = [
                quote("".join(drive(_arrow_fmt(pa, e[0])))) + ":" + quote("".join(drive(_arrow_fmt(pa, e[1]))))
                for e in sc.values
            ]
            return "[{" + ",".join(pairs) + "}]"
        return "".join(drive(_arrow_fmt(pa, sc)))
    except Exception as e:  # noqa: BLE001  (a bad nested literal must not stop the rendering)
        shown = f"<undecodable {kind} literal @{value.offset}: {type(e).__name__}: {e}>"
        return placeholder(UNDECODABLE, "arrow-ipc", value.offset, shown)
