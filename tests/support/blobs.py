"""Blobs the tests build by hand: protobuf encoders, UDFs and the blobs built from them, pickle gadgets,
and the exception datafusion raises.

Imported as ``from support.blobs import …`` (tests/ is on sys.path: conftest.py's directory). Everything
here is importable by name, so cloudpickle ships these UDFs and classes by reference (as
``support.blobs.<name>``): a process that loads such a blob needs tests/ on its sys.path.
"""

from __future__ import annotations

import os
import pickle
import pickletools
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from datafusion import Accumulator, Expr, ScalarUDF, SessionContext, col, udf
from datafusion.user_defined import WindowEvaluator

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.wire import encode_len_field, encode_varint, iter_raw

# --- protobuf by hand ----------------------------------------------------------------------------------
varint = encode_varint  # the library's own encoder: tests build blobs with it
ld = encode_len_field


def patch_byte(blob: bytes, marker: bytes, delta: int, value: int) -> bytes:
    """``blob`` with the byte ``delta`` past the first ``marker`` set to ``value``."""
    b = bytearray(blob)
    b[blob.index(marker) + delta] = value
    return bytes(b)


# --- UDFs (module level: cloudpickle ships them by reference) -------------------------------------------
def double_it(a: pa.Array) -> pa.Array:
    return pc.multiply(a, 2)


class MySum(Accumulator):
    def __init__(self) -> None:
        self._s = 0

    def update(self, values: pa.Array) -> None:
        self._s += pc.sum(values).as_py() or 0

    def merge(self, states: list[pa.Array]) -> None:
        self._s += pc.sum(states[0]).as_py() or 0

    def state(self) -> list[pa.Scalar]:
        return [pa.scalar(self._s)]

    def evaluate(self) -> pa.Scalar:
        return pa.scalar(self._s)


class RowOnes(WindowEvaluator):
    def evaluate_all(self, values: list[pa.Array], num_rows: int) -> pa.Array:
        return pa.array([1] * num_rows)


def double_it_udf() -> ScalarUDF:
    """``double_it``: int64 -> int64, immutable."""
    return udf(double_it, [pa.int64()], pa.int64(), "immutable", name="double_it")


def no_inline_ctx() -> SessionContext:
    """A sender session that writes UDFs by name only (no fun_definition)."""
    return SessionContext().with_python_udf_inlining(enabled=False)


def pickle_by_name(expr: Expr) -> bytes:
    """``pickle.dumps(expr)`` with a sender context that does not inline UDFs."""
    from datafusion.ipc import clear_sender_ctx, set_sender_ctx

    set_sender_ctx(no_inline_ctx())
    try:
        return pickle.dumps(expr)
    finally:
        clear_sender_ctx()


def write_workers(directory: Path, extra: str = "") -> Path:
    """A ``workers.py`` whose ``make_ctx()`` registers ``dbl`` (x * 2), for ``--worker-ctx``."""
    path = directory / "workers.py"
    path.write_text(
        "import pyarrow as pa, pyarrow.compute as pc\n"
        "from datafusion import SessionContext, udf\n"
        "def make_ctx():\n"
        "    ctx = SessionContext()\n"
        "    ctx.register_udf(udf(lambda x: pc.multiply(x, 2), [pa.int64()], pa.int64(), 'immutable', name='dbl'))\n"
        "    return ctx\n" + extra
    )
    return path


# --- fun_definition in a LogicalExprNode blob ------------------------------------------------------------
#: LogicalExprNode arm -> (message, fun_definition field number, kind)  (fact sheet §2.1)
SITES = {20: ("ScalarUDFExprNode", 3, "scalar"), 19: ("AggregateUDFExprNode", 6, "aggregate"),
         18: ("WindowExprNode", 10, "window")}  # fmt: skip


def find_fun_definition(blob: bytes) -> tuple[int, int, str]:
    """(start, end, kind) of the fun_definition bytes of a top-level UDF call."""
    for number, _wire, a, b, _tag in iter_raw(blob, 0, len(blob)):
        if number in SITES:
            msg_type, fd_number, kind = SITES[number]
            node = Msg(msg_type, blob, a, b)
            for n, _w, x, y, _t in iter_raw(node.buf, node.start, node.end):
                if n == fd_number:
                    return x, y, kind
    raise AssertionError("no fun_definition in blob")


def scalar_udf_expr(name: str, fun_definition: bytes) -> bytes:
    """``name(a)`` as datafusion writes it by name, with fun_definition (field 3) set to ``fun_definition``:
    LogicalExprNode{scalar_udf_expr: {fun_name, args: [col a], fun_definition}}."""
    f = udf(double_it, [pa.int64()], pa.int64(), "immutable", name=name)
    byname = f(col("a")).to_bytes(no_inline_ctx())
    ((number, _wire, a, b, tag),) = iter_raw(byname, 0, len(byname))
    assert (number, tag, b) == (20, 0, len(byname))  # one scalar_udf_expr field, nothing else
    return ld(20, byname[a:b] + ld(3, fun_definition))


# --- pickle gadgets (built, never loaded) ------------------------------------------------------------------
class Evil:
    """Pickles as a call to os.system: the classic attacker gadget."""

    def __reduce__(self):
        return (os.system, ("echo owned",))


class NestedUnpickler:
    """Pickles as a call to pickle.loads: a second unpickler inside the first."""

    def __reduce__(self):
        return (pickle.loads, (b"\x80\x04K\x01.",))


def global_ops(data: bytes, dotted: str) -> list[int]:
    """Positions of GLOBAL/STACK_GLOBAL opcodes that load ``dotted`` (pickletools as the reference)."""
    strings: list[str] = []
    out = []
    for op, arg, pos in pickletools.genops(data):
        if op.name == "GLOBAL" and arg.replace(" ", ".") == dotted:
            out.append(pos)
        elif op.name == "STACK_GLOBAL" and ".".join(strings[-2:]) == dotted:
            out.append(pos)
        if isinstance(arg, str) and op.name != "GLOBAL":
            strings.append(arg)
    return out


# --- datafusion's own answers --------------------------------------------------------------------------------
def raised(fn: Callable[[], object]) -> BaseException:
    """The exception ``fn`` raises (datafusion's own, whatever its type); fails the test if none."""
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("datafusion did not fail")
