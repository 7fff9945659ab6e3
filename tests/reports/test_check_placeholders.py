"""`check` on blobs with placeholders ($1, $name): a logical plan serialized from ``ctx.sql(query)`` without
``param_values`` cannot run anywhere (datafusion-python 55 binds no value in a decoded plan), an expression
needs its values bound by whoever runs it (``eval --param`` does). Each test first runs the blob with
datafusion and takes its own words, then compares check's prediction, and explain's reading, with them."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import Expr, LogicalPlan, SessionContext
from support.cli import run_cli

from datafusion_exprtool.catalog.match import normalize
from datafusion_exprtool.reports.check.report import check_bytes
from datafusion_exprtool.reports.explain import explain, explain_with_blob

NAMED = re.compile(r"Placeholder '([^']+)' was not provided a value for execution")


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ph") / "t"
    root.mkdir()
    ids = pa.array(range(100), pa.int64())
    pq.write_table(pa.table({"id": ids, "s": pa.array([f"s{i % 3}" for i in range(100)])}), root / "p0.parquet")
    return root


def _ctx(table: Path) -> SessionContext:
    ctx = SessionContext()
    ctx.register_parquet("t", str(table) + "/")
    return ctx


def _run_plan(table: Path, blob: bytes) -> str | None:
    """datafusion's error running the decoded plan on a fresh receiver (None: it ran)."""
    receiver = _ctx(table)
    try:
        receiver.create_dataframe_from_logical_plan(LogicalPlan.from_bytes(receiver, blob)).collect()
    except Exception as exc:
        return str(exc)
    return None


QUERIES = {
    "one": "select id from t where id > $1",
    "two": "select id + $2 as x from t where id > $1",
    "named": "select id from t where s = $name and id > $1",
    "projection": "select id, $1 as v from t",
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_a_plan_with_an_unbound_placeholder_is_predicted(table: Path, name: str) -> None:
    blob = _ctx(table).sql(QUERIES[name]).logical_plan().to_bytes()
    actual = _run_plan(table, blob)
    assert actual is not None and NAMED.search(actual), actual  # datafusion: the plan cannot run
    report = check_bytes(blob)
    [found] = [f for f in report.errors if f.id == "plan-placeholder-unbound"]
    assert found.datafusion_text and found.datafusion_text in normalize(actual), (found.datafusion_text, actual)
    assert NAMED.search(actual).group(1) in found.message  # the one datafusion names is among those listed
    assert "param_values" in found.fix and "--param" not in found.fix.split("(")[0]
    assert explain(actual)[0].id == "plan-placeholder-unbound"
    assert explain_with_blob(actual, data=blob)[0].id == "plan-placeholder-unbound"


def test_the_fix_works_and_a_bound_plan_is_clean(table: Path) -> None:
    """The fix check gives: bind on the driver, then serialize. That plan runs, and check says nothing of it."""
    ctx = _ctx(table)
    bound = ctx.sql(QUERIES["named"], param_values={"name": "s1", "1": 50}).logical_plan().to_bytes()
    assert _run_plan(table, bound) is None
    assert not [f for f in check_bytes(bound).findings if "placeholder" in f.id]


def test_check_cli_exits_1_on_an_unbound_plan(table: Path, tmp_path: Path) -> None:
    blob = tmp_path / "ph.logical.bin"
    blob.write_bytes(_ctx(table).sql(QUERIES["one"]).logical_plan().to_bytes())
    r = run_cli("check", str(blob))
    assert r.exit_code == 1, r.output
    assert "plan-placeholder-unbound" in r.stdout and "param_values" in r.stdout and "$1" in r.stdout


def test_an_expression_with_placeholders_is_a_warning_that_names_param(table: Path, tmp_path: Path) -> None:
    """eval replays an expression's placeholders with --param: check warns (whoever runs it must bind them)
    and names both fixes; datafusion's own error, running it unbound, is the text check quotes."""
    ctx = _ctx(table)
    expr = ctx.table("t").parse_sql_expr("id > $1 AND s = $2")
    blob = expr.to_bytes()
    receiver = _ctx(table)
    with pytest.raises(Exception) as caught:
        receiver.table("t").filter(Expr.from_bytes(blob)).collect()
    actual = str(caught.value)
    report = check_bytes(blob)
    assert not report.errors
    [found] = [f for f in report.warnings if f.id == "expr-placeholder-unbound"]
    assert found.datafusion_text in normalize(actual), (found.datafusion_text, actual)
    assert "$1" in found.message and "$2" in found.message
    assert "--param" in found.fix
    assert explain_with_blob(actual, data=blob)[0].id == "expr-placeholder-unbound"
    path = tmp_path / "ph.expr.bin"
    path.write_bytes(blob)
    assert run_cli("check", str(path)).exit_code == 0
    assert run_cli("check", str(path), "--fail-on", "warning").exit_code == 1
    # the fix it names: eval binds them (datafusion's own binding of the same values gives the same rows)
    r = run_cli("eval", str(path), str(table), "--isolate", "none", "--filter", "--param", "$1=50",
                "--param", "$2='s1'", "-f", "ndjson", "-q")  # fmt: skip
    assert r.exit_code == 0, r.output
    want = ctx.sql("select * from t where id > $1 and s = $2", param_values={"1": 50, "2": "s1"}).count()
    assert len(r.stdout.splitlines()) == want > 0
