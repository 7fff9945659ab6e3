"""proto.scan fuzzed: random bytes raise only DecodeError, and one-byte mutations of datafusion's own blobs
are refused by scan exactly when datafusion (prost) refuses them."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.decoding import df_decodes
from support.exprs import EXPRS

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.proto.roots import ROOT_MESSAGES
from datafusion_exprtool.layers.proto.scan import detect_message, scan


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    for message in ROOT_MESSAGES:
        try:
            scan(data, message)
        except DecodeError:
            pass
    try:
        detect_message(data)
    except DecodeError:
        pass


SEEDS = [EXPRS[n].to_bytes() for n in ("alias_plus", "case", "sum_over", "in_list", "literals", "cast")]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS), st.integers(min_value=0), st.integers(min_value=0, max_value=255), st.booleans()
)
def test_mutations_agree_with_datafusion(seed: bytes, where: int, byte: int, insert: bool) -> None:
    """A one-byte change: scan refuses it (or flags the depth) exactly when prost refuses it."""
    i = where % len(seed)
    blob = seed[:i] + bytes([byte]) + seed[i + (0 if insert else 1) :]
    ok, text = df_decodes(blob)
    prost_refuses = "failed to decode Protobuf message" in text
    try:
        res = scan(blob, "LogicalExprNode")
    except DecodeError as err:
        assert prost_refuses or "Missing required field" in str(err), (blob.hex(), str(err))
        return
    assert prost_refuses == res.exceeds_limit, (blob.hex(), text)
