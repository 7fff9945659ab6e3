"""Leaf runs: a repeated field whose entries are all literal leaves, validated a run at a time.

A ``x IN (1, 2, …)`` list or a call with many literal arguments is a long stretch of tiny, identically
shaped entries. ``scan`` hands such a stretch to ``leaf_run``, which steps over it with one possessive
regex per chunk instead of a Python loop per entry, and stops before the first entry that does not fit,
so the generic walk reads that one (and raises every error, at the same offset). The switch that turns
this off (``FAST_RUNS``) stays in ``scan``, where it is read.
"""

from __future__ import annotations

import re

LEAF = "ScalarValue"  # the grandchild type of a leaf: LogicalExprNode{literal{…}}, PhysicalExprNode{…}
RUN_RETRY = 1024  # bytes without run attempts after one that failed: odd leaves cost no regex each
_RUN_CHUNK = 1 << 17  # bytes per regex match: bounds sre's backtracking memory where ++ is missing
_RUN_PATTERNS: dict[tuple[int, int], list[tuple[re.Pattern[bytes], int]]] = {}
_HIGH = bytes(range(0x80, 0x100))


def leaf_keys(acts: dict[int, object]) -> bytes:
    """One-byte keys of a type's literal arms (fields of type ScalarValue).

    An entry ``t len lit len arm value`` of a repeated field of that type, with ``arm`` a varint / i64 /
    i32 arm of ScalarValue, is one the generic walk accepts in its inline path (or, for 10-byte varints,
    through the careful reader), adding two nodes two levels below the repeated field's message.
    """
    return bytes(
        k for k, a in acts.items() if k < 128 and a.__class__ is tuple and a[2] is None and a[3] == LEAF
    )


def run_patterns(spec: tuple) -> list[tuple[re.Pattern[bytes], int]]:
    """Regexes of a run of leaf entries and their stride (0: count entries by their 6 low bytes).

    Varint entries ``t k+3 lit k+1 arm <k-byte varint>`` for k = 1..10 (continuation bytes >= 0x80, the
    last < 0x80, a 10th at most 1, as prost checks); fixed-width entries have a constant stride.
    """
    pats = _RUN_PATTERNS.get(spec[:2])
    if pats is None:
        key, lits, varint, i64, i32 = spec

        def cls(bs: bytes) -> bytes:
            return b"[" + b"".join(b"\\x%02x" % c for c in bs) + b"]"

        def head(n: int, arms: bytes) -> bytes:
            return b"\\x%02x\\x%02x" % (key, n + 3) + cls(lits) + b"\\x%02x" % (n + 1) + cls(arms)

        pats = []
        if varint:
            alts = [
                head(k, varint)
                + b"[\\x80-\\xff]" * (k - 1)
                + (b"[\\x00\\x01]" if k == 10 else b"[\\x00-\\x7f]")
                for k in range(1, 11)
            ]
            pats.append((_repeat(b"|".join(alts)), 0))
        for arms, width in ((i64, 8), (i32, 4)):
            if arms:
                pats.append((_repeat(head(width, arms) + b"[\\x00-\\xff]{%d}" % width), width + 5))
        _RUN_PATTERNS[spec[:2]] = pats
    return pats


def _repeat(one: bytes) -> re.Pattern[bytes]:
    try:  # possessive (Python 3.11+): no backtracking state kept per entry
        return re.compile(b"(?:" + one + b")++")
    except re.error:
        return re.compile(b"(?:" + one + b")+")


def leaf_run(buf: bytes, pos: int, end: int, spec: tuple) -> tuple[int, int]:
    """Step over the leaf entries from ``pos`` (a tag byte); return (position after them, how many).

    Stops before the first entry that does not fit a pattern; the generic walk reads it, so every
    error it raises comes from the generic path, at the same offset.
    """
    pats = run_patterns(spec)
    count = 0
    while pos < end:
        stop = min(end, pos + _RUN_CHUNK)
        m, stride = next(((m, w) for pat, w in pats if (m := pat.match(buf, pos, stop))), (None, 0))
        if m is None:
            break
        e = m.end()
        count += (e - pos) // stride if stride else len(buf[pos:e].translate(None, _HIGH)) // 6
        pos = e
    return pos, count
