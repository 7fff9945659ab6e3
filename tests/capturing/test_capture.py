"""capture(): blob + environment fingerprint, atomic and non-clobbering; the pytest plugin that uses it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import pickle
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from datafusion import Expr, LogicalPlan, SessionContext, col, lit, udf
from datafusion.ipc import get_sender_ctx

from datafusion_exprtool.capturing.writer import capture, env_path, fingerprint, load_fingerprint

pytest_plugins = ["pytester"]


def double_it(a):
    return a


UDF = udf(double_it, [pa.int64()], pa.int64(), volatility="immutable", name="double_it")


def test_capture_expr_writes_its_pickle_and_fingerprint(tmp_path):
    expr = (col("a") + lit(1)).alias("x")
    p = capture(expr, tmp_path / "x.pkl")
    data = p.read_bytes()
    assert pickle.loads(data).canonical_name() == expr.canonical_name()
    env = load_fingerprint(p)
    assert env["python"]["minor"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    for dist in ("datafusion", "pyarrow", "cloudpickle"):
        assert env["packages"][dist] == importlib.metadata.version(dist)
    assert env["blob"]["size"] == len(data) and env["blob"]["kind"] == "pickle"
    assert load_fingerprint(env_path(p)) == env


def test_capture_bytes_and_plans(tmp_path):
    ctx = SessionContext()
    plan = ctx.sql("select 1 as a").logical_plan()
    p = capture(plan, tmp_path / "plan.bin")
    assert p.read_bytes() == plan.to_bytes()
    assert str(LogicalPlan.from_bytes(ctx, p.read_bytes())) == str(plan)
    raw = UDF(col("a")).to_bytes()
    assert capture(raw, tmp_path / "raw.bin").read_bytes() == raw
    with pytest.raises(TypeError):
        capture(object(), tmp_path / "nope.bin")
    assert not (tmp_path / "nope.bin").exists()


def test_capture_with_a_sender_ctx_restores_it(tmp_path):
    no_inline = SessionContext().with_python_udf_inlining(enabled=False)
    inline = capture(UDF(col("a")), tmp_path / "inline.pkl").read_bytes()
    byname = capture(UDF(col("a")), tmp_path / "byname.pkl", ctx=no_inline).read_bytes()
    assert b"DFPYUDF" in inline and b"DFPYUDF" not in byname
    assert get_sender_ctx() is None
    with pytest.raises(RuntimeError):
        pickle.loads(byname)  # by name and not registered: the capture kept what the ctx produced


def test_never_overwrites_unless_asked(tmp_path):
    p = capture(col("a"), tmp_path / "a.pkl")
    first = p.read_bytes()
    with pytest.raises(FileExistsError):
        capture(col("b"), p)
    assert p.read_bytes() == first
    capture(col("b"), p, overwrite=True)
    assert pickle.loads(p.read_bytes()).canonical_name() == "b"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.pkl", "a.pkl.env.json"]  # no temp files left


def test_existing_env_file_blocks_the_capture(tmp_path):
    env_path(tmp_path / "a.pkl").write_text("{}")
    with pytest.raises(FileExistsError):
        capture(col("a"), tmp_path / "a.pkl")
    assert not (tmp_path / "a.pkl").exists()


def test_fingerprint_importability_without_importing(tmp_path, monkeypatch):
    (tmp_path / "exprtool_probe_mod.py").write_text("raise SystemExit('imported!')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fp = fingerprint(["json", "exprtool_probe_mod", "no_such_module_for_exprtool", "json.decoder"])
    assert fp["modules"]["json"]["importable"] is True
    assert fp["modules"]["exprtool_probe_mod"]["importable"] is True
    assert "exprtool_probe_mod" not in sys.modules
    assert fp["modules"]["no_such_module_for_exprtool"]["importable"] is False
    assert fp["python"]["version"].startswith(fp["python"]["minor"])


def test_capture_lists_the_modules_the_udfs_need(tmp_path):
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / "df_capture_helper.py").write_text("def triple(a):\n    return a\n")
    sys.path.insert(0, str(mod))
    try:
        import df_capture_helper

        f = udf(df_capture_helper.triple, [pa.int64()], pa.int64(), volatility="immutable", name="triple")
        p = capture(f(col("a")), tmp_path / "t.pkl")
    finally:
        sys.path.remove(str(mod))
        sys.modules.pop("df_capture_helper", None)
    env = load_fingerprint(p)
    if "inspection_error" in env["blob"]:
        pytest.skip(f"static inspection not available: {env['blob']['inspection_error']}")
    assert env["modules"]["df_capture_helper"]["importable"] is True  # here, at capture time
    assert fingerprint(["df_capture_helper"])["modules"]["df_capture_helper"]["importable"] is False
    assert [fn["name"] for fn in env["blob"]["functions"]] == ["triple"]


def test_load_fingerprint_rejects_other_json(tmp_path):
    p = tmp_path / "x.env.json"
    p.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError):
        load_fingerprint(p)


# ---------------------------------------------------------------------------------------- pytest plugin

TEST_FILE = """
import pytest
from datafusion import col, lit

@pytest.mark.parametrize("expr", [col("a") + lit(1)])
def test_fails(expr, exprtool_capture):
    exprtool_capture(col("b") * lit(2), name="doubled")
    exprtool_capture(b"\\x0a\\x03\\x0a\\x01z")
    assert False, "worker refused the expression"

def test_passes(exprtool_capture):
    exprtool_capture(col("c"), name="kept_only_on_failure")
"""


def _plugin_args() -> list[str]:
    """Load the plugin explicitly unless its pytest11 entry point is installed (then it is already on)."""
    eps = importlib.metadata.entry_points(group="pytest11")
    return [] if any(ep.name == "exprtool" for ep in eps) else ["-p", "datafusion_exprtool.capturing.pytest_plugin"]


def test_plugin_saves_blobs_of_failing_tests_only(pytester):
    pytester.makepyfile(test_ship=TEST_FILE)
    out = pytester.path / "arts"
    result = pytester.runpytest(*_plugin_args(), f"--exprtool-capture={out}")
    result.assert_outcomes(passed=1, failed=1)
    dirs = [d for d in out.iterdir() if d.is_dir()]
    assert len(dirs) == 1 and "test_fails" in dirs[0].name
    saved = dirs[0]
    assert pickle.loads((saved / "doubled.pkl").read_bytes()).canonical_name() == "b * Int64(2)"
    assert Expr.from_bytes((saved / "blob2.bin").read_bytes()).canonical_name() == "z"
    assert pickle.loads((saved / "expr.pkl").read_bytes()).canonical_name() == "a + Int64(1)"
    assert load_fingerprint(saved / "doubled.pkl")["blob"]["kind"] == "pickle"
    assert "worker refused the expression" in (saved / "failure.txt").read_text()
    assert not any("kept_only_on_failure" in p.name for p in out.rglob("*"))
    result.stdout.fnmatch_lines(["*exprtool: blobs of failing tests*", "*exprtool check*"])


def test_plugin_default_dir(pytester):
    pytester.makepyfile(test_ship=TEST_FILE)
    result = pytester.runpytest(*_plugin_args(), "--exprtool-capture", "-k", "test_fails")
    result.assert_outcomes(failed=1)
    assert list((pytester.path / "exprtool-artifacts").glob("*/doubled.pkl"))


def test_plugin_disabled_does_nothing(pytester):
    pytester.makepyfile(test_ship=TEST_FILE)
    before = set(os.listdir(pytester.path))
    result = pytester.runpytest(*_plugin_args())
    result.assert_outcomes(passed=1, failed=1)
    assert set(os.listdir(pytester.path)) - before <= {"__pycache__", ".pytest_cache"}
    assert "exprtool: blobs" not in result.stdout.str()


def test_sanitize_is_one_path_component():
    from datafusion_exprtool.capturing.pytest_plugin import sanitize

    name = sanitize("tests/test_x.py::test_y[col(a) + 1/../..]")
    assert "/" not in name and name not in ("", ".", "..")
    assert Path(name).name == name
    assert sanitize("..") == "test"


def test_capture_is_callable_from_the_package_every_time(tmp_path) -> None:
    """Docs review: `datafusion_exprtool.capture(...)` worked once; importing the submodule then replaced the
    package attribute with the module ('module' object is not callable). The submodule is `capturing` now."""
    import importlib

    from datafusion import col

    import datafusion_exprtool

    importlib.import_module("datafusion_exprtool.capturing.writer")
    for i in range(2):
        path = tmp_path / f"job{i}.pkl"
        datafusion_exprtool.capture(col("a") + 1, str(path))
        assert path.exists()


def test_plugin_prints_the_find_rows_command_for_a_failed_test(pytester):
    pytester.makepyfile(test_ship=TEST_FILE)
    out = pytester.path / "arts"
    result = pytester.runpytest(*_plugin_args(), f"--exprtool-capture={out}", "-k", "test_fails")
    result.assert_outcomes(failed=1)
    saved = next(d for d in out.iterdir() if d.is_dir())
    result.stdout.fnmatch_lines([f"*failing rows: exprtool eval {saved}/* DATA.parquet --find-rows "
                                 f"--bundle {saved / 'repro'}*"])  # fmt: skip
