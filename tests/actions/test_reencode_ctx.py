"""`exprtool reencode --worker-ctx`: by-name blobs made inline with the worker's real UDFs, checked against
datafusion 55 (its own decoding, evaluation and inline encoding)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pyarrow as pa
import pytest
from datafusion import SessionContext, col, lit, udaf, udf, udwf
from datafusion.expr import Expr
from support.blobs import MySum, RowOnes, double_it, pickle_by_name, raised, write_workers
from support.cli import run_cli
from support.repo import FIXTURES

from datafusion_exprtool.actions.reencode import reencode
from datafusion_exprtool.inspection.pipeline import inspect_loaded
from datafusion_exprtool.layers.container import load_bytes
from datafusion_exprtool.sandbox.context import WorkerSpec, build_context

DATA = {"a": [1, 2, None, 4, 7]}
#: the sender's UDFs; each computes what the worker ctx's registration of the same name computes
DBL = udf(double_it, [pa.int64()], pa.int64(), "immutable", name="dbl")
QUINT = udf(double_it, [pa.int64()], pa.int64(), "immutable", name="quint")  # never in a worker ctx
KINDS = {
    "scalar": (lambda: DBL(col("a")) + lit(1), "ctx.register_udf(udf(double_it, [t], t, 'immutable', name='dbl'))"),
    "aggregate": (
        lambda: udaf(MySum, [pa.int64()], pa.int64(), [pa.int64()], "immutable", name="my_sum")(col("a")),
        "ctx.register_udaf(udaf(MySum, [t], t, [t], 'immutable', name='my_sum'))",
    ),
    "window": (
        lambda: udwf(RowOnes, [pa.int64()], pa.int64(), "immutable", name="row_ones")(col("a")),
        "ctx.register_udwf(udwf(RowOnes, [t], t, 'immutable', name='row_ones'))",
    ),
}  # fmt: skip


def factory(directory: Path, body: str, name: str = "kinds.py") -> Path:
    """A worker-ctx file whose ``make_ctx()`` runs ``body`` (support.blobs' UDFs are importable: tests/ is on sys.path)."""
    path = directory / name
    path.write_text(
        "import pyarrow as pa\n"
        "from datafusion import SessionContext, udaf, udf, udwf\n"
        "from support.blobs import MySum, RowOnes, double_it\n"
        "def make_ctx():\n"
        "    ctx, t = SessionContext(), pa.int64()\n"
        f"    {body}\n"
        "    return ctx\n"
    )
    return path


def evaluate(expr: Expr, kind: str = "scalar") -> list:
    """datafusion's values for ``expr`` over DATA (one aggregate row, or one value per row)."""
    df = SessionContext().from_pydict(DATA)
    df = df.aggregate([], [expr.alias("r")]) if kind == "aggregate" else df.select(expr.alias("r"))
    return df.to_pydict()["r"]


def payload(data: bytes) -> bytes:
    """The protobuf an output carries (exprtool's static reading: the pickle is never loaded)."""
    return inspect_loaded(load_bytes(data)).payloads[0].root.raw()


def transports(data: bytes) -> dict[str, str]:
    return {f.name: f.transport for f in inspect_loaded(load_bytes(data)).functions}


@pytest.mark.parametrize("out_name", ["o.pkl", "o.bin"])
def test_by_name_becomes_inline(out_name: str, tmp_path: Path) -> None:
    expr = DBL(col("a")) + lit(1)
    src = tmp_path / "in.pkl"
    src.write_bytes(pickle_by_name(expr))
    assert transports(src.read_bytes()) == {"dbl": "by_name"}
    # datafusion itself cannot decode the input without the UDF registered
    assert "not provided for scalar function dbl" in str(
        raised(lambda: Expr.from_bytes(payload(src.read_bytes())))
    )
    spec = f"{write_workers(tmp_path)}:make_ctx"
    res = run_cli("reencode", str(src), "-o", str(tmp_path / out_name), "--worker-ctx", spec, "--verify")
    assert res.exit_code == 0, res.output
    assert "(verified)" in res.stderr and "verified with the worker ctx" in res.stderr
    out = (tmp_path / out_name).read_bytes()
    assert transports(out) == {"dbl": "inline"}
    assert load_bytes(out).info.container == ("pickle" if out_name == "o.pkl" else "protobuf")
    decoded = Expr.from_bytes(payload(out), SessionContext())  # a plain receiver: nothing registered
    assert decoded.canonical_name() == expr.canonical_name()
    assert evaluate(decoded) == evaluate(expr) == [3, 5, None, 9, 15]
    # byte for byte what datafusion writes for the expression built from the worker ctx's own UDF
    ctx = build_context(WorkerSpec(factory=spec))
    assert payload(out) == (ctx.udf("dbl")(col("a")) + lit(1)).to_bytes()
    if out_name == "o.pkl":
        assert out[:2] == src.read_bytes()[:2]  # the sender's pickle protocol is kept
        assert pickle.loads(out).canonical_name() == expr.canonical_name()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_inline_with_ctx_and_by_name_without(kind: str, tmp_path: Path) -> None:
    make, register = KINDS[kind]
    expr = make()
    src = tmp_path / "in.bin"
    src.write_bytes(expr.to_bytes(SessionContext().with_python_udf_inlining(enabled=False)))
    name = next(iter(transports(src.read_bytes())))
    with_it = factory(tmp_path, register, "with.py")
    res = run_cli(
        "reencode",
        str(src),
        "-o",
        str(tmp_path / "in.pkl"),
        "--worker-ctx",
        f"{with_it}:make_ctx",
        "--verify",
    )
    assert res.exit_code == 0, res.output
    out = (tmp_path / "in.pkl").read_bytes()
    assert transports(out) == {name: "inline"}
    assert evaluate(Expr.from_bytes(payload(out), SessionContext()), kind) == evaluate(expr, kind)
    # a ctx that lacks it: a note naming it, and the output is exactly datafusion's by-name encoding
    without = factory(tmp_path, "pass", "without.py")
    res = run_cli(
        "reencode",
        str(src),
        "-o",
        str(tmp_path / "by.pkl"),
        "--worker-ctx",
        f"{without}:make_ctx",
        "--verify",
    )
    assert res.exit_code == 0, res.output
    assert f"by-name function(s) {name} not registered in the worker ctx: they stay by name" in res.stderr
    assert f"verified with never-called stubs for by-name {name}" in res.stderr
    out = (tmp_path / "by.pkl").read_bytes()
    assert payload(out) == src.read_bytes()
    assert out == pickle_by_name(expr)  # the pickle too: as datafusion pickles it with inlining off


def test_missing_registration_stays_by_name(tmp_path: Path) -> None:
    expr = DBL(col("a")) + QUINT(col("a"))
    src = tmp_path / "in.pkl"
    src.write_bytes(pickle_by_name(expr))
    spec = f"{write_workers(tmp_path)}:make_ctx"
    res = run_cli("reencode", str(src), "-o", str(tmp_path / "o.bin"), "--worker-ctx", spec, "--verify")
    assert res.exit_code == 0, res.output
    notes = [line for line in res.stderr.splitlines() if "not registered" in line]
    assert notes == [
        "exprtool: note: by-name function(s) quint not registered in the worker ctx: they stay by name (a receiver "
        "must register them; decoded here with never-called stubs, which do not travel)"
    ]
    out = (tmp_path / "o.bin").read_bytes()
    assert transports(out) == {"dbl": "inline", "quint": "by_name"}
    assert b"_stub_scalar" not in out  # nothing of the stub travels (inline, it names reencode._stub_scalar)
    # datafusion agrees: a plain receiver lacks quint only, and with quint registered it evaluates the original
    assert "not provided for scalar function quint" in str(
        raised(lambda: Expr.from_bytes(out, SessionContext()))
    )
    receiver = SessionContext()
    receiver.register_udf(QUINT)
    decoded = Expr.from_bytes(out, receiver)
    assert decoded.canonical_name() == expr.canonical_name()
    assert evaluate(decoded) == evaluate(expr)
    # asking for by-name output instead: both by name, quint stubbed (the older wording), same bytes as the input
    res = run_cli("reencode", str(src), "-o", str(tmp_path / "b.bin"), "--worker-ctx", spec, "--by-name")
    assert res.exit_code == 0, res.output
    assert "quint (not registered in the worker ctx) resolved with stubs" in res.stderr
    assert (tmp_path / "b.bin").read_bytes() == payload(src.read_bytes())


def test_library_leaves_the_callers_ctx_as_it_was(tmp_path: Path) -> None:
    ctx = SessionContext()
    ctx.register_udf(DBL)
    before = (set(ctx.udfs()), set(ctx.udafs()), set(ctx.udwfs()))
    blob = pickle_by_name(DBL(col("a")) + QUINT(col("a")))
    res = reencode(load_bytes(blob), container="bytes", ctx=ctx, verify=True)
    assert res.verified is True
    assert (set(ctx.udfs()), set(ctx.udafs()), set(ctx.udwfs())) == before  # the quint stub is gone again
    assert transports(res.data) == {"dbl": "inline", "quint": "by_name"}


BAD_SPECS = {
    "missing file": ("nope.py:make_ctx", "no such file"),
    "no such function": ("{workers}:nothere", "has no callable 'nothere'"),
    "not a spec": ("garbage", "is not module:function or file.py:function"),
    "no such module": ("no_such_module_xyz:make_ctx", "cannot import module 'no_such_module_xyz'"),
    "factory raises": ("{workers}:boom", "raised ValueError: no ctx today"),
    "not a ctx": ("{workers}:answer", "returned int, not a SessionContext"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_exits_2(case: str, tmp_path: Path) -> None:
    workers = write_workers(
        tmp_path, "def boom():\n    raise ValueError('no ctx today')\ndef answer():\n    return 42\n"
    )
    spec, expected = BAD_SPECS[case]
    src = tmp_path / "in.pkl"
    src.write_bytes(pickle_by_name(DBL(col("a"))))
    res = run_cli(
        "reencode", str(src), "-o", str(tmp_path / "o.pkl"), "--worker-ctx", spec.format(workers=workers)
    )
    assert res.exit_code == 2
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("exprtool: --worker-ctx: ") and expected in lines[0], (
        res.stderr
    )
    assert not (tmp_path / "o.pkl").exists()


def test_trust_rule_and_no_overwrite_hold_with_a_ctx(tmp_path: Path) -> None:
    spec = f"{write_workers(tmp_path)}:make_ctx"
    src = tmp_path / "in.pkl"
    src.write_bytes(pickle.dumps((_Evil(tmp_path / "pwned"), DBL(col("a"))), protocol=4))
    res = run_cli("reencode", str(src), "-o", str(tmp_path / "o.bin"), "--worker-ctx", spec)
    assert res.exit_code == 1 and "--trust" in res.stderr
    assert not (tmp_path / "o.bin").exists() and not (tmp_path / "pwned").exists()
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle_by_name(DBL(col("a"))))
    (tmp_path / "o.bin").write_bytes(b"keep me")
    res = run_cli("reencode", str(good), "-o", str(tmp_path / "o.bin"), "--worker-ctx", spec)
    assert res.exit_code == 2 and "--force" in res.stderr
    assert (tmp_path / "o.bin").read_bytes() == b"keep me"


class _Evil:
    """Pickles as os.system(...): written, never loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_ffi_udf_stays_by_name_with_a_note(tmp_path: Path) -> None:
    import datafusion_extra_functions as extra  # an FFI UDAF (fact sheet §2.6); a test dependency
    skew = udaf(extra.udaf_by_name("skewness"))
    workers = factory(
        tmp_path,
        "import datafusion_extra_functions as x\n"
        "    ctx.register_udaf(udaf(x.udaf_by_name('skewness')))\n"
        "    ctx.register_udf(udf(double_it, [t], t, 'immutable', name='dbl'))",
    )
    expr = skew(DBL(col("a")))
    src = tmp_path / "in.pkl"
    src.write_bytes(pickle_by_name(expr))
    res = run_cli(
        "reencode", str(src), "-o", str(tmp_path / "o.pkl"), "--worker-ctx", f"{workers}:make_ctx", "--verify"
    )
    assert res.exit_code == 0, res.output
    assert "skewness: registered in the worker ctx but not as a Python UDF (an FFI UDF?)" in res.stderr
    out = (tmp_path / "o.pkl").read_bytes()
    assert transports(out) == {"skewness": "by_name", "dbl": "inline"}
    receiver = SessionContext()
    receiver.register_udaf(skew)
    assert evaluate(Expr.from_bytes(payload(out), receiver), "aggregate") == evaluate(expr, "aggregate")


@pytest.mark.parametrize("message", ["logical", "physical"])
def test_plans(message: str, tmp_path: Path) -> None:
    import pyarrow.parquet as pq
    from datafusion.plan import ExecutionPlan, LogicalPlan

    pq.write_table(pa.table(DATA), tmp_path / "d.parquet")
    sender = SessionContext()
    sender.register_parquet("t", str(tmp_path / "d.parquet"))
    df = sender.table("t").select((DBL(col("a")) + lit(1)).alias("r"))
    plan = df.logical_plan() if message == "logical" else df.execution_plan()
    src = tmp_path / "in.bin"
    src.write_bytes(plan.to_bytes(SessionContext().with_python_udf_inlining(enabled=False)))
    spec = f"{write_workers(tmp_path)}:make_ctx"
    res = run_cli(
        "reencode", str(src), "-m", message, "-o", str(tmp_path / "o.bin"), "--worker-ctx", spec, "--verify"
    )
    assert res.exit_code == 0, res.output
    out = (tmp_path / "o.bin").read_bytes()
    assert {f.name: f.transport for f in inspect_loaded(load_bytes(out), message=message).functions} == {
        "dbl": "inline"
    }
    receiver = SessionContext()  # nothing registered
    if message == "logical":
        rows = receiver.create_dataframe_from_logical_plan(LogicalPlan.from_bytes(receiver, out)).to_pydict()
    else:
        batches = receiver.execute(ExecutionPlan.from_bytes(receiver, out), 0)
        rows = pa.Table.from_batches([b.to_pyarrow() for b in batches]).to_pydict()
    assert rows == df.to_pydict() == {"r": [3, 5, None, 9, 15]}
    empty = factory(tmp_path, "pass")
    res = run_cli(
        "reencode",
        str(src),
        "-m",
        message,
        "-o",
        str(tmp_path / "b.bin"),
        "--worker-ctx",
        f"{empty}:make_ctx",
    )
    assert res.exit_code == 0 and "dbl not registered in the worker ctx: they stay by name" in res.stderr
    assert (tmp_path / "b.bin").read_bytes() == src.read_bytes()


def test_a_worker_files_own_functions_travel_by_value(tmp_path: Path) -> None:
    """The loader imports file.py under a made-up module name: naming it would fail on every receiver."""
    import json
    import subprocess
    import sys

    import cloudpickle

    workers = tmp_path / "toplevel.py"
    workers.write_text(
        "import pyarrow as pa, pyarrow.compute as pc\n"
        "from datafusion import SessionContext, udf\n"
        "def times_two(x):\n"
        "    return pc.multiply(x, 2)\n"
        "def make_ctx():\n"
        "    ctx = SessionContext()\n"
        "    ctx.register_udf(udf(times_two, [pa.int64()], pa.int64(), 'immutable', name='dbl'))\n"
        "    return ctx\n"
    )
    expr = DBL(col("a")) + lit(1)
    src = tmp_path / "in.pkl"
    src.write_bytes(pickle_by_name(expr))
    registry = cloudpickle.list_registry_pickle_by_value()
    res = run_cli(
        "reencode", str(src), "-o", str(tmp_path / "o.pkl"), "--worker-ctx", f"{workers}:make_ctx", "--verify"
    )
    assert res.exit_code == 0, res.output
    assert cloudpickle.list_registry_pickle_by_value() == registry  # cloudpickle's registry is restored
    (fn,) = inspect_loaded(load_bytes((tmp_path / "o.pkl").read_bytes())).functions
    assert (fn.transport, fn.callable.by_value, fn.callable.qualname) == ("inline", True, "times_two")
    # a fresh interpreter elsewhere (no such module, no worker file on its path) unpickles and runs it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import json, pickle, sys\n"
        "from datafusion import SessionContext\n"
        "e = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        f"print(json.dumps(SessionContext().from_pydict({DATA!r}).select(e.alias('r')).to_pydict()['r']))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "o.pkl")], cwd=elsewhere, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == evaluate(expr) == [3, 5, None, 9, 15]


def test_a_crashing_worker_ctx_is_a_usage_error(tmp_path: Path) -> None:
    """QA: reencode built the ctx in-process only: a segfaulting factory killed it without a word. A trial build
    in a spawned process runs first."""
    (tmp_path / "bad.py").write_text("import ctypes\ndef segv():\n    ctypes.string_at(0)\n")
    blob = str(FIXTURES / "blobs" / "column.expr.bin")
    res = run_cli("reencode", blob, "-o", str(tmp_path / "o.bin"), "--worker-ctx", f"{tmp_path / 'bad.py'}:segv")
    assert res.exit_code == 2 and "SIGSEGV" in res.stderr and not (tmp_path / "o.bin").exists(), res.output
