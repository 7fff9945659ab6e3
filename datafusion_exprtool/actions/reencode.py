"""Re-encode a blob (pickle <-> raw ``to_bytes``, base64/hex text, inline -> by-name) and build blobs from SQL.

Unlike inspection, re-encoding has to decode with datafusion, which runs the inline UDFs' cloudpickle
payloads. So it follows eval's trust rule: the static check runs first and a ``suspicious`` verdict is
refused unless the caller trusts the blob. Only the protobuf payload that the static pickle machine
extracted is handed to ``Expr.from_bytes``; the outer pickle itself is never loaded.

With a worker ctx (``--worker-ctx``) the payload is decoded with it, so by-name calls resolve to the
functions it registers and Python UDFs among them travel inline again (FFI UDFs cannot: they stay by name).
"""

from __future__ import annotations

import base64
import os
import pickle
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.actions.trust import trust_gate
from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.layers.container import LoadedInput, load_bytes
from datafusion_exprtool.layers.proto.roots import PLAN_MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, encode_len_field, iter_raw
from datafusion_exprtool.model import FunctionInfo, Inspection

CONTAINERS = ("pickle", "bytes")
TEXT_ENCODINGS = ("base64", "hex")
#: output suffix -> (container, text encoding); None leaves that choice to the options or the input
SUFFIXES: dict[str, tuple[str | None, str | None]] = {
    ".pkl": ("pickle", None), ".pickle": ("pickle", None), ".bin": ("bytes", None), ".pb": ("bytes", None),
    ".b64": (None, "base64"), ".base64": (None, "base64"), ".hex": (None, "hex"),
}  # fmt: skip


class ReencodeError(Exception):
    """A request that cannot be honoured (exit status 2 unless ``code`` says otherwise)."""

    code: int = ExitCode.USAGE


class DataFusionFailed(Exception):
    """datafusion refused to decode or encode (exit 4); the message is datafusion's own."""

    code = ExitCode.EVAL_FAILED

    def __init__(self, action: str, message: str):
        self.action = action
        self.message = message
        super().__init__(f"datafusion failed to {action}: {message}")


def datafusion_failed(action: str, exc: BaseException) -> DataFusionFailed:
    """``exc``, raised by datafusion while it decoded or encoded, as a DataFusionFailed; re-raises anything else
    (Ctrl-C, SystemExit). A Rust panic (a buffer sliced past its end by damaged bytes) reaches Python as pyo3's
    ``PanicException``, a BaseException that ``except Exception`` lets through to a traceback: it is datafusion's
    failure too, named "Rust panic" as eval names it."""
    if type(exc).__name__ == "PanicException":
        return DataFusionFailed(action, f"Rust panic: {exc}")
    if isinstance(exc, Exception):
        return DataFusionFailed(action, str(exc))
    raise exc


@dataclass
class ReencodeResult:
    data: bytes  # the output, text encoding applied
    container: str  # "pickle" | "bytes"
    text: str | None  # None | "base64" | "hex"
    protocol: int | None  # pickle protocol of the output
    message: str  # LogicalExprNode | LogicalPlanNode | PhysicalPlanNode
    rendered: str  # datafusion's rendering of the decoded input (canonical_name / display_indent)
    verified: bool | None = None  # None: not asked for
    notes: list[str] = field(default_factory=list)
    inspection: Inspection | None = None  # the static check of the input


# ----------------------------------------------------------------------------------------------------------
# output format


def resolve_format(
    out: str | None, to: str | None, text: str | None, input_container: str | None
) -> tuple[str, str | None]:
    """(container, text encoding) from the options, else OUT's suffix, else the input's container."""
    if to is not None and to not in CONTAINERS:
        raise ReencodeError(f"--to must be one of {', '.join(CONTAINERS)}, not {to!r}")
    if text is not None and text not in TEXT_ENCODINGS:
        raise ReencodeError(f"--text must be one of {', '.join(TEXT_ENCODINGS)}, not {text!r}")
    suffix_container, suffix_text = (None, None)
    if out and out != "-":
        suffix_container, suffix_text = SUFFIXES.get(os.path.splitext(out)[1].lower(), (None, None))
    container = (
        to or suffix_container or ("bytes" if input_container == "protobuf" else input_container) or "pickle"
    )
    return container, text or suffix_text


def apply_text(data: bytes, text: str | None) -> bytes:
    if text == "base64":
        return base64.b64encode(data) + b"\n"
    if text == "hex":
        return data.hex().encode("ascii") + b"\n"
    return data


# ----------------------------------------------------------------------------------------------------------
# datafusion encode / decode


@contextmanager
def sender_ctx(ctx: Any) -> Iterator[None]:
    """Install ``ctx`` (or none) as the pickle sender context, restoring the caller's afterwards."""
    from datafusion import ipc

    previous = ipc.get_sender_ctx()
    if ctx is None:
        ipc.clear_sender_ctx()
    else:
        ipc.set_sender_ctx(ctx)
    try:
        yield
    finally:
        if previous is None:
            ipc.clear_sender_ctx()
        else:
            ipc.set_sender_ctx(previous)


def encode_object(
    obj: Any,
    container: str,
    *,
    by_name: bool = False,
    protocol: int | None = None,
    message: str = "LogicalExprNode",
    keep_by_name: frozenset[tuple[str, str]] = frozenset(),
) -> bytes:
    """Encode a datafusion Expr (or plan) as a pickle or raw ``to_bytes`` (no text encoding).

    ``keep_by_name``: (kind, name) of stubbed calls that must stay by name (see drop_fun_definitions).
    """
    from datafusion import SessionContext

    strict = SessionContext().with_python_udf_inlining(enabled=False) if by_name else None
    if container == "pickle":
        if message in PLAN_MESSAGES:
            raise ReencodeError(
                f"datafusion 55 cannot pickle a {message} (only Expr has __reduce__); use --to bytes"
            )
        if protocol is not None and not 0 <= protocol <= pickle.HIGHEST_PROTOCOL:
            raise ReencodeError(f"--protocol must be 0..{pickle.HIGHEST_PROTOCOL}, not {protocol}")
    elif protocol is not None:
        raise ReencodeError("--protocol applies to pickle output only (add --to pickle or a .pkl OUT)")
    try:
        if container == "pickle" and not keep_by_name:
            with sender_ctx(strict):
                return pickle.dumps(obj, protocol=protocol)
        raw = drop_fun_definitions(obj.to_bytes(strict), message, keep_by_name)
        return pickle.dumps(_ExprBytes(raw), protocol=protocol) if container == "pickle" else raw
    except BaseException as exc:  # noqa: BLE001 - datafusion_failed re-raises what is not datafusion's
        raise datafusion_failed("encode", exc) from None


class _ExprBytes(bytes):
    """Pickles exactly as ``Expr.__reduce__`` does (tested), for protobuf bytes exprtool edited."""

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        from datafusion.expr import Expr

        return (Expr._reconstruct, (bytes(self),))


def drop_fun_definitions(raw: bytes, message: str, names: frozenset[tuple[str, str]]) -> bytes:
    """``raw`` without the fun_definition of the calls to ``names`` (kind, name): the node keeps its name
    and arguments, as datafusion writes it with inlining off (fact sheet §2.6; tested byte for byte)."""
    from datafusion_exprtool.layers.proto.scan import scan

    if not names:
        return raw
    cut = {
        (s.payload_offset, s.payload_offset + len(s.fun_definition))
        for s in scan(raw, message).functions
        if s.fun_definition is not None
        and s.payload_offset is not None
        and ("aggregate" if s.udaf else s.kind, s.name) in names
    }
    return _without(raw, 0, len(raw), cut) if cut else raw


def _without(buf: bytes, start: int, end: int, cut: set[tuple[int, int]]) -> bytes:
    """The message body ``buf[start:end]`` minus the LEN fields whose payload spans are in ``cut``;
    the lengths of the messages that held them are written again."""
    fields = list(iter_raw(buf, start, end))
    out = bytearray()
    for (number, wire, a, b, tag), stop in zip(fields, [f[4] for f in fields[1:]] + [end], strict=True):
        if wire == LEN and (a, b) in cut:
            continue
        if wire == LEN and any(a <= x and y <= b for x, y in cut):
            out += encode_len_field(number, _without(buf, a, b, cut))
        else:
            out += buf[tag:stop]
    return bytes(out)


def decode_payload(raw: bytes, message: str, ctx: Any = None) -> Any:
    """``Expr.from_bytes`` (or the plan equivalent) of one protobuf payload: runs inline UDF payloads."""
    from datafusion import SessionContext
    from datafusion.expr import Expr
    from datafusion.plan import ExecutionPlan, LogicalPlan

    from datafusion_exprtool.sandbox.crash import Panic, rust_stderr_captured

    panics: list[Panic] = []  # Rust's own report of a panic: the PanicException already says it, in one line
    try:
        with rust_stderr_captured(panics):
            if message == "LogicalPlanNode":
                return LogicalPlan.from_bytes(ctx or SessionContext(), raw)
            if message == "PhysicalPlanNode":
                return ExecutionPlan.from_bytes(ctx or SessionContext(), raw)
            return Expr.from_bytes(raw, ctx)
    except BaseException as exc:  # noqa: BLE001 - datafusion_failed re-raises what is not datafusion's
        raise datafusion_failed("decode", exc) from None


def render(obj: Any) -> str:
    """How datafusion prints what it decoded: ``canonical_name()`` for an Expr, the indented plan otherwise."""
    if hasattr(obj, "canonical_name"):
        return obj.canonical_name()
    if hasattr(obj, "display_indent"):
        return obj.display_indent()
    return str(obj)


# by-name stubs: registered under the blob's function names so a by-name payload decodes without the real
# UDF. Decoding resolves names only (types and arity are not checked; tested), and the stubs are never
# called, so placeholder types serve. Nothing of a stub travels: the output is by-name, or the stubs' calls
# have their inline definition dropped (encode_object's keep_by_name).


def _stub_scalar(*arrays: Any) -> Any:  # pragma: no cover - never called
    raise RuntimeError("exprtool by-name stub: not executable")


def stub_context(functions: list[FunctionInfo], ctx: Any = None) -> Any:
    """``ctx`` (a new SessionContext if None) with a never-called stub for each by-name function of ``functions``."""
    import pyarrow as pa
    from datafusion import Accumulator, SessionContext, udaf, udf, udwf
    from datafusion.user_defined import WindowEvaluator

    class _StubAccumulator(Accumulator):  # never instantiated by decoding
        def update(self, *values: Any) -> None: ...
        def merge(self, states: Any) -> None: ...
        def state(self) -> list[Any]: ...
        def evaluate(self) -> Any: ...

    class _StubEvaluator(WindowEvaluator):
        pass

    ctx = SessionContext() if ctx is None else ctx
    t = pa.int64()
    for fn in functions:
        if fn.transport != "by_name":
            continue
        if fn.kind == "scalar":
            ctx.register_udf(udf(_stub_scalar, [t], t, "immutable", name=fn.name))
        elif fn.kind == "aggregate":
            ctx.register_udaf(udaf(_StubAccumulator, [t], t, [t], "immutable", name=fn.name))
        elif fn.kind == "window":
            ctx.register_udwf(udwf(_StubEvaluator, [t], t, "immutable", name=fn.name))
    return ctx


@contextmanager
def stubs_on(ctx: Any, functions: list[FunctionInfo]) -> Iterator[Any]:
    """The ctx to decode with: ``ctx`` (None: datafusion's default) plus stubs for ``functions`` (a new ctx
    if None), deregistered afterwards so a caller's ctx is left as it was (the names were not on it)."""
    if not functions:
        yield ctx
        return
    ctx = stub_context(functions, ctx)
    try:
        yield ctx
    finally:
        drop = {"scalar": ctx.deregister_udf, "aggregate": ctx.deregister_udaf, "window": ctx.deregister_udwf}
        for fn in functions:
            if fn.transport == "by_name" and fn.kind in drop:
                drop[fn.kind](fn.name)


def load_worker_ctx(spec: str, cwd: str | None = None) -> tuple[Any, list[Any]]:
    """``--worker-ctx``: (its SessionContext, the modules whose functions must travel by value).

    Eval's loader imports a ``file.py:function`` spec under a made-up module name that no receiver can
    import, so that module's functions are copied by value, never named (tested in a fresh interpreter).
    A ctx that cannot be built raises the loader's EvalError (a usage error).
    """
    from datafusion_exprtool.sandbox.context import WorkerSpec, build_context

    ctx = build_context(WorkerSpec(factory=spec, cwd=cwd))
    target = spec.rpartition(":")[0]
    if not (target.endswith(".py") or os.sep in target):
        return ctx, []  # an importable module: its functions travel by reference, as a sender's would
    path = os.path.abspath(os.path.join(cwd or os.getcwd(), target))
    files = [(m, getattr(m, "__file__", None)) for m in list(sys.modules.values())]
    return ctx, [m for m, f in files if isinstance(f, str) and os.path.abspath(f) == path]


@contextmanager
def pickled_by_value(modules: list[Any] | tuple[Any, ...]) -> Iterator[None]:
    """cloudpickle copies the functions and classes of ``modules`` by value meanwhile (registry restored)."""
    import cloudpickle

    added = [m for m in modules if m.__name__ not in cloudpickle.list_registry_pickle_by_value()]
    for m in added:
        cloudpickle.register_pickle_by_value(m)
    try:
        yield
    finally:
        for m in added:
            cloudpickle.unregister_pickle_by_value(m)


def missing_from(ctx: Any, functions: list[FunctionInfo]) -> list[FunctionInfo]:
    """The by-name functions ``ctx`` does not register (built-ins and UDFs, by kind); all of them without a ctx."""
    by_name = [f for f in functions if f.transport == "by_name"]
    if ctx is None:
        return by_name
    known = {"scalar": ctx.udfs(), "aggregate": ctx.udafs(), "window": ctx.udwfs()}
    return [f for f in by_name if f.name not in known.get(f.kind, ())]


def _names(functions: list[FunctionInfo]) -> str:
    return ", ".join(sorted({f.name for f in functions}))


# ----------------------------------------------------------------------------------------------------------
# the operations


#: what reencode says after decoding a suspicious blob under --trust
TRUSTED_NOTE = (
    "trusted a suspicious blob (--trust): only its protobuf payload was decoded, and the output holds "
    "only the expression, not what the safety check flagged"
)


def reencode(
    loaded: LoadedInput,
    *,
    container: str,
    text: str | None = None,
    by_name: bool = False,
    protocol: int | None = None,
    verify: bool = False,
    trust: bool = False,
    message: str | None = None,
    ctx: Any = None,
    by_value: list[Any] | tuple[Any, ...] = (),
) -> ReencodeResult:
    """Decode ``loaded`` with datafusion (after the static check) and encode it again as asked.

    ``ctx``: the worker's SessionContext (``--worker-ctx``): by-name calls resolve to what it registers, so
    inline output carries its Python UDFs; the by-name functions it lacks are stubbed and stay by name.
    ``by_value``: modules whose functions cloudpickle copies by value (see load_worker_ctx).
    """
    from datafusion_exprtool.inspection.pipeline import inspect_loaded

    insp = inspect_loaded(loaded, message=message)
    notes = [TRUSTED_NOTE] if trust_gate(insp, trust) else []
    if len(insp.payloads) != 1:
        raise ReencodeError(
            f"{loaded.info.path}: holds {len(insp.payloads) or 'no'} datafusion expression or plan"
            f"{'s' if len(insp.payloads) != 1 else ''}; reencode handles exactly one"
        )
    payload = insp.payloads[0]
    if insp.unknown_fields:  # prost skips them: the re-encoded blob would silently lose those bytes
        first = insp.unknown_fields[0]
        err = ReencodeError(
            f"{loaded.info.path}: {len(insp.unknown_fields)} field(s) a {payload.message} does not have (the first "
            f"at byte {first.offset}): datafusion would drop them and the output would lose data. "
            + (
                "Check --message (`exprtool inspect` without it shows what the bytes are)."
                if message
                else "`exprtool inspect` shows them; re-create the blob with this datafusion version."
            )
        )
        err.code = ExitCode.UNDECODABLE
        raise err
    if protocol is None and container == "pickle" and loaded.info.container == "pickle":
        protocol = loaded.info.pickle_protocol  # keep the sender's protocol unless told otherwise
    # without a worker ctx or --by-name nothing is stubbed: datafusion says what is missing (exit 4)
    stubbed = missing_from(ctx, insp.functions) if (by_name or ctx is not None) else []
    if stubbed and not by_name:
        notes.append(
            f"by-name function(s) {_names(stubbed)} not registered in the worker ctx: they stay by name "
            "(a receiver must register them; decoded here with never-called stubs, which do not travel)"
        )
    elif stubbed:
        lacking = "" if ctx is None else " (not registered in the worker ctx)"
        notes.append(f"by-name function(s) {_names(stubbed)}{lacking} resolved with stubs")
    keep = frozenset((f.kind, f.name) for f in stubbed) if not by_name else frozenset()
    with stubs_on(ctx, stubbed) as decode_ctx, pickled_by_value(by_value):
        obj = decode_payload(payload.root.raw(), payload.message, decode_ctx)
        raw_out = encode_object(
            obj, container, by_name=by_name, protocol=protocol, message=payload.message, keep_by_name=keep
        )
    result = ReencodeResult(
        data=apply_text(raw_out, text),
        container=container,
        text=text,
        protocol=_protocol_of(raw_out, protocol) if container == "pickle" else None,
        message=payload.message,
        rendered=render(obj),
        notes=notes,
        inspection=insp,
    )
    if ctx is not None and not by_name:
        _note_not_inlined(result, insp.functions, stubbed)
    if verify:
        verify_output(result, ctx)
    return result


def _note_not_inlined(
    result: ReencodeResult, functions: list[FunctionInfo], stubbed: list[FunctionInfo]
) -> None:
    """Name the worker ctx's functions still by name in inline output: not Python UDFs, so FFI UDFs."""
    from datafusion_exprtool.inspection.pipeline import inspect_loaded

    real = {(f.kind, f.name) for f in functions if f.transport == "by_name" and f not in stubbed}
    out = (
        inspect_loaded(load_bytes(result.data, "<output>"), message=result.message).functions if real else []
    )
    still = sorted({f.name for f in out if f.transport == "by_name" and (f.kind, f.name) in real})
    if still:
        result.notes.append(
            f"{', '.join(still)}: registered in the worker ctx but not as a Python UDF (an FFI UDF?): "
            "FFI UDFs cannot travel inline, so they stay by name (a receiver must register them)"
        )


def _protocol_of(data: bytes, asked: int | None) -> int | None:
    """The PROTO byte of protocols 2-5; protocols 0 and 1 have none, so report what was asked for."""
    return data[1] if data[:1] == b"\x80" and len(data) > 1 else asked


def verify_output(result: ReencodeResult, ctx: Any = None) -> None:
    """Decode the output again (statically, then with datafusion, with ``ctx`` if given) and compare the
    renderings. By-name functions ``ctx`` does not register get never-called stubs."""
    from datafusion_exprtool.inspection.pipeline import inspect_loaded

    loaded = load_bytes(result.data, "<output>")
    insp = inspect_loaded(loaded, message=result.message)
    if len(insp.payloads) != 1:
        raise ReencodeError(
            f"verification failed: the output holds {len(insp.payloads)} payloads, not 1",
        )
    stubbed = missing_from(ctx, insp.functions)
    payload = insp.payloads[0]
    with stubs_on(ctx, stubbed) as again_ctx:
        again = render(decode_payload(payload.root.raw(), payload.message, again_ctx))
    if ctx is not None:
        result.notes.append("verified with the worker ctx")
    if stubbed:
        result.notes.append(f"verified with never-called stubs for by-name {_names(stubbed)}")
    result.verified = again == result.rendered
    if not result.verified:
        raise ReencodeError(
            f"verification failed: the output renders as {again!r}, the input as {result.rendered!r}"
        )
    if payload.message == "LogicalExprNode" and payload.rendered and payload.rendered != again:
        result.notes.append(f"exprtool's static rendering differs from datafusion's: {payload.rendered!r}")
