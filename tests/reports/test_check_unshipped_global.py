"""A by-value UDF whose code uses a global cloudpickle did not ship: real datafusion decodes the blob in a fresh
worker-like process and fails on the first call with NameError; ``check`` predicts that text from the bytes alone,
``explain`` maps datafusion's actual text to the same id, and nothing ordinary is flagged."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.safety_corpus import legit

from datafusion_exprtool.inspection.pipeline import inspect_bytes
from datafusion_exprtool.reports.check.report import check_bytes
from datafusion_exprtool.reports.explain import explain_with_blob

#: the user's script: a window evaluator class (by value, in __main__) whose method uses a helper class that is
#: no longer in the module's globals when the expression is pickled, so cloudpickle leaves it out
SENDER = textwrap.dedent('''
    import pickle, sys
    import pyarrow as pa
    from datafusion import col, udwf
    from datafusion.user_defined import WindowEvaluator

    class BiasedNumbers:
        def __init__(self, bias):
            self.bias = bias
        def shift(self, arr):
            return pa.compute.add(arr, self.bias)

    class MyEvaluator(WindowEvaluator):
        def evaluate_all(self, values, num_rows):
            return BiasedNumbers(10).shift(values[0])

    def make_evaluator():
        return MyEvaluator()

    w = udwf(make_evaluator, [pa.int64()], pa.int64(), "immutable", "biased")
    del BiasedNumbers
    open(sys.argv[1], "wb").write(pickle.dumps(w(col("a"))))
''')

#: a fresh worker: decode (must succeed), then run the window function over three rows
RECEIVER = textwrap.dedent('''
    import pickle, sys
    from datafusion import SessionContext
    expr = pickle.loads(open(sys.argv[1], "rb").read())
    print("decoded")
    df = SessionContext().from_pydict({"a": [1, 2, 3]})
    try:
        df.select(expr.alias("x")).collect()
    except Exception as exc:
        print(exc)
''')


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """(the blob, what datafusion raised running it in a fresh process)."""
    root = tmp_path_factory.mktemp("unshipped")
    blob = root / "blob.pkl"
    subprocess.run([sys.executable, "-c", SENDER, str(blob)], check=True, cwd=root)
    said = subprocess.run([sys.executable, "-c", RECEIVER, str(blob)], check=True, capture_output=True, text=True,
                          cwd=root).stdout
    return blob.read_bytes(), said


def test_datafusion_decodes_then_fails_at_the_call(failing: tuple[bytes, str]) -> None:
    _, said = failing
    assert said.startswith("decoded\n"), said  # decoding succeeds: the failure is at execution
    assert "Execution error" in said and "NameError" in said


def test_check_predicts_datafusion_text(failing: tuple[bytes, str]) -> None:
    blob, said = failing
    found = [f for f in check_bytes(blob).findings if f.id == "global-not-shipped"]
    assert len(found) == 1 and found[0].severity == "warning" and found[0].function == "biased"
    assert found[0].datafusion_text and found[0].datafusion_text in said
    assert "register_pickle_by_value" in (found[0].fix or "")


def test_explain_maps_the_text_to_the_same_id(failing: tuple[bytes, str]) -> None:
    blob, said = failing
    explained = explain_with_blob(said, inspect_bytes(blob))
    assert explained and explained[0].entry.id == "global-not-shipped"
    assert explained[0].fields.get("name") == "BiasedNumbers"


def _callables(blobs: list[bytes]) -> list:
    out = []
    for blob in blobs:
        try:
            insp = inspect_bytes(blob)
        except Exception:  # noqa: BLE001 - a blob that does not read has no callable to judge
            continue
        out += [f.callable for f in insp.functions if f.callable is not None]
    return out


def test_no_false_positive_on_fixtures_and_legit_corpus(tmp_path: Path) -> None:
    from support.external_corpus import entries

    blobs = [p.read_bytes() for p in sorted((Path(__file__).resolve().parents[2] / "fixtures" / "blobs").iterdir())]
    blobs += [c.build(tmp_path / "canary") for c in legit()]
    blobs += [e["blob"] for e in entries() if e["blob"] is not None]
    callables = _callables(blobs)
    assert len(callables) > 100  # by-value UDFs are really read
    assert [c.qualname for c in callables if c.unshipped_globals] == []
