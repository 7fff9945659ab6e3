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
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, encode_len_field, encode_varint, iter_raw

# --- protobuf by hand ----------------------------------------------------------------------------------
varint = encode_varint  # the library's own encoder: tests build blobs with it
ld = encode_len_field


def patch_byte(blob: bytes, marker: bytes, delta: int, value: int) -> bytes:
    """``blob`` with the byte ``delta`` past the first ``marker`` set to ``value``."""
    b = bytearray(blob)
    b[blob.index(marker) + delta] = value
    return bytes(b)


def absn(n: int, inner: bytes) -> bytes:
    """n nested abs() around a LogicalExprNode."""
    for _ in range(n):
        inner = ld(20, ld(1, b"abs") + ld(2, inner))
    return inner


def case_wrap(inner: bytes) -> bytes:
    """CASE WHEN true THEN <inner> END: three message levels instead of two."""
    return ld(10, ld(2, ld(1, ld(3, b"\x08\x01")) + ld(2, inner)))


def column(name: bytes, relation: bytes | None = None, extra: bytes = b"", rel_extra: bytes = b"") -> bytes:
    """LogicalExprNode{column: Column{name, relation?}} with ``extra`` bytes appended to the Column body."""
    body = ld(1, name) + extra
    if relation is not None:
        body += ld(2, ld(1, relation) + rel_extra)
    return ld(1, body)


def in_list_blob(n: int) -> bytes:
    """col('a') IN (0, 1, …, n-1) the way datafusion encodes it (checked for small n)."""
    items = b"".join(ld(2, ld(3, b"\x38" + varint(i))) for i in range(n))
    return ld(14, ld(1, column(b"a")) + items)


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


def envelope_ctx(codec_id: str = "my_library.Codec") -> SessionContext:
    """An outer session that cannot inline but has an inlining session installed as a codec (§2.7)."""
    outer = SessionContext().with_python_udf_inlining(enabled=False)
    return outer.with_logical_extension_codec(SessionContext(), codec_id=codec_id)


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


def replace_fun_definition(blob: bytes, new: bytes) -> bytes:
    """Re-frame the blob with a different fun_definition (lengths re-encoded)."""
    start, end, _kind = find_fun_definition(blob)
    for number, _wire, a, b, tag in iter_raw(blob, 0, len(blob)):
        if number in SITES:
            # drop the old length prefix of fun_definition (it sits right before `start`)
            old_len = len(varint(end - start))
            head = blob[a : start - old_len]
            body = head + varint(len(new)) + new + blob[end:b]
            key = blob[tag : tag + (2 if number >= 16 else 1)]
            return blob[:tag] + key + varint(len(body)) + body + blob[b:]
    raise AssertionError("no UDF node")


def scalar_udf_expr(name: str, fun_definition: bytes) -> bytes:
    """``name(a)`` as datafusion writes it by name, with fun_definition (field 3) set to ``fun_definition``:
    LogicalExprNode{scalar_udf_expr: {fun_name, args: [col a], fun_definition}}."""
    f = udf(double_it, [pa.int64()], pa.int64(), "immutable", name=name)
    byname = f(col("a")).to_bytes(no_inline_ctx())
    ((number, _wire, a, b, tag),) = iter_raw(byname, 0, len(byname))
    assert (number, tag, b) == (20, 0, len(byname))  # one scalar_udf_expr field, nothing else
    return ld(20, byname[a:b] + ld(3, fun_definition))


# --- one node of a real blob changed ----------------------------------------------------------------------
def _fields(buf: bytes, a: int, b: int) -> list[tuple[int, int, int, int, int, int]]:
    items = list(iter_raw(buf, a, b))
    return [(*it, items[k + 1][4] if k + 1 < len(items) else b) for k, it in enumerate(items)]


def rewrite(buf: bytes, typ: str, target: tuple[str, str], op: str | bytes) -> bytes:
    """``buf`` with the first ``target`` (message type, field name) occurrence in pre-order changed:
    "drop" removes the field, "empty" empties the child message, bytes are appended to the child's body."""

    def walk(a: int, b: int, t: str) -> bytes | None:
        out = bytearray()
        done = False
        for number, wire, x, y, tag, end in _fields(buf, a, b):
            spec = MESSAGES.get(t, {}).get(number)
            if done or spec is None or wire != LEN or spec[1] != "message":
                out += buf[tag:end]
                continue
            if (t, spec[0]) == target:
                done = True
                if op == "drop":
                    continue
                body = b"" if op == "empty" else buf[x:y] + op
            else:
                body = walk(x, y, spec[2])
                if body is None:
                    out += buf[tag:end]
                    continue
                done = True
            out += ld(number, body)
        return bytes(out) if done else None

    new = walk(0, len(buf), typ)
    assert new is not None, f"{target} not found"
    return new


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


def refusing_udf(bad: int = 777):
    """A UDF ``refuse`` raising ``refused <bad>`` on the value ``bad``, defined in a function: cloudpickle ships
    it by value (any worker decodes it)."""

    def refuse(x: pa.Array) -> pa.Array:
        if pc.any(pc.equal(x, bad)).as_py():
            raise ValueError(f"refused {bad}")
        return x

    return udf(refuse, [pa.int64()], pa.int64(), "immutable", name="refuse")
