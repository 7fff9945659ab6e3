"""The safety verdict against the corpus: every hostile blob (each verified to run code when loaded the normal
way, tests/test_safety_corpus.py) is ``suspicious``, in every carrier; the gray zone (plain cloudpickle output
that runs by-value code while decoding) is ``code`` and says so; no ordinary blob datafusion and cloudpickle
write is ``suspicious``. Inspection itself never runs anything: no canary appears while it reads.
"""

from __future__ import annotations

import keyword
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from datafusion import col, udf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.cli import run_cli
from support.safety_corpus import Case, hostile, legit

from datafusion_exprtool.inspection.pipeline import inspect_bytes


def _inspect(case: Case, tmp_path: Path):
    canary = tmp_path / "canary"
    blob = case.build(canary)
    inspection = inspect_bytes(blob)
    assert not canary.exists(), "inspection ran the blob"
    return inspection


@pytest.mark.parametrize("case", [c for c in hostile() if not c.gray], ids=lambda c: c.name)
def test_hostile_blob_is_suspicious(case: Case, tmp_path: Path) -> None:
    insp = _inspect(case, tmp_path)
    flagged = [f for f in insp.safety.findings if f.verdict == "suspicious"]
    assert insp.safety.verdict == "suspicious", (case.note, [f.message for f in insp.safety.findings])
    assert all(f.offset is not None and f.layer for f in flagged)


@pytest.mark.parametrize("case", [c for c in hostile() if c.gray], ids=lambda c: c.name)
def test_gray_zone_is_code_and_said(case: Case, tmp_path: Path) -> None:
    insp = _inspect(case, tmp_path)
    assert insp.safety.verdict == "code"
    assert any(f.id == "runs-at-decode" for f in insp.safety.findings)


@pytest.mark.parametrize("case", legit(), ids=lambda c: c.name)
def test_ordinary_blob_is_not_suspicious(case: Case, tmp_path: Path) -> None:
    insp = _inspect(case, tmp_path)
    assert insp.safety.verdict != "suspicious", [f.message for f in insp.safety.findings if f.verdict == "suspicious"]


@pytest.mark.parametrize("carrier", ["text-b64", "text-hex", "physical", "udf-window"])
def test_the_ci_gate_fails_on_each_carrier(carrier: str, tmp_path: Path) -> None:
    case = next(c for c in hostile() if c.carrier == carrier and not c.gray)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(case.build(tmp_path / "canary"))
    result = run_cli("inspect", str(blob), "--fail-on", "suspicious", "--json")
    assert result.exit_code == 1, result.output
    assert not (tmp_path / "canary").exists()


# --- property: UDFs over random ordinary values are never suspicious ---------------------------------------
_NAMES = st.text(alphabet="abcdefghij_", min_size=1, max_size=8).filter(lambda s: not keyword.iskeyword(s))


def _ordinary_values() -> st.SearchStrategy:
    import datetime
    import decimal
    import fractions
    import re
    import uuid

    scalars = st.one_of(
        st.integers(), st.floats(allow_nan=False), st.text(max_size=20), st.binary(max_size=20), st.booleans(),
        st.none(), st.decimals(allow_nan=False, allow_infinity=False), st.dates(), st.datetimes(),
        st.timedeltas(), st.fractions(), st.uuids(), st.complex_numbers(allow_nan=False, allow_infinity=False),
        st.builds(re.compile, st.sampled_from(["a+", r"\d{2}", "^x$"])),
        st.builds(datetime.timezone, st.timedeltas(min_value=datetime.timedelta(hours=-12),
                                                    max_value=datetime.timedelta(hours=12))),
        st.builds(lambda v: pa.scalar(v), st.integers(min_value=-(2**62), max_value=2**62)),
        st.just(decimal.Context(prec=6)), st.just(fractions.Fraction(2, 7)), st.just(uuid.UUID(int=7)),
    )  # fmt: skip
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.tuples(inner, inner), st.dictionaries(_NAMES, inner, max_size=4),
            st.frozensets(st.integers(), max_size=4), st.sets(st.text(max_size=4), max_size=4),
        ),
        max_leaves=12,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(captured=_ordinary_values())
def test_udf_closing_over_ordinary_values_is_never_suspicious(captured: object) -> None:
    def scale(a: pa.Array) -> pa.Array:  # a local function: cloudpickle ships it, and what it closes over, by value
        return pc.multiply(a, 2) if captured is not None else a

    expr = udf(scale, [pa.int64()], pa.int64(), "immutable", "scale")(col("a"))
    insp = inspect_bytes(expr.to_bytes())
    assert insp.safety.verdict == "code", [f.message for f in insp.safety.findings]
