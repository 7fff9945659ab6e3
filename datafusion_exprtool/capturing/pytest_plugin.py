"""pytest plugin: when a test that ships datafusion expressions fails, keep the blobs for replay.

Off unless ``--exprtool-capture[=DIR]`` is given (DIR defaults to ``exprtool-artifacts``). Blobs come
from the ``exprtool_capture`` fixture (``exprtool_capture(expr_or_bytes, name=None)``) and from the Exprs /
plans among the test's arguments; nothing patches pickle. On failure they are written with their
environment fingerprint to ``DIR/<test id>/``, next to ``failure.txt`` (for ``exprtool explain``), and
the terminal summary says where they went and prints the commands to run on them (``eval --find-rows
--bundle`` among them: the rows an expression fails on, as a repro bundle).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DEFAULT_DIR = "exprtool-artifacts"
_SHIPPABLE = {"Expr", "LogicalPlan", "ExecutionPlan"}
_registered = pytest.StashKey[list]()
_saved = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("exprtool", "datafusion expression blobs")
    group.addoption(
        "--exprtool-capture",
        action="store",
        nargs="?",
        const=DEFAULT_DIR,
        default=None,
        dest="exprtool_capture",
        metavar="DIR",
        help=f"save the datafusion blobs of failing tests under DIR (default {DEFAULT_DIR}) for "
        "`exprtool check` / `exprtool eval`",
    )


def _capture_dir(config: pytest.Config) -> Path | None:
    value = config.getoption("exprtool_capture", default=None)
    return None if value is None else Path(value)


def _is_shippable(value: Any) -> bool:
    cls = type(value)
    return cls.__name__ in _SHIPPABLE and cls.__module__.startswith("datafusion")


def _shippable_args(item: pytest.Item) -> list[tuple[str, Any]]:
    """Exprs / plans among the test's arguments (one level into lists, tuples and dicts)."""
    found: list[tuple[str, Any]] = []
    args = dict(getattr(item, "funcargs", {}) or {})
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        for k, v in callspec.params.items():
            args.setdefault(k, v)
    for name, value in args.items():
        if _is_shippable(value):
            found.append((name, value))
        elif isinstance(value, (list, tuple)):
            found += [(f"{name}_{i}", v) for i, v in enumerate(value) if _is_shippable(v)]
        elif isinstance(value, dict):
            found += [(f"{name}_{k}", v) for k, v in value.items() if _is_shippable(v)]
    return found


class Recorder:
    """The ``exprtool_capture`` fixture: remember blobs; they are written only if the test fails."""

    def __init__(self, item: pytest.Item, enabled: bool):
        self._item = item
        self.enabled = enabled

    def __call__(self, expr_or_bytes: Any, name: str | None = None, *, ctx: Any = None) -> None:
        if not self.enabled:
            return
        from datafusion_exprtool.capturing.writer import to_blob

        entries = self._item.stash.setdefault(_registered, [])
        name = name or f"blob{len(entries) + 1}"
        try:  # serialize now: the object may change or die before the report
            entries.append((name, *to_blob(expr_or_bytes, ctx), None))
        except Exception as exc:  # the failure to keep may be this very one
            entries.append((name, b"", "error", f"{type(exc).__name__}: {exc}"))


@pytest.fixture
def exprtool_capture(request: pytest.FixtureRequest) -> Recorder:
    """Register a blob (Expr, LogicalPlan, ExecutionPlan or bytes) to keep if this test fails."""
    return Recorder(request.node, _capture_dir(request.config) is not None)


def sanitize(nodeid: str) -> str:
    """A test id as one directory name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_.")[:150] or "test"


_EXT = {
    "pickle": ".pkl",
    "bytes": ".bin",
    "expr": ".bin",
    "logical-plan": ".plan.bin",
    "physical-plan": ".exec.bin",
}


def _save(item: pytest.Item, report: pytest.TestReport, root: Path) -> Path | None:
    from datafusion_exprtool.capturing.writer import capture, to_blob

    blobs = list(item.stash.get(_registered, []))
    for name, value in _shippable_args(item):
        try:
            blobs.append((name, *to_blob(value), None))
        except Exception as exc:
            blobs.append((name, b"", "error", f"{type(exc).__name__}: {exc}"))
    if not blobs:
        return None
    target = root / sanitize(item.nodeid)
    target.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for name, data, kind, error in blobs:
        stem = sanitize(name)
        while stem in used:
            stem += "_"
        used.add(stem)
        if error is not None:
            (target / f"{stem}.capture-error.txt").write_text(error + "\n", encoding="utf-8")
            continue
        capture(data, target / f"{stem}{_EXT.get(kind, '.bin')}", overwrite=True, kind=kind)
    (target / "failure.txt").write_text(report.longreprtext + "\n", encoding="utf-8")
    return target


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    root = _capture_dir(item.config)
    if root is None or report.when != "call" or not report.failed:
        return
    try:
        target = _save(item, report, root)
    except Exception as exc:  # never turn a test failure into a plugin crash
        item.config.stash.setdefault(_saved, []).append((item.nodeid, None, f"{type(exc).__name__}: {exc}"))
        return
    if target is not None:
        item.config.stash.setdefault(_saved, []).append((item.nodeid, target, None))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    saved = config.stash.get(_saved, [])
    if not saved:
        return
    terminalreporter.section("exprtool: blobs of failing tests")
    for nodeid, target, error in saved:
        if target is None:
            terminalreporter.write_line(f"{nodeid}: could not save blobs ({error})")
            continue
        blobs = sorted(p.name for p in target.iterdir() if p.suffix in (".pkl", ".bin"))
        terminalreporter.write_line(f"{nodeid}: saved {', '.join(blobs) or 'nothing'} to {target}/")
        if blobs:
            first = target / blobs[0]
            terminalreporter.write_line(
                f"    check: exprtool check {target}/   replay: exprtool eval {first} DATA.parquet   "
                f"explain: exprtool explain --blob {first} - < {target / 'failure.txt'}"
            )
        exprs = [b for b in blobs if not b.endswith((".plan.bin", ".exec.bin"))]
        if exprs:  # eval replays expressions: when one fails on the data, these rows are the repro
            terminalreporter.write_line(
                f"    failing rows: exprtool eval {target / exprs[0]} DATA.parquet --find-rows "
                f"--bundle {target / 'repro'}"
            )
