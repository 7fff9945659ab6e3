"""An FFI UDF end to end: it can only travel by name (fact sheet §2.6). A real one, from datafusion-extra-functions
(``skewness``, an FFI aggregate): inspect names its transport, check predicts datafusion's refusal on a receiver
that lacks it and is clean on one that registers it, explain maps datafusion's text to check's id, and eval
replays it through a worker ctx that registers it."""

from __future__ import annotations

import pickle
from pathlib import Path

import datafusion_extra_functions as extra
import pyarrow as pa
import pyarrow.parquet as pq
from datafusion import SessionContext, col, udaf
from support.blobs import raised
from support.cli import run_cli

from datafusion_exprtool.inspection.pipeline import inspect_bytes
from datafusion_exprtool.reports.check.report import check_bytes
from datafusion_exprtool.reports.check.target import Target, target_from_ctx
from datafusion_exprtool.reports.explain import explain_with_blob

WORKERS = """
import datafusion_extra_functions as extra
from datafusion import SessionContext, udaf

def make_ctx():
    ctx = SessionContext()
    ctx.register_udaf(udaf(extra.udaf_by_name("skewness")))
    return ctx
"""


def skewness():
    return udaf(extra.udaf_by_name("skewness"))


def _blob() -> bytes:
    return pickle.dumps(skewness()(col("a")))


def test_inspect_reports_by_name_transport() -> None:
    ins = inspect_bytes(_blob())
    fns = {f.name: (f.kind, f.transport) for f in ins.functions}
    assert fns == {"skewness": ("aggregate", "by_name")}
    assert ins.safety.verdict == "data"  # nothing but a name travels
    assert ins.payloads[0].rendered == skewness()(col("a")).canonical_name()


def test_check_predicts_datafusions_refusal_and_explain_agrees() -> None:
    blob = _blob()
    actual = raised(lambda: pickle.loads(blob))  # a plain receiver: nothing registered
    report = check_bytes(blob, Target())
    assert [f.id for f in report.errors] == ["by-name-not-registered"]
    assert report.errors[0].datafusion_text in str(actual)
    found = explain_with_blob(f"{type(actual).__name__}: {actual}", data=blob)
    assert found[0].id == "by-name-not-registered"
    assert found[0].fields["function"] == "skewness"


def test_check_is_clean_on_a_ctx_that_registers_it() -> None:
    ctx = SessionContext()
    ctx.register_udaf(skewness())
    assert not check_bytes(_blob(), target_from_ctx(ctx)).errors


def test_eval_replays_it_in_a_worker_that_registers_it(tmp_path: Path) -> None:
    data = {"a": [1.0, 2.0, 4.0, 8.0, 30.0]}
    pq.write_table(pa.table(data), tmp_path / "d.parquet")
    blob = tmp_path / "skew.pkl"
    blob.write_bytes(_blob())
    (tmp_path / "workers.py").write_text(WORKERS)
    expected = SessionContext().from_pydict(data).aggregate([], [skewness()(col("a")).alias("s")]).to_pydict()["s"]
    r = run_cli(
        "eval", str(blob), str(tmp_path / "d.parquet"), "--worker-ctx", f"{tmp_path / 'workers.py'}:make_ctx",
        "--isolate", "none", "-f", "csv", "-q",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert float(r.stdout.strip().splitlines()[-1]) == expected[0]
    r = run_cli("eval", str(blob), str(tmp_path / "d.parquet"), "--isolate", "none", "-q")
    assert r.exit_code == 4 and "skewness" in r.stderr
