"""The DFPY frame layer: the ``DFPYCHN`` codec envelope and the 10-byte ``DFPYUDF/UDA/UDW`` header.

A ``fun_definition`` holds either an inline Python UDF (``DFPYUD?`` header + cloudpickle stream), the same
wrapped in one or more ``DFPYCHN`` envelopes (an installed extension codec wrote it), or a foreign codec's
bytes. This module reads the framing only; it never touches the cloudpickle stream. The message helpers
reproduce datafusion 55's exact error texts so ``check`` can predict what a receiver will say.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from datafusion_exprtool.model import Finding

#: family magic -> UDF kind (fact sheet §2.2)
FAMILIES: dict[str, str] = {"DFPYUDF": "scalar", "DFPYUDA": "aggregate", "DFPYUDW": "window"}
KIND_FAMILIES: dict[str, str] = {kind: fam for fam, kind in FAMILIES.items()}
ENVELOPE_MAGIC = b"DFPYCHN"
HEADER_SIZE = 10
#: datafusion 55 accepts wire-format v1..=v1 and envelope v1..=v1 (§2.8)
SUPPORTED_WIRE_VERSIONS = range(1, 2)
SUPPORTED_ENVELOPE_VERSIONS = range(1, 2)
#: envelopes inside envelopes happen (a session codec whose session has codecs); past this, stop reading

#: how datafusion names each kind in its messages
KIND_LABELS: dict[str, str] = {"scalar": "scalar UDF", "aggregate": "aggregate UDF", "window": "window UDF"}
KIND_ARTICLES: dict[str, str] = {"scalar": "a", "aggregate": "an", "window": "a"}
#: the three header bytes after the magic, in order, as datafusion names them when missing
HEADER_BYTES: tuple[str, ...] = ("wire-format version", "Python major version", "Python minor version")
ENVELOPE_TRUNCATIONS: dict[str, str] = {
    "version": "Truncated extension codec payload: missing envelope version byte",
    "id_len": "Truncated extension codec payload: missing codec id length",
    "id": "Truncated extension codec payload: codec id shorter than its declared length",
}
#: each framing problem (its id) -> the error catalog entry of datafusion's text for it
PROBLEM_CATALOG_IDS: dict[str, str] = {
    "dfpy-wire-version": "wire-version-unsupported",
    "dfpy-envelope-version": "envelope-version-unsupported",
    "dfpy-truncated": "header-truncated",
    "dfpy-envelope-truncated": "envelope-truncated",
    "dfpy-envelope-codec-id": "envelope-codec-id-invalid",
    "dfpy-family-mismatch": "family-mismatch",
}
ANON_SENTENCE = (
    "This payload was written by a codec installed from a bare PyCapsule, which carries no portable "
    "identity. Pass `codec_id=` when installing it if plans must cross sessions."
)


@dataclass
class Envelope:
    """One ``DFPYCHN`` wrapper: which installed codec wrote the inner bytes."""

    version: int | None  # None when the version byte is missing
    codec_id: str | None  # None when truncated
    offset: int  # absolute offset of the "DFPYCHN" magic
    id_len: int | None = None
    inner_offset: int | None = None  # absolute offset of the wrapped bytes


@dataclass
class FunDefinition:
    """The framing of one ``fun_definition`` field."""

    offset: int  # absolute offset of the fun_definition bytes
    size: int
    envelope: Envelope | None = None  # the outermost envelope
    envelopes: list[Envelope] = field(default_factory=list)  # outermost first
    family: str | None = None  # "DFPYUDF" | "DFPYUDA" | "DFPYUDW"; None for foreign bytes
    kind: str | None = None  # "scalar" | "aggregate" | "window"
    wire_version: int | None = None
    python: tuple[int, int] | None = None
    stream: bytes = b""  # the cloudpickle stream
    stream_offset: int | None = None
    inner: bytes = b""  # the innermost bytes when they are not a DFPY frame (a foreign codec's)
    inner_offset: int | None = None
    problems: list[Finding] = field(default_factory=list)


def kind_label(kind: str | None) -> str:
    return KIND_LABELS.get(kind or "", f"{kind} UDF")


def python_mismatch_message(kind: str, sent: tuple[int, int], running: tuple[int, int]) -> str:
    return (
        f"Inline Python {kind_label(kind)} payload was serialized on Python {sent[0]}.{sent[1]} but this "
        f"process is running Python {running[0]}.{running[1]}. cloudpickle payloads are not portable across "
        "Python minor versions. Align Python versions on sender and receiver."
    )


def _range_text(r: range) -> str:
    return f"v{r.start}..=v{r.stop - 1}"


def wire_version_message(kind: str, v: int) -> str:
    return (
        f"Inline Python {kind_label(kind)} payload wire-format version v{v}; this build supports "
        f"{_range_text(SUPPORTED_WIRE_VERSIONS)}. Align datafusion-python versions on sender and receiver."
    )


def envelope_version_message(v: int) -> str:
    return (
        f"Extension codec payload envelope version v{v}; this build supports "
        f"{_range_text(SUPPORTED_ENVELOPE_VERSIONS)}. Align datafusion-python versions on sender and receiver."
    )


def truncated_header_message(kind: str, missing: int) -> str:
    """``missing`` = index into HEADER_BYTES of the first absent byte."""
    return f"Truncated inline Python {kind_label(kind)} payload: missing {HEADER_BYTES[missing]} byte"


def codec_missing_message(kind: str, codec_id: str, installed: list[str]) -> str:
    what = f"{KIND_ARTICLES.get(kind, 'a')} {kind_label(kind)}"
    have = (
        f"installed: {', '.join(installed)}"
        if installed
        else "no extension codecs are installed on this session"
    )
    text = (
        f"{what} was encoded by extension codec '{codec_id}', which is not installed on this session ({have})"
    )
    if codec_id.startswith("anon:"):
        text += f". {ANON_SENTENCE}"
    return text


def _problem(pid: str, offset: int, said: str) -> Finding:
    """A framing problem: ``said`` is datafusion's own text for it, shown as it is."""
    return Finding(
        id=pid, severity="error", layer="dfpy", offset=offset, datafusion_text=said, lead="",
        catalog_id=PROBLEM_CATALOG_IDS[pid],
    )  # fmt: skip


def parse_fun_definition(data: bytes, origin: int, kind: str | None = None) -> FunDefinition:
    """Read the envelope chain and the DFPY header of a ``fun_definition``.

    ``kind`` is what the carrying node says (scalar/aggregate/window); it names the kind in messages when
    the bytes do not (foreign or truncated frames). Never raises on bad framing: problems are findings
    carrying datafusion's own error text (``datafusion_text``) and its catalog id, because the receiver would
    raise exactly that.
    """
    fd = FunDefinition(offset=origin, size=len(data), kind=kind)
    pos = 0
    end = len(data)
    # datafusion sets no limit on nested envelopes (a chain of 70 decodes); each one takes >= 12 bytes, so
    # this loop is linear in the payload
    while data.startswith(ENVELOPE_MAGIC, pos):
        env = Envelope(version=None, codec_id=None, offset=origin + pos)
        fd.envelopes.append(env)
        fd.envelope = fd.envelopes[0]
        p = pos + len(ENVELOPE_MAGIC)
        if p >= end:
            fd.problems.append(
                _problem("dfpy-envelope-truncated", origin + p, ENVELOPE_TRUNCATIONS["version"])
            )
            return fd
        env.version = data[p]
        if env.version not in SUPPORTED_ENVELOPE_VERSIONS:
            fd.problems.append(
                _problem("dfpy-envelope-version", origin + p, envelope_version_message(env.version))
            )
            return fd
        p += 1
        if p + 4 > end:
            fd.problems.append(
                _problem("dfpy-envelope-truncated", origin + p, ENVELOPE_TRUNCATIONS["id_len"])
            )
            return fd
        (env.id_len,) = struct.unpack_from("<I", data, p)
        p += 4
        if p + env.id_len > end:
            fd.problems.append(_problem("dfpy-envelope-truncated", origin + p, ENVELOPE_TRUNCATIONS["id"]))
            return fd
        raw_id = bytes(data[p : p + env.id_len])
        try:
            env.codec_id = raw_id.decode("utf-8")
        except UnicodeDecodeError as exc:
            env.codec_id = raw_id.decode("utf-8", "replace")
            fd.problems.append(
                _problem(
                    "dfpy-envelope-codec-id",
                    origin + p + exc.start,
                    f"Extension codec payload carries a non-UTF-8 codec id: {_rust_utf8_error(raw_id, exc)}",
                )
            )
        pos = p + env.id_len
        env.inner_offset = origin + pos
    _parse_header(fd, data, pos, origin)
    return fd


def _parse_header(fd: FunDefinition, data: bytes, pos: int, origin: int) -> None:
    magic = bytes(data[pos : pos + 7])
    family = magic.decode("latin-1") if magic in _FAMILY_BYTES else None
    if family is None:
        fd.inner = bytes(data[pos:])
        fd.inner_offset = origin + pos
        return
    fd.family = family
    node_kind, fd.kind = fd.kind, FAMILIES[family]
    if node_kind is not None and node_kind != fd.kind:
        fd.problems.append(  # datafusion's text names the codec of the plan: check words it (catalog)
            Finding(
                id="dfpy-family-mismatch", severity="error", layer="dfpy", offset=origin + pos,
                message=f"{family} payload ({fd.kind}) sits in a {node_kind} function node",
                catalog_id=PROBLEM_CATALOG_IDS["dfpy-family-mismatch"],
            )
        )  # fmt: skip
    head = data[pos + 7 : pos + HEADER_SIZE]
    # datafusion's order: version byte, version check, then the two Python bytes
    if head:
        fd.wire_version = head[0]
        if fd.wire_version not in SUPPORTED_WIRE_VERSIONS:
            fd.problems.append(
                _problem(
                    "dfpy-wire-version", origin + pos + 7, wire_version_message(fd.kind, fd.wire_version)
                )
            )
    if len(head) < 3:
        if not fd.problems or fd.problems[-1].id != "dfpy-wire-version":
            where = origin + pos + 7 + len(head)
            fd.problems.append(
                _problem("dfpy-truncated", where, truncated_header_message(fd.kind, len(head)))
            )
        return
    fd.python = (head[1], head[2])
    # the stream is kept even for an unknown wire version: the best guess an inspector has
    fd.stream = bytes(data[pos + HEADER_SIZE :])
    fd.stream_offset = origin + pos + HEADER_SIZE


_FAMILY_BYTES = {f.encode("ascii") for f in FAMILIES}


def _rust_utf8_error(raw: bytes, exc: UnicodeDecodeError) -> str:
    """Rust's ``Utf8Error`` Display: what ``String::from_utf8`` reports for the codec id."""
    if exc.reason == "unexpected end of data":
        return f"incomplete utf-8 byte sequence from index {exc.start}"
    return f"invalid utf-8 sequence of {exc.end - exc.start} bytes from index {exc.start}"


#: every magic a fun_definition can start with
MAGICS = (ENVELOPE_MAGIC, *(f.encode() for f in FAMILIES))


def stray_frames(blob: bytes, origin: int, accounted: set[int]) -> list[tuple[int, bytes, str]]:
    """DFPY frames in ``blob`` the typed reading did not account for: (absolute offset, bytes, kind).

    The net under the field tables: a payload under a node they do not expand is still a payload a receiver
    decodes (and runs). A frame is a length-delimited protobuf field whose bytes start with a magic; its
    length prefix is read backwards from the magic. ``accounted`` holds the absolute offsets of the payloads
    the reading found (and their envelopes' inner frames).
    """
    found: list[tuple[int, bytes, str]] = []
    pos = blob.find(b"DFPY")
    while pos >= 0:
        start = origin + pos
        magic = next((m for m in MAGICS if blob.startswith(m, pos)), None)
        if magic is not None and start not in accounted:
            body = _length_delimited(blob, pos)
            if body is not None:
                kind = FAMILIES.get(magic.decode(), "scalar")
                found.append((start, body, kind))
        pos = blob.find(b"DFPY", pos + 4)
    return found


def _length_delimited(blob: bytes, pos: int) -> bytes | None:
    """The bytes of the length-delimited field whose content starts at ``pos``, or None when none does."""
    for width in range(1, 6):
        start = pos - width
        if not _len_tag_before(blob, start):
            continue
        value, shift, p = 0, 0, start
        while p < pos and blob[p] & 0x80:
            value |= (blob[p] & 0x7F) << shift
            shift += 7
            p += 1
        if p != pos - 1:
            continue
        value |= blob[p] << shift
        if pos + value <= len(blob):
            return blob[pos : pos + value]
    return None


def _len_tag_before(blob: bytes, end: int) -> bool:
    """A one- or two-byte protobuf tag of wire type LEN ends just before ``end`` (field numbers below 2048)."""
    if end < 1 or blob[end - 1] >= 0x80:
        return False
    return blob[end - 1] & 7 == 2 or (end >= 2 and blob[end - 2] >= 0x80 and blob[end - 2] & 7 == 2)
