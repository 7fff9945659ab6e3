"""proto.semantics: what datafusion's from_proto refuses in bytes prost reads. Each rule is fed a crafted blob
(a fixture with one node dropped, emptied or given an extra field); datafusion must refuse the same bytes,
and its text must contain the finding's message."""

from __future__ import annotations

import pickle

import pytest
from datafusion import ExecutionPlan, Expr, LogicalPlan, SessionContext, col, lit
from support.blobs import ld, rewrite

from datafusion_exprtool.inspection.pipeline import inspect_bytes, inspect_path
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.semantics import IDS, validate
from datafusion_exprtool.reports.check.report import check_bytes

ROOTS = {"expr": "LogicalExprNode", "logical": "LogicalPlanNode", "physical": "PhysicalPlanNode"}


def datafusion_refuses(kind: str, data: bytes) -> str:
    """datafusion's error text for ``data`` (fails the test if datafusion accepts it)."""
    decode = {
        "expr": Expr.from_bytes,
        "logical": lambda b: LogicalPlan.from_bytes(SessionContext(), b),
        "physical": lambda b: ExecutionPlan.from_bytes(SessionContext(), b),
    }[kind]
    try:
        decode(data)
    except Exception as exc:  # noqa: BLE001  (datafusion raises several types)
        return str(exc).replace('\\"', '"').replace("\\\\", "\\").replace('\\"', '"')
    raise AssertionError("datafusion accepted the crafted blob")


BINARY = b"\x1a\x04Plus"  # BinaryExprNode.op = "Plus"
COL_A = ld(1, ld(1, b"a"))  # LogicalExprNode{column: Column{name: "a"}}

CASES = [  # (fixture, kind, (type, field), op, finding id)
    ("alias.expr.bin", "expr", ("AliasNode", "expr"), "empty", "missing-required-field"),
    ("alias.expr.bin", "expr", ("AliasNode", "expr"), "drop", "missing-required-field"),
    ("literals_typed.expr.bin", "expr", ("LogicalExprNode", "literal"), "empty", "missing-required-field"),
    ("cast_try_cast.expr.bin", "expr", ("CastNode", "arrow_type"), "empty", "missing-required-field"),
    ("cast_try_cast.expr.bin", "expr", ("CastNode", "arrow_type"), "drop", "missing-required-field"),
    ("case_searched.expr.bin", "expr", ("WhenThen", "then_expr"), "drop", "missing-required-field"),
    ("like_family.expr.bin", "expr", ("LikeNode", "pattern"), "drop", "missing-required-field"),
    ("between.expr.bin", "expr", ("BetweenNode", "low"), "drop", "missing-required-field"),
    ("window_rows.expr.bin", "expr", ("WindowFrame", "start_bound"), "drop", "missing-required-field"),
    ("scalar_function.expr.bin", "expr", ("ScalarUDFExprNode", "args"), "empty", "missing-required-field"),
    ("plan_memory.physical.bin", "physical", ("FilterExecNode", "expr"), "empty", "missing-required-field"),
    ("plan_memory.physical.bin", "physical", ("FilterExecNode", "input"), "empty", "empty-plan-node"),
    ("binary_ops.expr.bin", "expr", ("LogicalExprNode", "binary_expr"), b"\x1a\x02Et", "unknown-binary-operator"),
    ("alias.expr.bin", "expr", ("LogicalExprNode", "binary_expr"), b"\x1a\x04Plu{", "unknown-binary-operator"),
    ("aggregate_null_treatment.expr.bin", "expr", ("LogicalExprNode", "aggregate_udf_expr"), b"\x38\x09",
     "enum-out-of-range"),
    ("udwf_byname.expr.bin", "expr", ("LogicalExprNode", "window_expr"), b"\x58\x02", "enum-out-of-range"),
    ("window_rows.expr.bin", "expr", ("WindowExprNode", "window_frame"), b"\x08\x09", "enum-out-of-range"),
    ("window_rows.expr.bin", "expr", ("WindowFrame", "start_bound"), b"\x08\x03", "enum-out-of-range"),
    ("cast_try_cast.expr.bin", "expr", ("CastNode", "arrow_type"), b"\xb8\x01\x07", "enum-out-of-range"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "kind", "target", "op", "cid"), CASES, ids=[f"{c[2][0]}.{c[2][1]}-{c[4]}" for c in CASES]
)
def test_rule_matches_datafusion(fixture_set, name, kind, target, op, cid):
    blobs, _ = fixture_set
    data = rewrite((blobs / name).read_bytes(), ROOTS[kind], target, op)
    text = datafusion_refuses(kind, data)
    found = validate(Msg(ROOTS[kind], data, 0, len(data)))
    assert found, text
    assert found[0].id == cid
    assert found[0].datafusion_text in text
    assert all(f.layer == "protobuf" and f.offset is not None for f in found)
    report = check_bytes(data, message=kind)
    assert found[0].datafusion_text in [f.datafusion_text for f in report.errors]


def test_binary_with_one_operand():
    data = ld(4, ld(1, COL_A) + BINARY)  # LogicalExprNode{binary_expr{operands: [a], op: Plus}}
    text = datafusion_refuses("expr", data)
    found = validate(Msg("LogicalExprNode", data, 0, len(data)))
    assert [f.id for f in found] == ["binary-operands"]
    assert found[0].datafusion_text in text
    assert found[0].offset == 2  # the BinaryExprNode body


def test_nested_empty_expression_offset_is_absolute():
    inner = ld(1, COL_A) + ld(1, b"") + BINARY  # second operand: an empty LogicalExprNode
    data = ld(4, inner)
    text = datafusion_refuses("expr", data)
    found = validate(Msg("LogicalExprNode", data, 0, len(data), origin=100))
    assert [(f.id, f.datafusion_text) for f in found] == [
        ("missing-required-field", "Missing required field expr_type")
    ]
    assert found[0].datafusion_text in text
    assert found[0].offset == 100 + 2 + len(ld(1, COL_A)) + 2


def test_enum_in_range_and_plain_blobs_are_clean():
    data = ld(4, ld(1, COL_A) + ld(1, COL_A) + BINARY)
    Expr.from_bytes(data)  # datafusion accepts it
    assert validate(Msg("LogicalExprNode", data, 0, len(data))) == []


def test_committed_fixtures_have_no_semantic_finding(fixture_set):
    blobs, _ = fixture_set
    seen = 0
    for path in sorted(blobs.iterdir()):
        if path.suffix not in (".bin", ".pkl"):
            continue
        insp = inspect_path(str(path))
        for payload in insp.payloads:
            assert validate(payload.root) == [], path.name
            seen += 1
        assert not [w for w in insp.warnings if w.id in IDS or w.id.startswith("message-guess")], path.name
    assert seen > 40


def test_deep_blob_does_not_recurse():
    data = COL_A
    for _ in range(5000):
        data = ld(8, ld(1, data))  # Not{expr} nested 5000 times
    assert validate(Msg("LogicalExprNode", data, 0, len(data))) == []
    broken = ld(8, ld(1, b""))
    for _ in range(5000):
        broken = ld(8, ld(1, broken))
    found = validate(Msg("LogicalExprNode", broken, 0, len(broken)))
    assert [f.datafusion_text for f in found] == ["Missing required field expr_type"]


def test_inspect_warns_and_keeps_verdict(fixture_set):
    blobs, _ = fixture_set
    data = rewrite((blobs / "alias.expr.bin").read_bytes(), "LogicalExprNode", ("AliasNode", "expr"), "empty")
    insp = inspect_bytes(data, message="expr")
    warned = [w for w in insp.warnings if w.id in IDS]
    assert warned and all(w.severity == "warning" for w in warned)
    assert insp.safety.verdict == "data"


def test_pickled_expr_with_damage_is_an_error():
    wrapped = pickle.dumps(col("a") == lit(1))
    assert wrapped.count(b"\x1a\x02Eq") == 1
    patched = wrapped.replace(b"\x1a\x02Eq", b"\x1a\x02Et")  # same length: the pickle still reads
    text = "Unsupported binary operator '\"Et\"'"
    try:
        pickle.loads(patched)
    except Exception as exc:  # noqa: BLE001
        assert text in str(exc)
    else:
        raise AssertionError("datafusion accepted the damaged pickle")
    report = check_bytes(patched)
    assert text in [f.datafusion_text for f in report.errors]
    assert not check_bytes(wrapped).errors


def test_detection_without_message_warns_the_guess_is_weak(fixture_set):
    blobs, _ = fixture_set
    data = rewrite((blobs / "alias.expr.bin").read_bytes(), "LogicalExprNode", ("AliasNode", "expr"), "empty")
    insp = inspect_bytes(data)
    assert insp.message == "LogicalExprNode"
    assert [w.id for w in insp.warnings if w.id == "message-guess-weak"] == ["message-guess-weak"]
    report = check_bytes(data)
    assert "message-guess-weak" in [f.id for f in report.warnings]
    assert "Missing required field expr_type" in [f.datafusion_text for f in report.errors]
    assert "message-guess-weak" not in [w.id for w in inspect_bytes(data, message="expr").warnings]


def test_float_literals_datafusion_decodes_have_no_finding():
    """QA: lit(3.14), Float64 inf/-inf and float32 literals travel with an i64/i32 arm: the arm was never
    seen (only varint and length-delimited fields were), so check reported 'Missing required field value'."""
    import pyarrow as pa
    from datafusion import functions as F
    from datafusion.expr import Window, WindowFrame

    window = Window(order_by=[col("a")], window_frame=WindowFrame("range", 1.5, 2.5))
    exprs = [lit(3.14), lit(float("inf")), lit(float("-inf")), lit(pa.scalar(1.5, pa.float32())),
             col("a") + lit(2.5), F.sum(col("a")).over(window)]  # fmt: skip
    for expr in exprs:
        for data in (expr.to_bytes(), pickle.dumps(expr)):
            assert Expr.from_bytes(expr.to_bytes()).canonical_name() == expr.canonical_name()
            assert validate(Msg("LogicalExprNode", expr.to_bytes(), 0, len(expr.to_bytes()))) == []
            report = check_bytes(data)
            assert not report.findings, (expr.canonical_name(), [f.id for f in report.findings])
