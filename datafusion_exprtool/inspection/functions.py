"""The function manifest: every function a blob calls, how it travels, and what a worker needs for it.

transport:
  inline    a Python payload travels in ``fun_definition`` (DFPY frame, maybe inside a DFPYCHN envelope)
  by_name   only the name travels: the receiver must have it registered (FFI UDF, or a Python UDF sent
            with inlining off)
  builtin   a DataFusion built-in of the installed version (from a generated table: no datafusion import)
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field

from datafusion_exprtool.errors import CORRUPT, TRUNCATED, DecodeError
from datafusion_exprtool.layers import arrow_ipc, dfpy
from datafusion_exprtool.layers.cloudpickle import stream as cloudpickle_stream
from datafusion_exprtool.layers.pickle import safety as pickle_safety
from datafusion_exprtool.layers.proto.builtins import is_builtin
from datafusion_exprtool.layers.proto.scan_result import FunctionSite
from datafusion_exprtool.model import ClosureValue, Finding, FunctionInfo, Sensitive


@dataclass
class ManifestResult:
    functions: list[FunctionInfo] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # safety-relevant
    warnings: list[Finding] = field(default_factory=list)
    sensitive: list[Sensitive] = field(default_factory=list)
    complete: bool = True


def build_manifest(sites: list) -> ManifestResult:
    """Turn the scan's function sites into FunctionInfo entries, merging repeated occurrences."""
    out = ManifestResult()
    seen: dict[tuple, FunctionInfo] = {}
    for site in sites:
        info = _function_info(site, out)
        key = (info.name, info.kind, info.transport, info.payload_sha256)
        if key in seen:
            seen[key].occurrences += 1
            continue
        seen[key] = info
        out.functions.append(info)
    return out


def stray_sites(blob: bytes, origin: int, known: list[FunctionSite]) -> list[FunctionSite]:
    """Function sites for the DFPY frames the typed reading did not reach (``dfpy.stray_frames``)."""
    accounted: set[int] = set()
    for site in known:
        if site.fun_definition is None or site.payload_offset is None:
            continue
        start = site.payload_offset
        try:
            end = dfpy.parse_fun_definition(site.fun_definition, start).stream_offset or start + 1
        except DecodeError:
            end = start + 1
        part = site.fun_definition[: end - start]
        accounted.update(start + i for i in range(len(part)) if part.startswith(b"DFPY", i))
    return [
        FunctionSite(node="(a node the tables do not expand)", name=f"<payload at byte {offset}>", kind=kind,
                     fun_definition=body, payload_offset=offset, msg=None)
        for offset, body, kind in dfpy.stray_frames(blob, origin, accounted)
    ]


def _function_info(site, out: ManifestResult) -> FunctionInfo:
    payload = site.fun_definition
    # an aggregate used as a window function is an aggregate UDF: that is what a worker registers
    kind = "aggregate" if getattr(site, "udaf", False) else site.kind
    info = FunctionInfo(name=site.name, kind=kind, transport="by_name", node=site.node)
    if payload is None:
        info.offset = site.msg.offset if site.msg is not None else None
        if is_builtin(site.name, kind):
            info.transport = "builtin"
        return info
    info.transport = "inline"
    info.offset = site.payload_offset
    info.payload_size = len(payload)
    info.payload_sha256 = hashlib.sha256(payload).hexdigest()
    try:
        fd = dfpy.parse_fun_definition(payload, site.payload_offset or 0, kind)
    except DecodeError as err:
        out.complete = False
        out.warnings.append(_from_error(err, site.name))
        return info
    for problem in fd.problems:
        problem.function = problem.function or site.name
        out.warnings.append(problem)
    if fd.envelope is not None:
        info.codec_id = fd.envelope.codec_id
        info.envelope_version = fd.envelope.version
    if fd.family is None:
        # a foreign codec's bytes: kept opaque, but a pickle inside is still read for safety
        out.complete = False
        out.warnings.append(
            Finding(id="opaque-payload", severity="warning", layer="dfpy", offset=fd.inner_offset,
                    message=f"{site.kind} function '{site.name}': payload written by codec "
                    f"'{info.codec_id}' is not a DFPY frame; its {len(fd.inner)} bytes stay opaque",
                    function=site.name)
        )
        _classify_foreign(fd.inner, fd.inner_offset, site.name, out)
        return info
    info.family = fd.family
    info.wire_version = fd.wire_version
    if fd.python is not None:
        info.python = f"{fd.python[0]}.{fd.python[1]}"
    if fd.stream_offset is None:  # the header itself is cut short: dfpy reported it, nothing follows
        out.complete = False
        return info
    try:
        stream = cloudpickle_stream.read_udf_stream(
            fd.stream, fd.stream_offset, fd.family,
            python_minor=fd.python[1] if fd.python else None,
        )
    except DecodeError as err:
        out.complete = False
        out.warnings.append(_from_error(err, site.name))
        out.findings.append(
            Finding(id="unreadable-payload", severity="error", layer=err.layer, offset=err.offset,
                    message=f"inline payload of '{site.name}' could not be read statically: {err.message} "
                    "(a stream that cannot be walked to its end is not accounted for)",
                    verdict="suspicious", function=site.name, decode_kind=err.kind)
        )
        return info
    if stream.result.frame_overrun is not None:
        out.complete = False
        out.warnings.append(frame_overrun(stream.result.frame_overrun, len(fd.stream), "cloudpickle", site.name))
    for f in pickle_safety.classify(stream.result, "cloudpickle", "cloudpickle"):
        f.function = f.function or site.name
        out.findings.append(f)
    for f in stream.findings:
        f.function = f.function or site.name
        out.warnings.append(f)
    info.volatility = stream.volatility
    info.callable = stream.callable
    info.imports = cloudpickle_stream.imports(stream.callable) if stream.callable else []
    info.input_types = _types(stream.input_schema, stream.input_schema_offset, out, site.name)
    ret = _fields(stream.return_schema, stream.return_schema_offset, out, site.name)
    if ret:
        info.return_type = ret[0].type
        info.return_field = {"name": ret[0].name, "nullable": ret[0].nullable, "metadata": ret[0].metadata}
    if stream.state_schema is not None:
        info.state_types = _types(stream.state_schema, stream.state_schema_offset, out, site.name)
    out.findings.append(
        Finding(id="inline-code", severity="info", layer="cloudpickle", offset=fd.stream_offset,
                message=f"{site.kind} UDF '{site.name}' carries Python code that runs when a worker decodes the blob"
                + _where(info), verdict="code", function=site.name)
    )
    _sensitive_from_callable(info, fd.stream_offset, out)
    return info


def _where(info: FunctionInfo) -> str:
    c = info.callable
    if c is None:
        return ""
    if c.by_value and c.filename:
        return f" ({c.qualname or '?'} from {c.filename}:{c.firstlineno or '?'})"
    if not c.by_value and c.module:
        return f" ({c.module}.{c.qualname}, imported by reference)"
    return ""


def _types(data: bytes | None, offset: int | None, out: ManifestResult, name: str) -> list[str] | None:
    fields = _fields(data, offset, out, name)
    return None if fields is None else [f.type for f in fields]


def _fields(data: bytes | None, offset: int | None, out: ManifestResult, name: str):
    if data is None:
        return None
    try:
        return arrow_ipc.read_schema(data, offset or 0)
    except DecodeError as err:
        out.complete = False
        out.warnings.append(_from_error(err, name))
        return None


def _classify_foreign(inner: bytes, origin: int | None, name: str, out: ManifestResult) -> None:
    for f in classify_foreign_bytes(inner, origin):
        f.function = f.function or name
        out.findings.append(f)


def classify_foreign_bytes(data: bytes, origin: int | None) -> list[Finding]:
    """Bytes a foreign codec wrote: opaque, but a pickle among them is still read for safety."""
    if data[:1] != b"\x80":
        return []
    from datafusion_exprtool.layers.pickle import vm as pickle_vm

    try:
        result = pickle_vm.run(data, origin or 0, layer="cloudpickle")
    except DecodeError:
        return []
    return pickle_safety.classify(result, "cloudpickle", "cloudpickle")


def _sensitive_from_callable(info: FunctionInfo, offset: int | None, out: ManifestResult) -> None:
    c = info.callable
    if c is None:
        return
    if c.filename and (c.filename.startswith("/") or c.filename[1:3] in (":\\", ":/")):
        out.sensitive.append(Sensitive("path", "cloudpickle", offset, c.filename, function=info.name))
    values: list[ClosureValue] = list(c.closure) + list(c.globals)
    for v in values:
        if v.type.startswith(("module", "function", "class")):
            continue
        label = f"{v.name}: " if v.name else ""
        out.sensitive.append(
            Sensitive("captured-value", "cloudpickle", offset, f"{label}{v.type} {v.preview}", function=info.name)
        )


def frame_overrun(frame: tuple[int, int], size: int, layer: str, name: str | None = None) -> Finding:
    """A pickle FRAME (``frame``: absolute offset, declared size) that runs past the end of its ``size``-byte
    stream: the static walk reads on (framing never changes the opcodes), ``pickle.loads`` refuses it."""
    offset, declared = frame
    # past sys.maxsize the unpickler refuses the length itself (OverflowError), before it reads: no truncation
    past_max = declared > sys.maxsize
    return Finding(
        id="frame-overrun", severity="warning", layer=layer, offset=offset, function=name,
        decode_kind=CORRUPT if past_max else TRUNCATED,
        message=(f"{name}: " if name else "") + f"FRAME of {declared} bytes runs past the end ({size} bytes)"
        + (f" and past the largest length the unpickler holds ({sys.maxsize})" if past_max else ""),
    )  # fmt: skip


def _from_error(err: DecodeError, name: str) -> Finding:
    return Finding(
        id="layer-error", severity="warning", layer=err.layer, offset=err.offset, message=f"{name}: {err.message}",
        function=name, decode_kind=err.kind,
    )


def python_mismatches(functions: list[FunctionInfo], target: tuple[int, int] | None = None) -> list[FunctionInfo]:
    """Inline functions whose Python stamp differs from ``target`` (default: this interpreter)."""
    want = "{}.{}".format(*(target or sys.version_info[:2]))
    return [f for f in functions if f.transport == "inline" and f.python and f.python != want]
