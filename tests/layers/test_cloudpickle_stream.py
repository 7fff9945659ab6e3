"""layers/cloudpickle/stream: static reading of real datafusion UDF payloads (cloudpickle), compared with the
Python objects that made them."""

from __future__ import annotations

import dis
import importlib
import os
import pickle
import sys
import textwrap

import cloudpickle
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from datafusion import Accumulator, col, udaf, udf, udwf
from datafusion.user_defined import WindowEvaluator
from support.blobs import Evil, NestedUnpickler, find_fun_definition, global_ops

from datafusion_exprtool.layers.cloudpickle.stream import imports, read_udf_stream, scan_imports
from datafusion_exprtool.layers.pickle.safety import classify

CAPTURED = {"secret": "captured-by-value"}


def fun_definition(expr) -> tuple[bytes, int, str, int]:
    """(cloudpickle stream, its absolute offset, family, python minor) of the expression's UDF."""
    blob = expr.to_bytes()
    start, end, _kind = find_fun_definition(blob)
    fd = blob[start:end]
    return fd[10:], start + 10, fd[:7].decode(), fd[9]


def read(expr):
    stream, origin, family, minor = fun_definition(expr)
    return read_udf_stream(stream, origin, family, minor), expr.to_bytes()


def make_closure():
    captured = CAPTURED

    def add_len(x):
        return pc.add(x, len(captured))

    return add_len


def with_import(x):
    import json

    return pc.add(x, len(json.dumps(1)))


def test_lambda_by_value():
    fn = lambda x: pc.multiply(x, 2)  # noqa: E731
    u, blob = read(udf(fn, [pa.int64()], pa.int64(), "stable", name="times_two")(col("a")))
    info = u.callable
    assert (u.name, u.volatility, u.findings) == ("times_two", "stable", [])
    assert (info.by_value, info.kind, info.qualname) == (True, "function", fn.__qualname__)
    assert info.filename == __file__
    assert info.firstlineno == fn.__code__.co_firstlineno
    assert info.co_names == list(fn.__code__.co_names)
    assert info.subimports == ["pyarrow.compute"]
    assert imports(info) == ["pyarrow"]
    for key, typ in (("input_schema", pa.int64()), ("return_schema", pa.int64())):
        data, offset = getattr(u, key), getattr(u, key + "_offset")
        assert blob[offset : offset + len(data)] == data
        assert pa.ipc.read_schema(pa.py_buffer(data)).types == [typ]


def test_closure_values_are_summarized():
    fn = make_closure()
    u, blob = read(udf(fn, [pa.int64()], pa.int64(), "immutable", name="add_len")(col("a")))
    info = u.callable
    assert info.qualname == fn.__qualname__ == "make_closure.<locals>.add_len"
    assert info.co_names == list(fn.__code__.co_names)
    assert [c.name for c in info.closure] == list(fn.__code__.co_freevars)
    cell = info.closure[0]
    assert (cell.type, cell.size) == ("dict", len(CAPTURED))
    assert "captured-by-value" in cell.preview
    assert b"captured-by-value" in blob
    assert [(g.name, g.type) for g in info.globals] == [("pc", "module:pyarrow.compute")]


def test_import_inside_the_body_is_found_in_bytecode():
    nested = lambda x: with_import(x)  # noqa: E731  (by value; with_import itself travels by reference)
    u, _ = read(udf(nested, [pa.int64()], pa.int64(), "immutable", name="n")(col("a")))
    assert u.callable.references == [f"{__name__}.with_import"]
    body = _by_value(with_import)
    u, _ = read(udf(body, [pa.int64()], pa.int64(), "immutable", name="w")(col("a")))
    assert u.callable.code_imports == ["json"]
    assert "json" in u.callable.co_names
    assert imports(u.callable) == ["json", "pyarrow"]
    stream, origin, family, _minor = fun_definition(
        udf(body, [pa.int64()], pa.int64(), "immutable", name="w")(col("a"))
    )
    other = read_udf_stream(stream, origin, family, python_minor=sys.version_info.minor + 1)
    assert other.callable.code_imports == []  # bytecode of another minor is not scanned


def _by_value(fn):
    """A copy of a module-level function that cloudpickle must ship by value (no importable name)."""
    import types

    return types.FunctionType(fn.__code__, fn.__globals__, "local_copy")


def test_function_from_an_importable_module_travels_by_reference(tmp_path, monkeypatch):
    (tmp_path / "exprtool_helper_mod.py").write_text(
        textwrap.dedent(
            """
            import pyarrow.compute as pc

            def triple(x):
                return pc.multiply(x, 3)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    helper = importlib.import_module("exprtool_helper_mod")
    try:
        u, _ = read(udf(helper.triple, [pa.int64()], pa.int64(), "immutable", name="triple")(col("a")))
    finally:
        sys.modules.pop("exprtool_helper_mod", None)
    info = u.callable
    assert (info.by_value, info.kind, info.module, info.qualname) == (
        False,
        "reference",
        "exprtool_helper_mod",
        "triple",
    )
    assert info.references == ["exprtool_helper_mod.triple"]
    assert imports(info) == ["exprtool_helper_mod"]


def make_accumulator():
    class MySum(Accumulator):
        def __init__(self):
            self._sum = 0

        def update(self, values):
            self._sum += pc.sum(values).as_py() or 0

        def merge(self, states):
            self._sum += pc.sum(states).as_py() or 0

        def state(self):
            return [pa.scalar(self._sum)]

        def evaluate(self):
            return pa.scalar(self._sum)

    return MySum


def make_evaluator():
    class Ones(WindowEvaluator):
        def evaluate_all(self, values, num_rows):
            return pa.array([1] * num_rows)

    return Ones


def test_aggregate_class_by_value():
    cls = make_accumulator()
    u, blob = read(udaf(cls, [pa.int64()], pa.int64(), [pa.int64()], "immutable", name="my_sum")(col("a")))
    info = u.callable
    assert (u.name, u.volatility, u.findings) == ("my_sum", "immutable", [])
    assert (info.by_value, info.kind, info.qualname, info.module) == (
        True,
        "class",
        cls.__qualname__,
        __name__,
    )
    assert sorted(info.methods) == sorted(k for k, v in vars(cls).items() if callable(v))
    assert info.filename == __file__
    assert "datafusion.user_defined.Accumulator" in info.references
    assert {"_sum", "pc", "sum", "as_py"} <= set(info.co_names)
    assert pa.ipc.read_schema(pa.py_buffer(u.state_schema)).types == [pa.int64()]
    assert blob[u.state_schema_offset : u.state_schema_offset + len(u.state_schema)] == u.state_schema
    assert imports(info) == ["abc", "datafusion", "pyarrow"]


def test_window_class_by_value():
    cls = make_evaluator()
    u, _ = read(udwf(cls, [pa.int64()], pa.int64(), "volatile", name="ones")(col("a")))
    info = u.callable
    assert (u.name, u.volatility, u.state_schema) == ("ones", "volatile", None)
    assert (info.kind, info.qualname, info.methods) == ("class", cls.__qualname__, ["evaluate_all"])
    assert "datafusion.user_defined.WindowEvaluator" in info.references


def test_wrong_tuple_shape_is_a_finding():
    stream = pickle.dumps(("only", "two"), protocol=5)
    u = read_udf_stream(stream, 100, "DFPYUDA")
    assert [f.id for f in u.findings] == ["udf-tuple-shape"]
    assert u.findings[0].layer == "cloudpickle" and u.findings[0].offset == 100
    assert u.name == "only"


def test_unknown_volatility_is_a_finding():
    stream = pickle.dumps(("f", None, b"", b"", "sometimes"), protocol=5)
    u = read_udf_stream(stream, 0, "DFPYUDF")
    assert [f.id for f in u.findings] == ["udf-volatility-unknown"]


def test_scan_imports_agrees_with_dis():
    names = [f"n{i}" for i in range(300)]
    src = (
        "def f():\n"
        + "".join(f"    {n} = g{n}\n" for n in names)
        + "    import json, os.path\n    import xml\n"
    )
    scope: dict = {}
    exec(compile(src, "<generated>", "exec"), scope)
    code = scope["f"].__code__
    expected = [i.argval for i in dis.get_instructions(code) if i.opname == "IMPORT_NAME"]
    assert len(code.co_names) > 256  # the IMPORT_NAME arguments need EXTENDED_ARG
    assert scan_imports(code.co_code, code.co_names) == expected == ["json", "os.path", "xml"]


# ----------------------------------------------------------------------------------------------------- safety
def _benign_exprs():
    fn = make_closure()
    yield udf(fn, [pa.int64()], pa.int64(), "immutable", name="c")(col("a"))
    yield udf(lambda x: pc.add(x, 1), [pa.int64()], pa.int64(), "immutable", name="l")(col("a"))
    yield udf(_by_value(with_import), [pa.int64()], pa.int64(), "immutable", name="w")(col("a"))
    yield udaf(make_accumulator(), [pa.int64()], pa.int64(), [pa.int64()], "immutable", name="s")(col("a"))
    yield udwf(make_evaluator(), [pa.int64()], pa.int64(), "immutable", name="o")(col("a"))
    arr, when = pa.array([1, 2]), pa.scalar(3)
    yield udf(lambda x: pc.add(pc.add(x, when), arr[0]), [pa.int64()], pa.int64(), "immutable", name="p")(
        col("a")
    )


@pytest.mark.parametrize("expr", list(_benign_exprs()), ids=lambda e: e.canonical_name())
def test_ordinary_payloads_are_not_suspicious(expr):
    u, _ = read(expr)
    assert classify(u.result, "cloudpickle", "cloudpickle") == []
    assert classify_outer(expr) == []


def classify_outer(expr):
    from datafusion_exprtool.layers.pickle.vm import run

    return classify(run(pickle.dumps(expr)), "expr", "pickle")


@pytest.mark.parametrize("payload, fid, dotted", [(Evil(), "suspicious-global", f"{os.system.__module__}.system"),
                                                  (NestedUnpickler(), "nested-unpickler", "_pickle.loads")])  # fmt: skip
def test_attack_inside_a_udf_stream(payload, fid, dotted):
    fn = lambda x: pc.add(x, len(str(payload)))  # noqa: E731
    stream, origin, family, minor = fun_definition(
        udf(fn, [pa.int64()], pa.int64(), "immutable", name="x")(col("a"))
    )
    findings = classify(read_udf_stream(stream, origin, family, minor).result, "cloudpickle", "cloudpickle")
    expected = {origin + p for p in global_ops(stream, dotted)}
    assert expected and expected <= {f.offset for f in findings if f.id == fid}
    assert all(f.verdict == "suspicious" for f in findings)


def test_cloudpickle_internals_cover_what_cloudpickle_writes():
    """Every cloudpickle global our benign payloads use is in the allowlist (guards against a cloudpickle bump)."""
    from datafusion_exprtool.layers.pickle.grammar import CLOUDPICKLE_INTERNALS

    for expr in _benign_exprs():
        u, _ = read(expr)
        used = {g.name for g in u.result.globals if g.module == "cloudpickle.cloudpickle"}
        assert used <= CLOUDPICKLE_INTERNALS
        assert all(hasattr(cloudpickle.cloudpickle, name) for name in used)


def test_truncated_stream_is_a_cloudpickle_decode_error():
    from datafusion_exprtool.errors import DecodeError

    stream, origin, family, minor = fun_definition(
        udf(make_closure(), [pa.int64()], pa.int64(), "stable")(col("a"))
    )
    with pytest.raises(DecodeError) as info:
        read_udf_stream(stream[:-40], origin, family, minor)
    assert info.value.layer == "cloudpickle"
    assert origin <= info.value.offset <= origin + len(stream)
    assert "truncated at opcode" in info.value.message
