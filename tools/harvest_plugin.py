"""pytest plugin for tools/harvest_corpus.py: record the datafusion objects another project's tests build.

Loaded with ``-p harvest_plugin`` (tools/ on PYTHONPATH) into a run of apache/datafusion-python's own test
suite. At load it wraps, on the installed wheel's classes:

- every public ``DataFrame`` method: each ``Expr`` among its arguments (one level into lists, tuples and
  dicts; a ``SortExpr`` gives its inner ``Expr``) is recorded, and so are the plans of the DataFrame it is
  called on (and of any DataFrame argument, e.g. a join's right side): ``logical_plan()``,
  ``optimized_logical_plan()``, ``execution_plan()``;
- ``Expr.to_bytes`` / ``Expr.__reduce__`` and ``LogicalPlan.to_bytes`` / ``ExecutionPlan.to_bytes``: what
  a test serializes itself.

Each object is recorded once per blob (sha256): its bytes (an Expr twice: ``to_bytes()`` and
``pickle.dumps``), datafusion's own text (``canonical_name()`` / ``display_indent()``) and datafusion's
round trip in this process through a fresh ``SessionContext`` (``harness_roundtrip``: decoded text, or the
error; the harvester adds the round trip in a clean receiver process). An object whose encoding raises
is recorded with the error and no blob. Nothing here changes what a test sees: every capture runs under a
guard, swallows its own exceptions, and returns the wrapped method's result untouched.

The records go to ``$HARVEST_OUT`` (JSON lines) when the session ends.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import pickle
import threading
from typing import Any

import datafusion
import pytest
from datafusion import DataFrame, Expr, SessionContext
from datafusion.expr import SortExpr
from datafusion.plan import ExecutionPlan, LogicalPlan

#: DataFrame methods not wrapped: the plan getters the capture itself calls, and reprs
UNWRAPPED = {"logical_plan", "optimized_logical_plan", "execution_plan", "schema", "default_str_repr"}
DUNDERS = ("__getitem__", "__arrow_c_stream__", "__iter__", "__aiter__")

_state = threading.local()
_lock = threading.Lock()
_records: dict[str, dict[str, Any]] = {}  # key (blob sha256, or kind + text + error) -> record
_seen_plans: set[str] = set()  # logical blob sha of DataFrames whose three plans were recorded
_current = {"node": "<no test>"}
_ctx = SessionContext()  # the receiver of every round trip: built-ins only, nothing a test registers


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:2000]


def _add(kind: str, form: str, blob: bytes | None, text: str | None, encode_error: str | None, decode) -> None:
    """Record one object (``decode``: blob -> datafusion's text after its round trip) unless already seen."""
    key = _sha(blob) if blob is not None else _sha(f"{kind}\0{text}\0{encode_error}".encode())
    with _lock:
        if key in _records:
            _records[key]["seen"] += 1
            return
        record = {
            "id": f"{kind}-{form}-{key[:12]}",
            "source": _current["node"],
            "kind": kind,
            "form": form,
            "blob": base64.b64encode(blob).decode() if blob is not None else None,
            "encode_error": encode_error,
            "text": text,
            "seen": 1,
        }
        _records[key] = record
    if blob is None:
        return
    try:
        after = decode(blob)
        record["harness_roundtrip"] = {"ok": True, "error": None, "text": after}
    except BaseException as err:  # noqa: BLE001 - a decode failure is the datum
        record["harness_roundtrip"] = {"ok": False, "error": _error(err), "text": None}


def _text(fn) -> str | None:
    try:
        return fn()
    except BaseException:  # noqa: BLE001
        return None


def _record_expr(expr: Expr) -> None:
    text = _text(expr.canonical_name)
    try:
        blob, err = expr.to_bytes(), None
    except BaseException as e:  # noqa: BLE001
        blob, err = None, _error(e)
    _add("expr", "proto", blob, text, err, lambda b: Expr.from_bytes(b, _ctx).canonical_name())
    if blob is None:
        return
    try:
        pickled, err = pickle.dumps(expr), None
    except BaseException as e:  # noqa: BLE001
        pickled, err = None, _error(e)
    _add("expr", "pickle", pickled, text, err, lambda b: pickle.loads(b).canonical_name())  # noqa: S301


def _record_plan(plan: Any, kind: str) -> str | None:
    """Record a LogicalPlan / ExecutionPlan as ``kind``; returns the blob's sha (None if encoding raised)."""
    text = _text(plan.display_indent)
    try:
        blob, err = plan.to_bytes(), None
    except BaseException as e:  # noqa: BLE001
        blob, err = None, _error(e)
    cls = ExecutionPlan if kind == "physical" else LogicalPlan
    _add(kind, "proto", blob, text, err, lambda b: cls.from_bytes(_ctx, b).display_indent())
    return _sha(blob) if blob is not None else None


def _record_frame(df: DataFrame) -> None:
    try:
        logical = df.logical_plan()
    except BaseException:  # noqa: BLE001
        return
    key = _record_plan(logical, "logical") or _sha((_text(logical.display_indent) or "").encode())
    with _lock:
        if key in _seen_plans:
            return
        _seen_plans.add(key)
    for getter, kind in ((df.optimized_logical_plan, "optimized"), (df.execution_plan, "physical")):
        try:
            plan = getter()
        except BaseException:  # noqa: BLE001
            continue
        _record_plan(plan, kind)


def _record_value(value: Any) -> None:
    if isinstance(value, Expr):
        _record_expr(value)
    elif isinstance(value, SortExpr):
        inner = _text(value.expr)
        if isinstance(inner, Expr):
            _record_expr(inner)
    elif isinstance(value, DataFrame):
        _record_frame(value)


def _record_args(args: tuple, kwargs: dict) -> None:
    for value in (*args, *kwargs.values()):
        _record_value(value)
        if isinstance(value, (list, tuple)):
            for item in value:
                _record_value(item)
        elif isinstance(value, dict):
            for item in value.values():
                _record_value(item)


def _guarded(capture):
    """Run ``capture`` unless a capture is already running on this thread; never raise."""
    if getattr(_state, "busy", False):
        return
    _state.busy = True
    try:
        capture()
    except BaseException:  # noqa: BLE001 - harvesting must not change a test's outcome
        pass
    finally:
        _state.busy = False


def _wrap_frame_method(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        _guarded(lambda: (_record_frame(self), _record_args(args, kwargs)))
        return method(self, *args, **kwargs)

    return wrapper


def _wrap_serializer(method, capture):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        _guarded(lambda: capture(self))
        return method(self, *args, **kwargs)

    return wrapper


def _install() -> None:
    for name, member in list(vars(DataFrame).items()):
        if not callable(member) or name in UNWRAPPED or isinstance(member, (staticmethod, classmethod)):
            continue
        if name.startswith("_") and name not in DUNDERS:
            continue
        setattr(DataFrame, name, _wrap_frame_method(member))
    Expr.to_bytes = _wrap_serializer(Expr.to_bytes, _record_expr)
    Expr.__reduce__ = _wrap_serializer(Expr.__reduce__, _record_expr)
    LogicalPlan.to_bytes = _wrap_serializer(LogicalPlan.to_bytes, lambda p: _record_plan(p, "logical"))
    ExecutionPlan.to_bytes = _wrap_serializer(ExecutionPlan.to_bytes, lambda p: _record_plan(p, "physical"))


_install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    _current["node"] = item.nodeid
    try:
        return (yield)
    finally:
        _current["node"] = "<between tests>"


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("HARVEST_OUT")
    if not out:
        return
    with _lock:
        records = list(_records.values())
    with open(out, "w") as fh:
        fh.write(json.dumps({"datafusion": datafusion.__version__, "records": len(records)}) + "\n")
        for record in records:
            fh.write(json.dumps(record) + "\n")
