"""layers/cloudpickle/receiver: its model of what the receiving side raises while rebuilding a UDF,
compared with the ground truth on the same arguments: CPython's ``types.CodeType`` and cloudpickle's
``_make_function``."""

from __future__ import annotations

import sys
import types

import cloudpickle.cloudpickle as cp
import pytest

from datafusion_exprtool.layers.cloudpickle.receiver import arity_error, code_error
from datafusion_exprtool.layers.pickle.values import Global

ON_311 = sys.version_info[:2] == (3, 11)


def _code_args() -> list:
    def f(a, b=1, *c, d, **e):
        return [i for i in a]

    co = f.__code__
    return [co.co_argcount, co.co_posonlyargcount, co.co_kwonlyargcount, co.co_nlocals, co.co_stacksize,
            co.co_flags, co.co_code, co.co_consts, co.co_names, co.co_varnames, co.co_filename, co.co_name,
            co.co_qualname, co.co_firstlineno, co.co_linetable, co.co_exceptiontable, co.co_freevars,
            co.co_cellvars]  # fmt: skip


#: (position, value) changes to a real code object's arguments; [] keeps only the first 15
CODE_EDITS = [
    [], [(18, ())], [(0, 1.5)], [(0, "x")], [(0, 2**31)], [(3, None)], [(6, ["x"])], [(7, [])], [(10, b"x")],
    [(15, "x")], [(16, [])], [(0, -1)], [(1, -1)], [(2, -1)], [(3, -1)], [(4, -1)], [(5, -1)], [(13, -1)],
    [(1, 5)], [(0, 9)], [(3, 9)], [(6, b"\0")], [(8, ("a", 1))], [(9, ("a", b"x"))], [(0, -1), (8, ("a", 1))],
    [(1, 9), (8, ("a", 1))], [(1, 9), (6, b"\0")], [(6, b"\0"), (0, 9)], [(14, b"\xff" * 3)], [(16, ("zz",))],
    [(5, True)], [(12, 1)], [(0, "s"), (6, 1)],
]  # fmt: skip


@pytest.mark.skipif(not ON_311, reason="the receiver models CPython 3.11's code constructor")
@pytest.mark.parametrize("edits", CODE_EDITS, ids=[str(e) for e in CODE_EDITS])
def test_code_model_matches_cpython(edits):
    """code_error says what ``types.CodeType`` raises on the same arguments (None: it builds)."""
    args = _code_args()
    if not edits:
        args = args[:15]  # one short of the 16 required
    for pos, value in edits:
        if pos == len(args):
            args.append(value)
        else:
            args[pos] = value
    predicted = code_error(tuple(args))
    try:
        types.CodeType(*args)
    except (TypeError, ValueError, SystemError, OverflowError) as exc:
        assert predicted is not None and predicted in str(exc), (predicted, str(exc))
    else:
        assert predicted is None


@pytest.mark.parametrize("given", range(8))
def test_arity_model_matches_cloudpickle(given):
    """arity_error says what calling cloudpickle's ``_make_function`` with that many arguments raises."""
    predicted = arity_error(Global("cloudpickle.cloudpickle", "_make_function", 0), given)
    try:
        cp._make_function(*[None] * given)
        outcome = None
    except Exception as exc:  # noqa: BLE001  (with the right count the body fails on the None arguments)
        outcome = exc
    assert outcome is not None  # cloudpickle never builds a function from None
    if predicted is None:
        assert "positional argument" not in str(outcome), outcome
    else:
        assert isinstance(outcome, TypeError) and str(outcome) == predicted
