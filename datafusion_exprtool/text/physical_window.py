"""WindowAggExec / BoundedWindowAggExec lines as ``display_indent()`` writes them.

A window expression shows its name, its output field and its frame. The bytes carry no output field: it follows
from the function. A built-in window function's field is fixed (``row_number``, ``rank``, ``dense_rank``,
``ntile``: UInt64, ``percent_rank``, ``cume_dist``: Float64, none nullable) or its first argument's type, nullable
(``lag``, ``lead``, whose argument's type comes from the input plan's schema). A Python window UDF carries its
return type in its pickled payload (Arrow IPC, read statically) and datafusion-python makes its field nullable.
Anything else (an aggregate used as a window function, a type outside the simple ones) is not derived: the field
shows as ``?``.

A node with an ``input_order_mode`` is a BoundedWindowAggExec (Display of field and frame, then ``mode=[…]``);
without, a WindowAggExec (Debug of field and frame: ``Ok(Field { name: …, data_type: …, nullable: true })``).
"""

from __future__ import annotations

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers import arrow_ipc, dfpy
from datafusion_exprtool.layers.cloudpickle.stream import read_udf_stream
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.canonical import frame_gen, singles
from datafusion_exprtool.text.engine import Gen, arm, children, render_with
from datafusion_exprtool.text.physical_props import PASS_THROUGH
from datafusion_exprtool.text.rust_text import rust_debug_str
from datafusion_exprtool.text.scalar import scalar_gen, type_gen

#: built-in window functions whose output field is fixed: (data type, nullable)
FIXED_FIELDS = {"row_number": ("UInt64", False), "rank": ("UInt64", False), "dense_rank": ("UInt64", False),
                "ntile": ("UInt64", False), "percent_rank": ("Float64", False), "cume_dist": ("Float64", False)}  # fmt: skip
#: built-in window functions whose output is their first argument's type, nullable
SHIFTS = {"lag", "lead"}
#: pyarrow's type text -> Arrow's DataType Debug (= Display for these)
PYARROW_TYPES = {"int8": "Int8", "int16": "Int16", "int32": "Int32", "int64": "Int64", "uint8": "UInt8",
                 "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64", "halffloat": "Float16",
                 "float": "Float32", "double": "Float64", "bool": "Boolean", "string": "Utf8",
                 "large_string": "LargeUtf8", "string_view": "Utf8View", "binary": "Binary",
                 "large_binary": "LargeBinary", "null": "Null"}  # fmt: skip
#: Arrow type names that print the same in Debug and Display
SIMPLE = set(PYARROW_TYPES.values())
BOUND_TYPES = {0: "CurrentRow", 1: "Preceding", 2: "Following"}
UNITS = {0: "Rows", 1: "Range", 2: "Groups"}


def input_types(plan: Msg) -> list[str] | None:
    """Arrow type names of a plan's output columns where a memory scan under pass-through nodes, filters and
    windows decides them (a window appends its expressions' fields); "?" for a column it does not decide."""
    above: list[tuple[str, Msg]] = []
    node = plan
    while True:
        name, value, _n = arm(node)
        if not isinstance(value, Msg) or not value.known:
            return None
        d = singles(value)
        if name == "memory_scan":
            break
        if (name not in PASS_THROUGH and name not in ("filter", "window")) or "input" not in d:
            return None
        above.append((name, value))
        node = d["input"]
    schema = d.get("schema")
    if not isinstance(schema, Msg):
        return None
    types = [render_with(type_gen, singles(f).get("arrow_type")) for f in children(schema, 1, "Field")]
    for name, node_value in [("memory_scan", value), *reversed(above)]:
        if name == "window":
            fields = [window_field(e, types) for e in children(node_value, 2, "PhysicalWindowExprNode")]
            types = types + [f[0] if f is not None else "?" for f in fields]
        indices = [f.value for f in node_value.fields() if f.name == "projection"] if name != "window" else []
        if indices:
            types = [types[i] if i < len(types) else "?" for i in indices]
    return types


def _udwf_return_type(payload: bytes, origin: int) -> str | None:
    """A Python window UDF's return type, read from its pickled payload without running it."""
    try:
        fd = dfpy.parse_fun_definition(payload, origin, "window")
        if fd.family is None or fd.stream_offset is None:
            return None
        stream = read_udf_stream(fd.stream, fd.stream_offset, fd.family,
                                 python_minor=fd.python[1] if fd.python else None)  # fmt: skip
        if stream.return_schema is None:
            return None
        fields = arrow_ipc.read_schema(stream.return_schema, stream.return_schema_offset or 0)
    except DecodeError:
        return None
    return PYARROW_TYPES.get(fields[0].type) if fields else None


def window_field(expr: Msg, types: list[str] | None) -> tuple[str, bool] | None:
    """(data type, nullable) of a window expression's output field, or None where the bytes do not decide it."""
    d = singles(expr)
    fun = d.get("user_defined_window_function")
    if fun is None:
        return None
    payload = next((f for f in expr.fields() if f.name == "fun_definition"), None)
    if payload is not None:
        ret = _udwf_return_type(payload.value, payload.offset)
        return None if ret is None else (ret, True)
    if fun in FIXED_FIELDS:
        return FIXED_FIELDS[fun]
    if fun in SHIFTS and types is not None:
        first = next(children(expr, 4, "PhysicalExprNode"), None)
        col = singles(first).get("column") if first is not None else None
        index = singles(col).get("index", 0) if isinstance(col, Msg) else None
        if index is not None and index < len(types) and types[index] in SIMPLE:
            return types[index], True
    return None


def _bound(b: object) -> tuple[str, object] | None:
    """(kind, value) of a WindowFrameBound: the value an int, or None for unbounded."""
    if not isinstance(b, Msg):
        return None
    d = singles(b)
    kind = BOUND_TYPES.get(d.get("window_frame_bound_type", 0))
    value = d.get("bound_value")
    return (kind, value) if kind else None


def _frame_debug(wf: Msg) -> str | None:
    """``WindowFrame { units: …, start_bound: …, end_bound: …, is_causal: … }`` (Rust Debug)."""
    d = singles(wf)
    units = UNITS.get(d.get("window_frame_units", 0))
    start, end = _bound(d.get("start_bound")), _bound(d.get("bound")) or ("CurrentRow", None)
    if units is None or start is None:
        return None
    texts, values = [], []
    for kind, value in (start, end):
        if kind == "CurrentRow":
            texts.append(kind)
            values.append(None)
            continue
        if not isinstance(value, Msg):
            return None
        texts.append(f"{kind}({render_with(scalar_gen, value)})")
        values.append(render_with(lambda m: scalar_gen(m, display=True), value))
    causal = _causal(units, end[0], values[1])
    if causal is None:
        return None
    return (f"WindowFrame {{ units: {units}, start_bound: {texts[0]}, end_bound: {texts[1]}, "
            f"is_causal: {'true' if causal else 'false'} }}")  # fmt: skip


def _causal(units: str, end_kind: str, end_value: str | None) -> bool | None:
    """datafusion's ``WindowFrame::new_bounds`` causality, for a null or integer end bound."""
    if units == "Rows":
        if end_kind != "Following":
            return True
        if end_value == "NULL":
            return False
    elif end_kind != "Preceding":
        return False
    elif end_value == "NULL":
        return True
    if end_value is None or not end_value.lstrip("-").isdigit():
        return None
    return int(end_value) == 0 if units == "Rows" else int(end_value) > 0


def _mode(d: dict) -> str | None:
    if "sorted" in d:
        return "Sorted"
    if "linear" in d:
        return "Linear"
    p = d.get("partially_sorted")
    if isinstance(p, Msg):
        return f"PartiallySorted([{', '.join(str(f.value) for f in p.fields() if f.name == 'columns')}])"
    return None


def window_line(m: Msg) -> Gen:
    d = singles(m)
    mode = _mode(d)
    types = input_types(d["input"]) if "input" in d else None
    items = []
    for expr in children(m, 2, "PhysicalWindowExprNode"):
        e = singles(expr)
        name = e.get("name", "")
        field = window_field(expr, types)
        wf = e.get("window_frame")
        if mode is not None:
            shown = "?" if field is None else (
                f"Field {{ {rust_debug_str(name)}: {'nullable ' if field[1] else ''}{field[0]} }}")
            frame = render_with(frame_gen, wf).lstrip() if isinstance(wf, Msg) else "?"
        else:
            shown = "?" if field is None else (
                f"Ok(Field {{ name: {rust_debug_str(name)}, data_type: {field[0]}"
                + (", nullable: true" if field[1] else "") + " })")
            frame = (_frame_debug(wf) if isinstance(wf, Msg) else None) or "?"
        items.append(f"{name}: {shown}, frame: {frame}")
    label = "WindowAggExec" if mode is None else "BoundedWindowAggExec"
    yield f"{label}: wdw=[{', '.join(items)}]" + ("" if mode is None else f", mode=[{mode}]")
