"""Errors datafusion raises while a query runs over the data — a value a cast cannot hold or parse, a division
by zero, an arithmetic overflow — are named for what they are, by ``explain`` and by ``eval``'s ``cause:``.

datafusion 55 words them ``DataFusion error: Arrow error: …``, like the Arrow IPC damage of a physical plan's
memory-table rows met while the plan is *decoded*; the catalog used to call every such text
``table-rows-corrupt`` ("altered in transit"), which sent a user with a bad row to re-ship a blob that was
fine. A constant that fails the same way while datafusion simplifies the expression is named as such. Every
text here is raised by datafusion itself, on the committed Parquet fixture.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pyarrow as pa
import pytest
from datafusion import ExecutionPlan, SessionContext, col, udf
from support.blobs import raised
from support.cli import run_cli
from support.decoding import decode_all

from datafusion_exprtool.actions.eval.failure import classify
from datafusion_exprtool.catalog import CATALOG
from datafusion_exprtool.catalog.entry import render
from datafusion_exprtool.catalog.match import normalize
from datafusion_exprtool.reports.explain import explain

#: (SQL over the fixture's table ``t``: a 0..99, b int64, c double, s 'x'/'y'/'z'), the catalog id of the error
#: datafusion raises while running it
DATA_ERRORS = [
    ("select cast(a * 2 as tinyint) from t", "cast-overflow"),  # Can't cast value 128 to type Int8
    ("select arrow_cast(a * 2, 'Int8') from t", "cast-overflow"),
    ("select cast(-a as bigint unsigned) from t", "cast-overflow"),
    ("select cast(c * 1e300 as bigint) from t", "cast-overflow"),  # a float: Can't cast value 2.5e299 …
    ("select cast(cast(a * 1000 as decimal(10, 0)) as tinyint) from t", "cast-overflow"),  # value of … is out of range
    ("select cast(a as decimal(2, 1)) from t", "cast-overflow"),  # … is too large to store in a Decimal128 …
    ("select arrow_cast(c * 1e300, 'Decimal128(5, 2)') from t", "cast-overflow"),  # … Overflowing on …
    ("select cast(s as bigint) from t", "cast-unparseable"),  # Cannot cast string 'x' to value of Int64 type
    ("select cast(s as double) from t", "cast-unparseable"),
    ("select cast(s as boolean) from t", "cast-unparseable"),  # Cannot cast value 'x' to value of Boolean type
    ("select cast(s as timestamp) from t", "cast-unparseable"),  # Parser error: Error parsing timestamp from 'x'
    ("select to_timestamp(s, '%Y-%m-%d') from t", "cast-unparseable"),  # … using format '%Y-%m-%d' …
    # arrow-rs words these two "Invalid argument error", as it does a damaged IPC buffer (table-rows-corrupt)
    ("select arrow_cast(arrow_cast(s, 'Binary'), 'FixedSizeBinary(2)') from t", "cast-bytes-invalid"),
    ("select cast(decode(to_hex(a + 128), 'hex') as varchar) from t", "cast-bytes-invalid"),  # non UTF-8 bytes
    ("select b / (a - 5) from t", "division-by-zero"),
    ("select b % (a - 5) from t", "division-by-zero"),
    ("select cast(b as decimal(10, 0)) / cast(a - 5 as decimal(10, 0)) from t", "division-by-zero"),
    ("select cast(a as decimal(38, 0)) * cast(1e37 as decimal(38, 0)) from t", "arithmetic-overflow"),
    ("select abs(arrow_cast(a - 128, 'Int8')) from t", "arithmetic-overflow"),  # Compute error: … overflow on abs
    ("select factorial(a) from t", "arithmetic-overflow"),  # Execution error: Overflow happened on FACTORIAL(…)
    # a constant is evaluated once, while datafusion simplifies the expression: no row is read
    ("select a + cast(300 as tinyint) from t", "constant-fails"),
    ("select a + cast('x' as int) from t", "constant-fails"),
]
DATA_IDS = {"cast-overflow", "cast-unparseable", "cast-bytes-invalid", "division-by-zero", "arithmetic-overflow"}
VALUE_IDS = DATA_IDS | {"constant-fails"}


@pytest.fixture(scope="module")
def data_errors(small_parquet: Path) -> list[tuple[str, str, str]]:
    """(SQL, expected id, datafusion's text as the user sees it) for each case, raised by datafusion now."""
    ctx = SessionContext()
    ctx.register_parquet("t", str(small_parquet))
    out = []
    for sql, cid in DATA_ERRORS:
        exc = raised(lambda sql=sql: ctx.sql(sql).collect())
        out.append((sql, cid, f"{type(exc).__name__}: {exc}"))
    return out


def test_explain_names_datafusion_errors_on_the_data(data_errors) -> None:
    assert {cid for _, cid, _ in data_errors} == VALUE_IDS
    for sql, cid, text in data_errors:
        found = explain(text)
        assert [e.id for e in found] == [cid], (sql, text)
        entry = found[0].entry
        assert entry.stage == ("execute" if cid in DATA_IDS else "plan") and entry.confidence == "certain"
        assert render(entry.datafusion_text, found[0].fields) in normalize(text), (sql, entry.datafusion_text)
        assert "<" not in found[0].cause, (sql, found[0].cause)  # every field the cause names was read
        assert "--find-rows" in found[0].fix


def test_eval_gives_them_their_cause_and_a_pointer_to_the_rows(data_errors, small_parquet: Path) -> None:
    """eval's classifier (the ``cause:`` line, find-rows' "same failure") agrees with explain."""
    ctx = SessionContext()
    ctx.register_parquet("t", str(small_parquet))
    for sql, cid, _text in data_errors:
        failure = classify(raised(lambda sql=sql: ctx.sql(sql).collect()), "execute" if cid in DATA_IDS else "plan")
        assert failure.catalog_id == cid, (sql, failure.catalog_id, failure.original)
        assert failure.hint == CATALOG[cid].eval_hint.text, (sql, failure.hint)
        assert ("--find-rows" in failure.hint) == (cid in DATA_IDS), (sql, failure.hint)


def test_eval_prints_the_honest_cause(small_parquet: Path, tmp_path: Path) -> None:
    blob = tmp_path / "narrow.bin"
    blob.write_bytes((col("a") * 2).cast(pa.int8()).to_bytes())
    r = run_cli("eval", str(blob), str(small_parquet), "--isolate", "none")
    assert r.exit_code == 4, r.output
    assert "cause: cast-overflow" in r.output and "table-rows-corrupt" not in r.output, r.output
    assert "--find-rows" in r.output, r.output
    said = r.output.split("datafusion: ", 1)[1].strip()
    r = run_cli("explain", said)
    assert r.exit_code == 0 and "cast-overflow" in r.output and "Cast error" in r.output, r.output


def test_explain_says_the_detail_once(data_errors) -> None:
    """The panel's facts line leaves out a ``detail`` the matched text already shows (datafusion's own words,
    once); --json keeps it as a field."""
    for sql, cid, text in data_errors:
        [found] = explain(text)
        assert found.fields["detail"] in found.excerpt, (sql, found.fields)
        r = run_cli("explain", text, columns=400)
        assert r.exit_code == 0 and cid in r.output, (sql, r.output)
        assert "detail=" not in r.output and found.fields["detail"] in r.output, (sql, r.output)
        r = run_cli("explain", text, "--json")
        assert json.loads(r.output)["explanations"][0]["fields"]["detail"] == found.fields["detail"], sql


def test_a_udf_returning_another_type_is_not_rows_damage(small_parquet: Path, tmp_path: Path) -> None:
    """arrow-rs's "Invalid argument error" while the query runs, for a UDF's array of another type than it
    declares: named for the function, by explain and by eval, never as rows damaged in transit."""
    ctx = SessionContext()
    ctx.register_parquet("t", str(small_parquet))
    as_text = udf(lambda a: pa.array([str(v) for v in a.to_pylist()]), [pa.int64()], pa.int64(), "immutable",
                  name="as_text")  # fmt: skip
    exc = raised(lambda: ctx.table("t").select(as_text(col("a"))).collect())
    text = f"{type(exc).__name__}: {exc}"
    assert "Invalid argument error: column types must match schema types" in text, text
    [found] = explain(text)
    assert found.id == "udf-return-type" and found.fields["declared"] == "Int64", found.fields
    assert "Utf8" in found.fields["returned"] and "<" not in found.cause, found.fields
    failure = classify(exc, "execute")
    assert failure.catalog_id == "udf-return-type" and failure.hint == CATALOG["udf-return-type"].eval_hint.text
    blob = tmp_path / "as_text.pkl"
    blob.write_bytes(pickle.dumps(as_text(col("a"))))
    r = run_cli("eval", str(blob), str(small_parquet), "--isolate", "none")
    assert r.exit_code == 4 and "cause: udf-return-type" in r.output and "table-rows-corrupt" not in r.output, r.output


#: one-bit flips of plan_memory.physical.bin's Arrow IPC rows (byte, bit) and the Arrow error kind datafusion 55
#: raises for each when it decodes the plan: the damage table-rows-corrupt still names
DAMAGED_ROWS = [
    (540, 1, "Invalid argument error"),
    (13, 1, "Parser error"),
    (16, 128, "Io error"),
    (21, 4, "Ipc error"),
    (141, 1, "Schema error"),
]


def test_damaged_rows_met_while_decoding_stay_table_rows_corrupt(fixture_set, tmp_path: Path) -> None:
    blob = (fixture_set[0] / "plan_memory.physical.bin").read_bytes()
    paths = []
    for pos, bit, _kind in DAMAGED_ROWS:
        data = bytearray(blob)
        data[pos] ^= bit
        paths.append(tmp_path / f"rows.{pos}.{bit}")
        paths[-1].write_bytes(bytes(data))
    texts = decode_all([(p, "physical") for p in paths])  # a flipped byte may abort: decoded in a child
    for (pos, bit, kind), text in zip(DAMAGED_ROWS, texts, strict=True):
        assert text is not None and f"Arrow error: {kind}: " in text, (pos, bit, text)
        assert [e.id for e in explain(text)] == ["table-rows-corrupt"], (pos, bit, text)


def test_rows_damage_is_not_named_for_a_failure_after_decoding(fixture_set) -> None:
    """Arrow IPC damage is met while a blob is decoded: an Arrow refusal while the query runs is not it."""
    data = bytearray((fixture_set[0] / "plan_memory.physical.bin").read_bytes())
    data[540] ^= 1
    exc = raised(lambda: ExecutionPlan.from_bytes(SessionContext(), bytes(data)))
    assert classify(exc, "decode").catalog_id == "table-rows-corrupt"
    assert classify(exc, "execute").catalog_id is None
    assert CATALOG["table-rows-corrupt"].stage == "decode"
