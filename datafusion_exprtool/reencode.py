"""Re-encode a blob (pickle <-> raw ``to_bytes``, base64/hex text, inline -> by-name) and build blobs from SQL.

Unlike inspection, re-encoding has to decode with datafusion, which runs the inline UDFs' cloudpickle
payloads. So it follows eval's trust rule: the static check runs first and a ``suspicious`` verdict is
refused unless the caller trusts the blob. Only the protobuf payload that the static pickle machine
extracted is handed to ``Expr.from_bytes``; the outer pickle itself is never loaded.
"""

from __future__ import annotations

import base64
import os
import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .inputs import LoadedInput, load_bytes
from .model import Finding, FunctionInfo, Inspection

CONTAINERS = ("pickle", "bytes")
TEXT_ENCODINGS = ("base64", "hex")
#: output suffix -> (container, text encoding); None leaves that choice to the options or the input
SUFFIXES: dict[str, tuple[str | None, str | None]] = {
    ".pkl": ("pickle", None), ".pickle": ("pickle", None), ".bin": ("bytes", None), ".pb": ("bytes", None),
    ".b64": (None, "base64"), ".base64": (None, "base64"), ".hex": (None, "hex"),
}  # fmt: skip
_PLAN_MESSAGES = ("LogicalPlanNode", "PhysicalPlanNode")


class ReencodeError(Exception):
    """A request that cannot be honoured (exit status 2 unless ``code`` says otherwise)."""

    code = 2


class Refused(ReencodeError):
    """The static check found something datafusion and cloudpickle do not produce (exit 1)."""

    code = 1

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        what = "; ".join(f.message for f in findings if f.verdict == "suspicious") or "suspicious content"
        super().__init__(
            f"refusing to decode a suspicious blob with datafusion: {what} "
            "(inspect it with `exprtool inspect`; pass --trust only if you produced it yourself)"
        )


class DataFusionFailed(Exception):
    """datafusion refused to decode or encode (exit 4); the message is datafusion's own."""

    code = 4

    def __init__(self, action: str, message: str):
        self.action = action
        self.message = message
        super().__init__(f"datafusion failed to {action}: {message}")


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
) -> bytes:
    """Encode a datafusion Expr (or plan) as a pickle or raw ``to_bytes`` (no text encoding)."""
    from datafusion import SessionContext

    strict = SessionContext().with_python_udf_inlining(enabled=False) if by_name else None
    if container == "pickle":
        if message in _PLAN_MESSAGES:
            raise ReencodeError(
                f"datafusion 55 cannot pickle a {message} (only Expr has __reduce__); use --to bytes"
            )
        if protocol is not None and not 0 <= protocol <= pickle.HIGHEST_PROTOCOL:
            raise ReencodeError(f"--protocol must be 0..{pickle.HIGHEST_PROTOCOL}, not {protocol}")
        try:
            with sender_ctx(strict):
                return pickle.dumps(obj, protocol=protocol)
        except Exception as exc:
            raise DataFusionFailed("encode", str(exc)) from None
    if protocol is not None:
        raise ReencodeError("--protocol applies to pickle output only (add --to pickle or a .pkl OUT)")
    try:
        return obj.to_bytes(strict)
    except Exception as exc:
        raise DataFusionFailed("encode", str(exc)) from None


def decode_payload(raw: bytes, message: str, ctx: Any = None) -> Any:
    """``Expr.from_bytes`` (or the plan equivalent) of one protobuf payload: runs inline UDF payloads."""
    from datafusion import SessionContext
    from datafusion.expr import Expr
    from datafusion.plan import ExecutionPlan, LogicalPlan

    try:
        if message == "LogicalPlanNode":
            return LogicalPlan.from_bytes(ctx or SessionContext(), raw)
        if message == "PhysicalPlanNode":
            return ExecutionPlan.from_bytes(ctx or SessionContext(), raw)
        return Expr.from_bytes(raw, ctx)
    except Exception as exc:
        raise DataFusionFailed("decode", str(exc)) from None


def render(obj: Any) -> str:
    """How datafusion prints what it decoded: ``canonical_name()`` for an Expr, the indented plan otherwise."""
    if hasattr(obj, "canonical_name"):
        return obj.canonical_name()
    if hasattr(obj, "display_indent"):
        return obj.display_indent()
    return str(obj)


# by-name stubs: registered under the blob's function names so a by-name payload decodes without the real
# UDF. Decoding resolves names only (types and arity are not checked; tested), and the stubs are never
# called, so placeholder types serve. Only by-name output may be encoded from them: nothing of a stub travels.


def _stub_scalar(*arrays: Any) -> Any:  # pragma: no cover - never called
    raise RuntimeError("exprtool by-name stub: not executable")


def stub_context(functions: list[FunctionInfo]) -> Any:
    """A SessionContext with a never-called stub for each by-name function of ``functions``."""
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

    ctx = SessionContext()
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


# ----------------------------------------------------------------------------------------------------------
# the operations


def check_trust(insp: Inspection, trust: bool) -> list[str]:
    """Eval's trust rule. Returns notes; raises Refused for a suspicious verdict without ``trust``."""
    if insp.safety.verdict != "suspicious":
        return []
    if not trust:
        raise Refused(insp.safety.findings)
    return [
        "trusted a suspicious blob (--trust): only its protobuf payload was decoded, and the output holds "
        "only the expression, not what the safety check flagged"
    ]


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
) -> ReencodeResult:
    """Decode ``loaded`` with datafusion (after the static check) and encode it again as asked."""
    from .inspection import inspect_loaded

    insp = inspect_loaded(loaded, message=message)
    notes = check_trust(insp, trust)
    if len(insp.payloads) != 1:
        raise ReencodeError(
            f"{loaded.info.path}: holds {len(insp.payloads)} serialized objects; reencode handles exactly one"
        )
    payload = insp.payloads[0]
    if protocol is None and container == "pickle" and loaded.info.container == "pickle":
        protocol = loaded.info.pickle_protocol  # keep the sender's protocol unless told otherwise
    by_name_in = [f.name for f in insp.functions if f.transport == "by_name"]
    ctx = None
    if by_name_in and by_name:
        ctx = stub_context(insp.functions)
        notes.append(f"by-name function(s) {', '.join(sorted(set(by_name_in)))} resolved with stubs")
    obj = decode_payload(payload.root.raw(), payload.message, ctx)
    rendered = render(obj)
    raw_out = encode_object(obj, container, by_name=by_name, protocol=protocol, message=payload.message)
    result = ReencodeResult(
        data=apply_text(raw_out, text),
        container=container,
        text=text,
        protocol=_protocol_of(raw_out, protocol) if container == "pickle" else None,
        message=payload.message,
        rendered=rendered,
        notes=notes,
        inspection=insp,
    )
    if verify:
        verify_output(result)
    return result


def _protocol_of(data: bytes, asked: int | None) -> int | None:
    """The PROTO byte of protocols 2-5; protocols 0 and 1 have none, so report what was asked for."""
    return data[1] if data[:1] == b"\x80" and len(data) > 1 else asked


def verify_output(result: ReencodeResult) -> None:
    """Decode the output again (statically, then with datafusion) and compare the renderings."""
    from .inspection import inspect_loaded

    loaded = load_bytes(result.data, "<output>")
    insp = inspect_loaded(loaded, message=result.message)
    if len(insp.payloads) != 1:
        raise ReencodeError(
            f"verification failed: the output holds {len(insp.payloads)} payloads, not 1",
        )
    by_name = [f.name for f in insp.functions if f.transport == "by_name"]
    ctx = stub_context(insp.functions) if by_name else None
    payload = insp.payloads[0]
    again = render(decode_payload(payload.root.raw(), payload.message, ctx))
    if by_name:
        result.notes.append(f"verified with never-called stubs for by-name {', '.join(sorted(set(by_name)))}")
    result.verified = again == result.rendered
    if not result.verified:
        raise ReencodeError(
            f"verification failed: the output renders as {again!r}, the input as {result.rendered!r}"
        )
    if payload.message == "LogicalExprNode" and payload.rendered and payload.rendered != again:
        result.notes.append(f"exprtool's static rendering differs from datafusion's: {payload.rendered!r}")


# ----------------------------------------------------------------------------------------------------------
# encode: SQL text -> Expr


def parse_schema(spec: str) -> Any:
    """A pyarrow schema from a data file (.parquet, .arrow/.feather/.ipc) or text like ``"a int64, b utf8"``."""
    import pyarrow as pa

    ext = os.path.splitext(spec)[1].lower()
    if os.path.exists(spec) and ext in (".parquet", ".parq", ".pq"):
        import pyarrow.parquet as pq

        return pq.read_schema(spec)
    if os.path.exists(spec) and ext in (".arrow", ".feather", ".ipc", ".arrows"):
        import pyarrow.ipc as ipc

        try:
            return ipc.open_file(spec).schema
        except pa.ArrowInvalid:
            return ipc.open_stream(spec).schema
    if ext in (".parquet", ".arrow", ".feather", ".ipc") and not os.path.exists(spec):
        raise ReencodeError(f"{spec}: no such file")
    fields = []
    for part in _split_top(spec):
        m = re.fullmatch(r"\s*([^\s:]+)\s*:?\s+(.+?)(\s+not\s+null)?\s*", part, re.IGNORECASE)
        if not m:
            raise ReencodeError(
                f"cannot read schema column {part.strip()!r}: expected 'NAME TYPE' (e.g. 'a int64')"
            )
        try:
            typ = _arrow_type(m.group(2).strip())
        except (ValueError, KeyError):
            raise ReencodeError(f"unknown type {m.group(2).strip()!r} for column {m.group(1)!r}") from None
        fields.append(pa.field(m.group(1), typ, nullable=m.group(3) is None))
    if not fields:
        raise ReencodeError("empty schema")
    return pa.schema(fields)


def _arrow_type(text: str) -> Any:
    """pyarrow type from its string form: aliases (int64, utf8, ...), decimalNN(p, s), timestamp[unit, tz=...]."""
    import pyarrow as pa

    m = re.fullmatch(r"decimal(32|64|128|256)\((\d+),\s*(-?\d+)\)", text)
    if m:
        return getattr(pa, f"decimal{m.group(1)}")(int(m.group(2)), int(m.group(3)))
    m = re.fullmatch(r"timestamp\[(s|ms|us|ns)(?:,\s*tz=(.+))?\]", text)
    if m:
        return pa.timestamp(m.group(1), tz=m.group(2))
    return pa.type_for_alias(text)


def _split_top(spec: str) -> list[str]:
    """Split on commas outside brackets (``decimal128(10, 2)`` and ``timestamp[us, tz=UTC]`` stay whole)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(spec):
        if ch in "([<":
            depth += 1
        elif ch in ")]>":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(spec[start:i])
            start = i + 1
    parts.append(spec[start:])
    return [p for p in parts if p.strip()]


def expr_from_sql(sql: str, schema: Any, table: str = "t") -> Any:
    """The datafusion Expr for SQL expression text over an empty table ``table`` with ``schema``."""
    import pyarrow as pa
    from datafusion import SessionContext

    ctx = SessionContext()
    ctx.register_record_batches(table, [[pa.RecordBatch.from_pylist([], schema=schema)]])
    try:
        return ctx.table(table).parse_sql_expr(sql)
    except Exception as exc:
        raise DataFusionFailed("parse the SQL expression", str(exc)) from None


def encode_sql(
    sql: str,
    schema_spec: str,
    *,
    container: str = "pickle",
    text: str | None = None,
    by_name: bool = False,
    protocol: int | None = None,
    table: str = "t",
) -> tuple[bytes, str]:
    """(blob, datafusion's canonical_name) for SQL expression text; columns are qualified with ``table``."""
    expr = expr_from_sql(sql, parse_schema(schema_spec), table)
    raw = encode_object(expr, container, by_name=by_name, protocol=protocol)
    return apply_text(raw, text), expr.canonical_name()
