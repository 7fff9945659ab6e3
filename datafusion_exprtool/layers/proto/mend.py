"""A root type refused only for its text: a string field whose bytes are not UTF-8 (damage in transit).

``detect_message`` asks this when no root type reads cleanly: the bytes of a damaged expression may still
read as a plan through a node the field tables do not expand, which would hide the damage.
"""

from __future__ import annotations

from collections.abc import Callable

from datafusion_exprtool.errors import INVALID_UTF8, DecodeError
from datafusion_exprtool.layers.proto.scan_result import ScanResult

#: how many bad string bytes ``text_damage`` mends before it gives up on a reading
MAX_TEXT_REPAIRS = 16


def text_damage(
    buf: bytes,
    origin: int,
    refused: list[tuple[str, DecodeError]],
    scan: Callable[..., ScanResult],
    best: ScanResult | None,
) -> DecodeError | None:
    """The error of a root type that failed only on a string that is not UTF-8, or None.

    Such a blob is that type with its text damaged (prost refuses it), though its bytes may still read as
    another type through a node the tables do not expand: mending each bad byte (a same-length copy) must
    leave a clean reading of it (sensible, nothing unknown or opaque) for the error to be the answer. ``best``
    (the flawed reading detection would take, or None) must not have read the bad bytes (they lie in nodes it
    left opaque) and must have read fewer nodes: a clean plan is never taken for a damaged expression.
    ``scan`` is ``layers.proto.scan.scan`` (passed in: that module calls this one).
    """
    for name, err in refused:
        if err.kind != INVALID_UTF8 or err.offset is None:
            continue
        mended, at = bytearray(buf), err.offset
        bad: list[int] = []
        for _ in range(MAX_TEXT_REPAIRS):
            mended[at - origin] = 0x3F  # "?"
            bad.append(at)
            try:
                res = scan(bytes(mended), name, origin)
            except DecodeError as again:
                if again.kind != INVALID_UTF8 or again.offset is None:
                    break
                at = again.offset
                continue
            if res.sensible and not res.unknown_count and not res.opaque_count and _unread_by(best, bad, res):
                return err
            break
    return None


def _unread_by(best: ScanResult | None, bad: list[int], mended: ScanResult) -> bool:
    """``best`` left every bad byte in a node it did not expand, and read fewer nodes than the mended reading."""
    if best is None:
        return True
    if best.node_count >= mended.node_count or len(best.opaque) < best.opaque_count:  # spans capped: unsure
        return False
    return all(any(o <= at < o + n for _t, o, n in best.opaque) for at in bad)
