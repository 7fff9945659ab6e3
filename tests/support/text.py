"""Helpers of the text/ tests: read an expression's bytes as a proto tree and render it; the short names
the literal tables use (``S`` = pyarrow scalar, ``D`` = Decimal, ``dt`` = datetime)."""

from __future__ import annotations

import datetime
import decimal

import pyarrow as pa
from datafusion.expr import Expr

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.canonical import render_expr

S = pa.scalar
D = decimal.Decimal
dt = datetime


def root(b: bytes, kind: str = "LogicalExprNode") -> Msg:
    """The whole of ``b`` as a message of type ``kind``."""
    return Msg(kind, b, 0, len(b))


def rendered(e: Expr) -> str:
    """exprtool's canonical text of ``e``, read from its bytes alone."""
    return render_expr(root(e.to_bytes()))


def varint_by_hand(n: int) -> bytes:
    """A protobuf varint, written out here (not the library's encoder)."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
