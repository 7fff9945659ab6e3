"""explain and check speak the same ids: each blob fails in datafusion for real, check predicts it without
decoding, and explain maps datafusion's actual text (with the blob at hand) to the id check gave."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import pytest
from datafusion import ExecutionPlan, Expr, LogicalPlan, SessionContext, col
from datafusion import functions as F
from support.blobs import envelope_ctx, find_fun_definition, ld, raised, replace_fun_definition, rewrite
from support.exprs import UDF_EXPRS

from datafusion_exprtool.catalog import CATALOG, ENTRIES
from datafusion_exprtool.catalog.entry import render
from datafusion_exprtool.catalog.match import normalize
from datafusion_exprtool.reports.explain import explain_with_blob


def _decode(blob: bytes, ctx=None):
    return lambda: Expr.from_bytes(blob, ctx) if ctx is not None else Expr.from_bytes(blob)


def _check_cases(blobs: Path) -> dict[str, tuple[bytes, object, str | None]]:
    """name -> (blob, what the receiver calls on it, check's --message): each blob fails in datafusion (or
    pickle.loads) for real, at a node check predicts without decoding it."""
    col_a = ld(1, ld(1, b"a"))
    cases: dict[str, tuple[bytes, object, str | None]] = {}
    for protocol in (0, 5):
        p = pickle.dumps(col("a") + 1, protocol=protocol)
        for cut in (len(p) // 2, len(p) - 1):
            cases[f"pickle-cut-p{protocol}-{cut}"] = (p[:cut], lambda d=p[:cut]: pickle.loads(d), None)
    p = bytearray(pickle.dumps(col("a") + 1, protocol=5))
    p[p.index(b"_reconstruct") + len(b"_reconstruct") + 1] = 0x14  # an opcode no pickle has
    cases["pickle-bad-opcode"] = (bytes(p), lambda d=bytes(p): pickle.loads(d), None)
    plan = (blobs / "plan_memory.physical.bin").read_bytes()
    rows = bytearray(plan)
    rows[540] ^= 1  # inside the offsets of a Utf8 column (test_check's flip)
    exprs = {
        "one-operand": ld(4, ld(1, col_a) + b"\x1a\x04Plus"),
        "unknown-op": ld(4, ld(1, col_a) + ld(1, col_a) + b"\x1a\x02Et"),
        "nested-empty-expr": ld(4, ld(1, col_a) + ld(1, b"") + b"\x1a\x04Plus"),
    }
    agg = F.sum(col("a")).to_bytes()
    assert agg[:2] == b"\x9a\x01"  # one aggregate_udf_expr field (19): its body follows the 1-byte length
    exprs["null-treatment-9"] = ld(19, agg[3:] + b"\x38\x09")
    window = (blobs / "window_rows.expr.bin").read_bytes()
    exprs["frame-units-9"] = rewrite(
        window, "LogicalExprNode", ("WindowExprNode", "window_frame"), b"\x08\x09"
    )
    exprs["no-start-bound"] = rewrite(window, "LogicalExprNode", ("WindowFrame", "start_bound"), "drop")
    for name, b in exprs.items():
        cases[name] = (b, _decode(b), "expr")
    physical = {
        "rows-flipped": bytes(rows),
        "empty-input-plan": rewrite(plan, "PhysicalPlanNode", ("FilterExecNode", "input"), "empty"),
        "empty-physical-expr": rewrite(plan, "PhysicalPlanNode", ("FilterExecNode", "expr"), "empty"),
    }
    for name, b in physical.items():
        cases[name] = (b, lambda d=b: ExecutionPlan.from_bytes(SessionContext(), d), "physical")
    logical = (blobs / "plan_parquet.logical.bin").read_bytes()
    b = rewrite(logical, "LogicalPlanNode", ("ProjectionNode", "input"), "empty")
    # datafusion's text is the one an Expr given to LogicalPlan.from_bytes produces: explain --blob tells them apart
    cases["empty-logical-input"] = (b, lambda d=b: LogicalPlan.from_bytes(SessionContext(), d), "logical")
    cases.update(_framing_cases())
    return cases


def _framing_cases() -> dict[str, tuple[bytes, object, str | None]]:
    """DFPY framing damage: cut / non-UTF-8 DFPYCHN envelopes (decoded where the codec is installed) and a
    payload of another UDF kind spliced into a function node."""
    cases: dict[str, tuple[bytes, object, str | None]] = {}
    blob = UDF_EXPRS["scalar"]().to_bytes(envelope_ctx())
    start, end, _kind = find_fun_definition(blob)
    fun = blob[start:end]
    id_len = struct.unpack_from("<I", fun, 8)[0]
    for keep in (7, 8, 12 + id_len - 1):  # no version byte, no id length, id shorter than declared
        b = replace_fun_definition(blob, fun[:keep])
        cases[f"envelope-cut-{keep}"] = (b, _decode(b, envelope_ctx()), "expr")
    b = replace_fun_definition(blob, fun[:12] + b"\xff" + fun[13:])
    cases["envelope-id-not-utf8"] = (b, _decode(b, envelope_ctx()), "expr")
    for node, payload in (("scalar", "aggregate"), ("aggregate", "window"), ("window", "scalar")):
        host = UDF_EXPRS[node]().to_bytes()
        other = UDF_EXPRS[payload]().to_bytes()
        o_start, o_end, _k = find_fun_definition(other)
        b = replace_fun_definition(host, other[o_start:o_end])
        cases[f"{payload}-frame-in-{node}-node"] = (b, _decode(b), "expr")
    return cases


#: the ids check_damage / proto.semantics emit; each must be produced above
CHECK_IDS = {
    "pickle-truncated",
    "pickle-corrupt",
    "table-rows-corrupt",
    "missing-required-field",
    "empty-plan-node",
    "unknown-binary-operator",
    "binary-operands",
    "enum-out-of-range",
    "envelope-truncated",
    "envelope-codec-id-invalid",
    "family-mismatch",
}


@pytest.fixture(scope="module")
def check_cases(fixture_set) -> dict[str, tuple[str, str, str, bytes]]:
    """name -> (check's first error id, its message, the receiver's real error text, the blob)."""
    from datafusion_exprtool.reports.check.report import check_bytes

    out = {}
    for name, (blob, fn, message) in _check_cases(fixture_set[0]).items():
        exc = raised(fn)
        first = check_bytes(blob, message=message).errors[0]
        out[name] = (first.id, first.datafusion_text, f"{type(exc).__name__}: {exc}", blob)
    return out


def test_explain_names_what_check_predicted(check_cases):
    assert CHECK_IDS <= {case[0] for case in check_cases.values()}
    for name, (cid, said, actual, blob) in check_cases.items():
        found = explain_with_blob(actual, data=blob)
        assert found and found[0].id == cid, (name, cid, [e.id for e in found], actual[:300])
        assert said in normalize(actual), (name, said, actual[:300])  # check's text is datafusion's
        template = CATALOG[cid].datafusion_text
        assert render(template, found[0].fields).rstrip(".") in normalize(actual), (name, template)


def test_every_id_check_emits_with_datafusion_text_is_catalogued(check_cases):
    """Static over check's id tables (semantics.IDS, dfpy.PROBLEM_CATALOG_IDS), and over every case produced above."""
    from datafusion_exprtool.layers.dfpy import PROBLEM_CATALOG_IDS as DFPY_IDS
    from datafusion_exprtool.layers.proto.semantics import IDS as SEMANTIC_IDS

    with_text = {e.id for e in ENTRIES if e.datafusion_text}
    emitted = set(SEMANTIC_IDS) | set(DFPY_IDS.values()) | {case[0] for case in check_cases.values()}
    assert CHECK_IDS <= emitted
    assert emitted <= with_text, emitted - with_text
