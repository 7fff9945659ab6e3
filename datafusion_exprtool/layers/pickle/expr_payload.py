"""Find the protobuf payloads of ``pickle.dumps(expr)`` in a statically walked pickle (fact sheet §3).

``Expr.__reduce__`` is ``(getattr(Expr, '_reconstruct'), (expr.to_bytes(),))``; protocols 0-2 write the bytes as
``_codecs.encode(<latin-1 str>, 'latin1')``. We match that shape on the symbolic ``Call`` nodes of the machine,
one per REDUCE site, so an Expr referenced twice through the memo counts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datafusion_exprtool.layers.pickle.values import Call, Global
from datafusion_exprtool.layers.pickle.vm import PickleResult

#: (module, name) pairs of the pieces of the pattern, as pickle writes them on protocols 0-5
GETATTR = {("builtins", "getattr"), ("__builtin__", "getattr")}
EXPR_CLASS = {("datafusion.expr", "Expr")}
RECONSTRUCT = "_reconstruct"
CODECS_ENCODE = {("_codecs", "encode")}


def is_latin1_codec(name: str) -> bool:
    """Whether Python's codec lookup resolves ``name`` to latin-1, as ``_codecs.encode`` would: lower case,
    runs of punctuation collapsed (``'latin\\x11'`` is ``latin``), then the stdlib alias table. Replicated
    rather than asked: ``codecs.lookup`` imports the module a name points to, and this name comes from the blob.
    """
    from encodings import aliases, normalize_encoding

    if "\x00" in name:  # the lookup refuses an embedded NUL
        return False
    norm = normalize_encoding(name.lower().replace(" ", "_"))
    return (aliases.aliases.get(norm) or aliases.aliases.get(norm.replace(".", "_")) or norm) == "latin_1"


@dataclass
class ExprPayload:
    data: bytes  # the LogicalExprNode protobuf bytes (== Expr.to_bytes())
    offset: int | None  # absolute offset of data[0] when verbatim, else of the REDUCE of _codecs.encode
    via: str  # "bytes" (BINBYTES/SHORT_BINBYTES/BINBYTES8: offsets map 1:1) | "_codecs.encode" (re-encoded str)
    call_offset: int = 0  # absolute offset of the REDUCE that rebuilds the Expr


def _is_global(value: Any, names: set[tuple[str, str]]) -> bool:
    return isinstance(value, Global) and (value.module, value.name) in names


def is_reconstruct(func: Any) -> bool:
    """``getattr(datafusion.expr.Expr, '_reconstruct')`` as a symbolic call."""
    return (
        isinstance(func, Call)
        and _is_global(func.func, GETATTR)
        and isinstance(func.args, tuple)
        and len(func.args) == 2
        and _is_global(func.args[0], EXPR_CLASS)
        and func.args[1] == RECONSTRUCT
    )


def _payload(result: PickleResult, arg: Any) -> tuple[bytes, int | None, str] | None:
    if isinstance(arg, bytes):
        return arg, result.offset_of(arg), "bytes"
    if (
        isinstance(arg, Call)
        and _is_global(arg.func, CODECS_ENCODE)
        and isinstance(arg.args, tuple)
        and len(arg.args) == 2
        and isinstance(arg.args[0], str)
        and isinstance(arg.args[1], str)
        and is_latin1_codec(arg.args[1])
    ):
        text = arg.args[0]
        try:
            data = text.encode("latin-1")
        except UnicodeEncodeError:
            return None  # not something Expr.to_bytes() could have produced
        return data, arg.offset, "_codecs.encode"
    return None


def readable_payload(result: PickleResult, arg: Any) -> bool:
    """Whether ``Expr._reconstruct(arg)``'s bytes are ones this reading recovers (literal bytes, or the latin-1
    text protocols 0-2 write): any other encoding hides the payload, so the safety reading flags it."""
    return _payload(result, arg) is not None


def find_expr_payloads(result: PickleResult) -> list[ExprPayload]:
    """Every Expr rebuilt by the pickle, in stream order (one per REDUCE site)."""
    found: list[ExprPayload] = []
    for node in result.calls:
        if not isinstance(node, Call) or not is_reconstruct(node.func):
            continue
        if not isinstance(node.args, tuple) or len(node.args) != 1:
            continue
        hit = _payload(result, node.args[0])
        if hit is not None:
            data, offset, via = hit
            found.append(ExprPayload(data, offset, via, node.offset))
    return found
