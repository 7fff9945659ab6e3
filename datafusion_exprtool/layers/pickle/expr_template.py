"""``pickle.dumps(expr)`` exactly as CPython's pickler writes it on protocols 4 and 5, recognised byte for byte.

``Expr.__reduce__`` gives ``(getattr(datafusion.expr.Expr, '_reconstruct'), (expr.to_bytes(),))``; pickled with
protocol 4 or 5 (``pickle.dumps``' default is 4) that is always the same 70-odd opcode bytes around the payload,
in one frame. Most blobs in a directory of pickled expressions are this stream, so ``inspect`` reads it here
without running the static machine (``vm.run``) and its safety rules (``safety.classify``): for this exact
stream they find nothing to judge (no code, two globals of the grammar, one payload), and tests hold the two
readings equal. Anything else — another protocol, a payload written outside the frame, one byte changed,
anything appended — does not match and takes the full reading.
"""

from __future__ import annotations

from datafusion_exprtool.layers.pickle.expr_payload import ExprPayload

#: after PROTO and FRAME: builtins.getattr, datafusion.expr.Expr, '_reconstruct', TUPLE2, REDUCE, each memoized
HEAD = (
    b"\x8c\x08builtins\x94\x8c\x07getattr\x94\x93\x94"
    b"\x8c\x0fdatafusion.expr\x94\x8c\x04Expr\x94\x93\x94"
    b"\x8c\x0c_reconstruct\x94\x86\x94R\x94"
)
#: after the payload: MEMOIZE, TUPLE1, MEMOIZE, REDUCE, MEMOIZE, STOP
TAIL = b"\x94\x85\x94R\x94."
_START = 11 + len(HEAD)  # PROTO (2 bytes) + FRAME (9 bytes) + HEAD
_SHORT_BINBYTES, _BINBYTES, _BINBYTES8 = 0x43, 0x42, 0x8E


def match(data: bytes) -> tuple[int, ExprPayload] | None:
    """(protocol, the payload) when ``data`` is exactly the pickle of one Expr as protocols 4 and 5 write it;
    None otherwise (then the static machine reads it)."""
    if len(data) < _START + 2 + len(TAIL) or data[0] != 0x80 or data[1] not in (4, 5) or data[2] != 0x95:
        return None
    if int.from_bytes(data[3:11], "little") != len(data) - 11 or data[11:_START] != HEAD:
        return None  # the frame holds the whole rest of the stream, exactly
    op = data[_START]
    if op == _SHORT_BINBYTES:
        size, start = data[_START + 1], _START + 2
    elif op == _BINBYTES:
        size, start = int.from_bytes(data[_START + 1 : _START + 5], "little"), _START + 5
    elif op == _BINBYTES8:
        size, start = int.from_bytes(data[_START + 1 : _START + 9], "little"), _START + 9
    else:
        return None
    end = start + size
    if end + len(TAIL) != len(data) or data[end:] != TAIL:
        return None
    return data[1], ExprPayload(data[start:end], start, "bytes", end + 3)
