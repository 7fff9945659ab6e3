"""layers/pickle/expr_template: the byte-for-byte reading of ``pickle.dumps(expr)`` (protocols 4-5) agrees with
the static machine and its safety rules wherever it answers, and declines everything else.

Pickles are written by datafusion-python's own ``Expr.__reduce__`` (the external corpus, this test's), then
mutated; the full reading (``vm.run`` + ``safety.classify`` + ``find_expr_payloads``) is the reference.
"""

from __future__ import annotations

import pickle

from datafusion import col, lit
from support.external_corpus import entries

from datafusion_exprtool.layers.pickle import expr_template, safety, vm
from datafusion_exprtool.layers.pickle.expr_payload import find_expr_payloads


def _full(data: bytes):
    """(protocol, findings, frame overrun, payloads) as the static machine reads ``data``."""
    result = vm.run(data, 0, layer="pickle")
    payloads = [(p.data, p.offset, p.via, p.call_offset) for p in find_expr_payloads(result)]
    return result.protocol, safety.classify(result, "expr", "pickle"), result.frame_overrun, payloads


def _agrees(data: bytes) -> bool:
    """True when the template answers (and then agrees with the full reading); False when it declines."""
    fast = expr_template.match(data)
    if fast is None:
        return False
    protocol, payload = fast
    assert _full(data) == (protocol, [], None, [(payload.data, payload.offset, "bytes", payload.call_offset)])
    return True


def test_every_pickle_of_the_corpus_it_answers_for_agrees() -> None:
    pickles = [e["blob"] for e in entries() if e["blob"] is not None and e["blob"][:1] == b"\x80"]
    matched = sum(_agrees(blob) for blob in pickles)
    assert len(pickles) > 1000 and matched == sum(b[1] in (4, 5) for b in pickles)  # every protocol 4-5 one


def test_protocols_and_payload_sizes() -> None:
    small, wide = col("a") + lit(1), col("a") + lit("x" * 300)  # SHORT_BINBYTES, BINBYTES
    for expr in (small, wide):
        for protocol in (4, 5):
            assert _agrees(pickle.dumps(expr, protocol=protocol))
        for protocol in (0, 1, 2, 3):  # other shapes: the machine reads them
            assert expr_template.match(pickle.dumps(expr, protocol=protocol)) is None
    big = col("a") + lit("y" * 70_000)  # past the pickler's frame target: the payload is written unframed
    assert expr_template.match(pickle.dumps(big, protocol=5)) is None


def test_every_one_byte_change_is_declined_or_agrees() -> None:
    """Each byte of a template pickle, each bit flipped; and the stream cut or extended: never a wrong answer."""
    data = pickle.dumps(col("a") + lit(1), protocol=4)
    answered = 0
    for pos in range(len(data)):
        for bit in range(8):
            mutated = bytearray(data)
            mutated[pos] ^= 1 << bit
            answered += _agrees(bytes(mutated))
    assert answered > 0  # flips inside the payload keep the stream's shape (the payload is read separately)
    payload = expr_template.match(data)[1]
    outside = len(data) - len(payload.data)
    assert answered == len(payload.data) * 8 + 1  # outside the payload, only PROTO 4 -> 5 is the same shape
    assert outside > 70
    for cut in (data[:-1], data + b".", data + b"\x00", data[:20]):
        assert expr_template.match(cut) is None
