"""Inputs: paths, directories and stdin, and the container each blob travels in.

A blob is a pickle (protocols 0-5) or a bare protobuf message, either of them possibly pasted from a
CI log as base64 or hex text (whitespace and line breaks tolerated) or as a Python bytes literal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from datafusion_exprtool.errors import EMPTY_INPUT, DecodeError, InputUnreadable
from datafusion_exprtool.model import InputInfo

#: file endings a directory scan passes over: they are never blobs
NOT_BLOBS = {".json", ".parquet", ".md", ".py", ".pyc", ".csv", ".ndjson", ".arrow", ".txt~"}

_HEX = re.compile(rb"\A(?:0x)?[0-9a-fA-F\s]+\Z")
_B64_CHARS = rb"A-Za-z0-9+/=\-_\s"  # the base64 (standard and URL-safe) alphabet, padding and whitespace
_B64 = re.compile(rb"\A[" + _B64_CHARS + rb"]+\Z")
_NOT_B64 = re.compile(rb"[^" + _B64_CHARS + rb"]")
_BINARY = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f-\xff]")  # bytes no pasted text holds
_PROTO0_FIRST = b"c(]}lI" + b"SVFNTLp"  # first opcodes a protocol 0/1 pickle of an Expr can start with


#: the largest input read (bytes); EXPRTOOL_MAX_INPUT overrides it. Reading stops there: /dev/zero ends.
MAX_INPUT = int(os.environ.get("EXPRTOOL_MAX_INPUT", str(2 << 30)))

#: magic numbers of files people pass by mistake: (prefix, what it is, hint)
FOREIGN = (
    (b"PAR1", "a Parquet file", "a data file, not a blob: for eval the blob comes first (exprtool eval BLOB DATA...)"),
    (b"ARROW1", "an Arrow IPC file", "a data file, not a blob"),
    (b"\x89PNG", "a PNG image", "not a blob"),
    (b"PK\x03\x04", "a zip archive", "unpack it first"),
    (b"\x1f\x8b", "gzip data", "decompress it first (gunzip)"),
)


def display_path(source: str) -> str:
    """A file name that is valid UTF-8 whatever bytes the file system gave (for JSON and terminals)."""
    return source.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def foreign_format(raw: bytes) -> tuple[str, str] | None:
    """(what it is, hint) when the bytes are plainly not a blob of any kind."""
    for magic, what, hint in FOREIGN:
        if raw.startswith(magic):
            return what, hint
    head = raw.lstrip()[:1]
    if head in (b"{", b"[") and raw.rstrip()[-1:] in (b"}", b"]"):
        return "a JSON document", "not a blob (an exprtool --json report? inspect the blob it names)"
    return None


@dataclass
class LoadedInput:
    info: InputInfo
    data: bytes  # the blob itself: base64/hex undone


def detect_container(raw: bytes, _depth: int = 0) -> tuple[str, str | None, bytes]:
    """Return (container, text_encoding, decoded bytes) for one blob as read."""
    if not raw:
        return "protobuf", None, raw
    if _looks_like_pickle(raw):
        return "pickle", None, raw
    if not _BINARY.search(raw) and reads_as_protobuf(raw):
        # text-like bytes that are a whole, well-formed message: col("customer_id").to_bytes() is
        # b"\n\r\n\x0bcustomer_id", all base64 characters and whitespace; the raw reading wins
        return "protobuf", None, raw
    if raw[:1] == b"\x80" and len(raw) > 1 and raw[1] > 5:
        raise DecodeError("container", 1, f"pickle protocol {raw[1]}: this Python reads protocols 0-5",
                          "pickle it on the same Python as the receiver")  # fmt: skip
    if raw[:3] == b"\xef\xbb\xbf":  # a UTF-8 byte-order mark an editor put before pasted text
        raw = raw[3:]
    elif raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # text saved as UTF-16
        try:
            raw = raw.decode("utf-16").encode("ascii")
        except (UnicodeError, ValueError):
            pass
    stripped = raw.strip()
    if stripped[:2] in (b"b'", b'b"') and stripped[-1:] in (b"'", b'"'):
        try:
            import ast  # only for pasted b'...' literals

            value = ast.literal_eval(stripped.decode("ascii"))  # a literal, never evaluated code
        except (ValueError, SyntaxError, UnicodeDecodeError):
            value = None
        if isinstance(value, bytes):
            return _nested(value, "python-bytes")
    if stripped and _HEX.match(stripped):
        text = re.sub(rb"\s+", b"", stripped)
        if text[:2] in (b"0x", b"0X"):
            text = text[2:]
        if len(text) % 2 == 0:
            return _nested(binascii.unhexlify(text), "hex")
        if len(text) >= 16:  # long hex-only text is hex, not base64 (which uses the rest of the alphabet)
            raise DecodeError("container", None, f"hex text with an odd number of digits ({len(text)})",
                              "a digit was lost or added: copy the whole blob again")  # fmt: skip
    if stripped and _B64.match(stripped):
        text = re.sub(rb"\s+", b"", stripped)
        try:
            if b"-" in text or b"_" in text:
                decoded = base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
            else:
                decoded = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            decoded = None
        if decoded:
            if _depth == 0 and _B64.match(decoded.strip()) and len(decoded.strip()) >= 16:
                inner = detect_container(decoded, 1)  # base64 of base64 (a blob encoded twice)
                if inner[1] is not None:
                    return inner[0], "base64+" + inner[1], inner[2]
            return _nested(decoded, "base64")
    _refuse_broken_text(raw)
    return "protobuf", None, raw


def reads_as_protobuf(raw: bytes) -> bool:
    """Whether a root message (fact sheet §0) reads the bytes whole, as a real blob does: prost accepts
    them, the root sets exactly one arm of its oneof and no field is unknown. Encoded text never does
    (measured on the base64 and hex texts of every blob of the external corpus), so bytes that read so
    are a protobuf even when every byte of them is a base64 or hex character."""
    from datafusion_exprtool.layers.proto.roots import ROOT_MESSAGES
    from datafusion_exprtool.layers.proto.scan import scan

    for name in ROOT_MESSAGES:
        try:
            if scan(raw, name, max_unknown=0).sensible:
                return True
        except DecodeError:
            continue
    return False


def _refuse_broken_text(raw: bytes) -> None:
    """Text that is almost base64 or hex (a pasted blob with a stray character, a truncated line) is named as
    such, with the offset of the first character that does not belong, instead of being read as protobuf."""
    if len(raw) < 16 or _BINARY.search(raw):
        return  # binary: a protobuf has length and tag bytes below 0x20
    if raw[:1] in _PROTO0_FIRST and re.search(rb"\n[(cVSIFLlt.)]", raw[:256]):
        return  # a protocol 0 pickle (text too), perhaps cut before its STOP: the pickle reader says so
    stray = _NOT_B64.search(raw)
    if stray is not None and len(_NOT_B64.findall(raw)) > len(raw) // 20:
        return  # prose, JSON, SQL...: not an encoded blob (the foreign-format hints cover the usual ones)
    if stray is not None:
        at = stray.start()
        raise DecodeError("container", at, f"text that is almost base64/hex: byte {at} ({chr(raw[at])!r}) does "
                          "not belong", "paste the blob exactly as printed, without surrounding text")  # fmt: skip
    text = re.sub(rb"\s+", b"", raw)
    raise DecodeError("container", None, f"base64/hex-looking text that does not decode ({len(text)} characters: "
                      "a length that is not a whole number of bytes)", "the text was probably cut: copy all of it")  # fmt: skip


def _nested(decoded: bytes, encoding: str) -> tuple[str, str | None, bytes]:
    return ("pickle" if _looks_like_pickle(decoded) else "protobuf"), encoding, decoded


def _looks_like_pickle(data: bytes) -> bool:
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return True
    # protocols 0 and 1 have no PROTO opcode; they end with STOP ('.') and start with an opcode
    return len(data) >= 4 and data.rstrip(b"\r\n")[-1:] == b"." and data[:1] in _PROTO0_FIRST and (
        b"\n" in data[:64] or data[:1] in b"(]}"
    )


def load_bytes(raw: bytes, path: str = "-") -> LoadedInput:
    foreign = foreign_format(raw)
    if foreign is not None:
        raise DecodeError("container", 0, f"{display_path(path)} is {foreign[0]}", foreign[1])
    container, encoding, data = detect_container(raw)
    info = InputInfo(
        path=display_path(path),
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        container=container,
        text_encoding=encoding,
        pickle_protocol=(data[1] if container == "pickle" and data[:1] == b"\x80" else None),
    )
    return LoadedInput(info, data)


def load_input(source: str) -> LoadedInput:
    """Read one blob: a file path, or "-" for stdin. An empty one is refused here, by name: datafusion would
    read zero bytes as an expression lacking its ``expr_type``, which hides that nothing arrived at all."""
    if source == "-":  # a closed stdin (``<&-``: no sys.stdin at all) has nothing to read either
        raw = _read_capped(sys.stdin.buffer, "-") if sys.stdin is not None else b""
        return load_bytes(_not_empty(raw, "stdin"), "-")
    try:
        with open(source, "rb") as fh:
            raw = _read_capped(fh, source)
    except FileNotFoundError:
        raise InputUnreadable(f"{source}: no such file", "check the path") from None
    except IsADirectoryError:
        raise InputUnreadable(f"{source} is a directory", "give one blob file") from None
    except OSError as exc:
        raise InputUnreadable(f"{source}: {exc.strerror or exc}") from None
    return load_bytes(_not_empty(raw, "the file"), str(source))


def _not_empty(raw: bytes, name: str) -> bytes:
    """``raw``, or the error that ``name`` ("the file", "stdin": every command prefixes the path) is empty."""
    if not raw:
        raise DecodeError(
            "container", None, f"{name} is empty (0 bytes): there is no blob to read",
            "the sender wrote nothing, or the copy was lost on the way: write the blob again and check "
            "`len(blob) > 0` on both sides", kind=EMPTY_INPUT,
        )  # fmt: skip
    return raw


def _read_capped(fh, source: str) -> bytes:
    # read(MAX_INPUT + 1) allocates that much (2 GiB) before it reads: a regular file is read at its size
    # (one byte more shows it grew), anything else (a pipe, a device) in one capped read
    raw = b""
    try:
        st = os.fstat(fh.fileno())
    except (OSError, ValueError, AttributeError):  # a stream with no file descriptor
        st = None
    if st is not None and stat.S_ISREG(st.st_mode) and st.st_size <= MAX_INPUT:
        raw = fh.read(st.st_size + 1)
        if len(raw) <= st.st_size:
            return raw
    raw += fh.read(MAX_INPUT + 1 - len(raw))
    if len(raw) > MAX_INPUT:
        raise DecodeError(
            "container", MAX_INPUT, f"{display_path(source)} is larger than {MAX_INPUT:,} bytes",
            "no datafusion blob is that large; set EXPRTOOL_MAX_INPUT to read it anyway",
        )
    return raw


def expand_sources(sources: Iterable[str]) -> Iterator[str]:
    """Paths as given; a directory becomes every blob file in it (sorted, recursively, hidden skipped)."""
    for source in sources:
        if source != "-" and os.path.isdir(source):
            yield from _blob_files(source)
        else:
            yield source


def _name(entry: os.DirEntry) -> str:
    return entry.name


def _blob_files(top: str) -> Iterator[str]:
    """A directory's blob files: its own (sorted) before each subdirectory's (sorted, depth first), as
    ``os.walk`` visits them, but from the directory entries alone (``os.walk`` plus an ``isfile`` per file
    was 10,000 ``stat`` calls for 5,000 blobs). Symbolic links to directories are not followed, unreadable
    directories are skipped, and only regular files are kept: a FIFO or device would block or never end."""
    stack = [top]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                entries = sorted(it, key=_name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            name = entry.name
            if name[0] == ".":
                continue
            try:
                if entry.is_file():  # a regular file, or a link to one
                    _stem, dot, ext = name.rpartition(".")
                    if not dot or (dot + ext).lower() not in NOT_BLOBS:
                        yield entry.path
                elif entry.is_dir() and not entry.is_symlink():
                    subdirs.append(entry.path)
            except OSError:
                continue
        stack.extend(reversed(subdirs))
