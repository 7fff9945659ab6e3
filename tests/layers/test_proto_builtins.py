"""layers/proto/builtins: the committed built-in function table stays in step with the installed datafusion."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.repo import TOOLS, load_tool

from datafusion_exprtool.layers.proto import builtins as bf

TOOL = TOOLS / "gen_builtins.py"


def _tool():
    return load_tool("gen_builtins")


@pytest.fixture(scope="module")
def regenerated() -> tuple[str, dict[str, frozenset[str]]]:
    return _tool().collect()


def test_table_equals_installed_datafusion(regenerated):
    version, table = regenerated
    assert bf.DATAFUSION_VERSION == version
    assert (bf.SCALAR, bf.AGGREGATE, bf.WINDOW) == (table["SCALAR"], table["AGGREGATE"], table["WINDOW"])
    assert bf.HIGHER_ORDER == table["HIGHER_ORDER"]


def test_higher_order_functions_are_builtin():
    """QA: array_transform, array_any_match, array_filter, array_first (and their aliases) were listed as
    by_name, and check said by-name-not-registered; datafusion decodes them in a fresh default session.
    The names are what datafusion writes (and resolves) for every datafusion.functions taking a lambda."""
    import inspect

    from datafusion import Expr, col
    from datafusion import functions as F
    from support.cli import run_cli

    from datafusion_exprtool.inspection.pipeline import inspect_bytes

    lambda_takers = [n for n, fn in vars(F).items() if not n.startswith("_") and inspect.isfunction(fn)
                     and any("Callable" in str(p.annotation) for p in inspect.signature(fn).parameters.values())]  # fmt: skip
    assert len(lambda_takers) >= 4
    for attr in lambda_takers:
        expr = getattr(F, attr)(col("a"), lambda v: v)
        blob = expr.to_bytes()
        assert Expr.from_bytes(blob).canonical_name() == expr.canonical_name()  # a default session decodes it
        (fn,) = inspect_bytes(blob).functions
        assert fn.transport == "builtin" and bf.is_builtin(attr, "scalar"), (attr, fn.name, fn.transport)
        result = run_cli("check", "-", input=blob)
        assert result.exit_code == 0, (attr, result.stdout)


def test_committed_source_is_the_generator_output(regenerated):
    tool = _tool()
    assert tool.render(*regenerated) == tool.TARGET.read_text()


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("abs", "scalar"),
        ("sum", "aggregate"),
        ("count", "aggregate"),
        ("first_value", "aggregate"),
        ("row_number", "window"),
        ("lag", "window"),
        ("first_value", "window"),
        ("list_append", "scalar"),
        ("mean", "aggregate"),
    ],
)
def test_names_the_fixtures_use_are_builtin(name, kind):
    assert bf.is_builtin(name, kind)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("abs", "aggregate"),
        ("sum", "window"),
        ("row_number", "scalar"),
        ("double_it", "scalar"),
        ("ABS", "scalar"),
        ("", "scalar"),
    ],
)
def test_not_builtin(name, kind):
    assert not bf.is_builtin(name, kind)


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown function kind"):
        bf.is_builtin("abs", "table")


def test_manifest_transports_agree_with_the_table(fixture_set):
    """Every function a fixture calls is built-in exactly when the manifest says transport=builtin."""
    _, manifest = fixture_set
    seen = 0
    for e in manifest["blobs"]:
        for f in e["functions"]:
            assert bf.is_builtin(f["name"], f["kind"]) == (f["transport"] == "builtin"), (e["file"], f)
            seen += 1
    assert seen > 30


def test_import_pulls_in_neither_datafusion_nor_pyarrow():
    code = "import sys, datafusion_exprtool.layers.proto.builtins; print(sorted({'datafusion', 'pyarrow'} & set(sys.modules)))"
    root = str(TOOL.parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
        env={"PYTHONPATH": root},
    )
    assert out.stdout.strip() == "[]"
