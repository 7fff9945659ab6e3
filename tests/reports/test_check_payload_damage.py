"""check on damage QA's experiment still missed: UDF streams that read but do not rebuild, nested literals and
memory-table rows whose Arrow buffers run past their body.

Each flip is one QA made to a fixture; the damaged blob is decoded by datafusion for real (in a child
process: a flipped byte may run anything) and check's first error must say what datafusion says. The
flips datafusion accepts must stay clean. CPython's ``types.CodeType`` and cloudpickle's reconstructors
are the ground truth of udf_receiver's model: it is compared with what they raise on the same arguments.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import cloudpickle.cloudpickle as cp
import pytest
from support.decoding import decode_all

from datafusion_exprtool.catalog import CATALOG
from datafusion_exprtool.layers.cloudpickle.receiver import _arity_error, code_error
from datafusion_exprtool.layers.container import load_input
from datafusion_exprtool.layers.pickle.values import Global
from datafusion_exprtool.reports.check.report import check_loaded
from datafusion_exprtool.reports.check.target import Target
from datafusion_exprtool.reports.explain import explain_with_blob

ON_311 = sys.version_info[:2] == (3, 11)
#: (case, fixture, where: a byte or (marker, bytes past it), bit, the id check gives). The code-object
#: cases model CPython 3.11's checks (other versions: not predicted).
REFUSED = [
    ("cloudpickle-name", "udf_closure.expr.bin", (b"_make_empty_cell", 1), 1, "module-attribute-missing"),
    ("datafusion-base-class", "udwf_inline.expr.bin", (b"WindowEvaluator", 3), 16, "module-attribute-missing"),
    ("setstate-globals", "udf_scalar_inline.expr.bin", (b"\x8c\x0b__globals__", 2), 2, "cloudpickle-corrupt"),
    ("setstate-submodules", "udf_scalar_inline.expr.bin", (b"_cloudpickle_submodules", 21), 32,
     "cloudpickle-corrupt"),
    ("volatility", "udf_scalar_inline.expr.bin", (b"immutable", 7), 8, "cloudpickle-corrupt"),
    ("make-function-arity", "udf_subimport.expr.bin", 422, 2, "cloudpickle-corrupt"),
    ("code-arg-type", "udf_scalar_inline.expr.bin", 695, 2, "cloudpickle-corrupt"),
    ("code-arg-count", "pickle_list.expr.pkl", 682, 1, "cloudpickle-corrupt"),
    ("code-varnames", "udf_closure.expr.bin", 328, 2, "cloudpickle-corrupt"),
    ("code-posonly", "udf_scalar_inline.expr.pkl", 229, 128, "cloudpickle-corrupt"),
    ("literal-buffer-past-body", "literal_list.expr.bin", 140, 2, "literal-value-corrupt"),
    ("literal-null-count", "literal_list.expr.bin", 99, 64, "literal-value-corrupt"),
    ("literal-flatbuffer", "literal_struct.expr.bin", 779, 64, "literal-value-corrupt"),
    ("literal-in-pickle", "literal_list.expr.pkl", 251, 32, "literal-value-corrupt"),
    ("rows-validity-past-body", "plan_memory.physical.bin", 395, 2, "table-rows-corrupt"),
]  # fmt: skip
#: flips datafusion decodes: a struct literal's own length (arrow-rs takes it from its children when it
#: has no nulls) and the literal message's bodyLength (arrow-rs reads the literal's arrow_data whole)
ACCEPTED = [("literal_struct.expr.bin", 113, 128), ("literal_list.expr.bin", 34, 2)]


def _kind(name: str) -> str:
    if name.endswith(".pkl"):
        return "pkl"
    return "physical" if "physical" in name else "logical" if "logical" in name else "expr"


def _flip(blobs: Path, tmp: Path, name: str, where, bit: int) -> Path:
    data = bytearray((blobs / name).read_bytes())
    pos = where if isinstance(where, int) else data.index(where[0]) + where[1]
    data[pos] ^= bit
    path = tmp / f"{name}.flip{pos}_{bit}"
    path.write_bytes(bytes(data))
    return path


def _check(path: Path):
    kind = _kind(path.name.split(".flip")[0])
    return check_loaded(load_input(str(path)), Target(), message=None if kind == "pkl" else kind)


def _plain(text: str) -> str:
    """datafusion's Debug-escaped text with the quotes and backslashes it escaped (twice) restored."""
    return text.replace('\\"', '"').replace("\\\\", "\\").replace('\\"', '"')


def test_damage_datafusion_refuses_is_predicted(fixture_set, tmp_path):
    """Each flip fails datafusion's decode; check's first error has the id explain gives and its text."""
    blobs, _ = fixture_set
    cases = [c for c in REFUSED if ON_311 or not c[0].startswith("code-")]
    paths = [_flip(blobs, tmp_path, name, where, bit) for _, name, where, bit, _ in cases]
    verdicts = decode_all([(p, _kind(c[1])) for p, c in zip(paths, cases, strict=True)])
    for (case, _, _, _, cid), path, said in zip(cases, paths, verdicts, strict=True):
        assert said is not None, f"{case}: datafusion accepts it"
        report = _check(path)
        assert report.errors, (case, said[:200])
        first = report.errors[0]
        assert first.id == cid, (case, first, said[:200])
        assert first.offset is not None and first.fix
        assert first.datafusion_text in _plain(said) or first.datafusion_text in said, (case, first.datafusion_text, said[:300])
        # explain with the blob at hand (the slice panic reads the same for a literal and for table rows)
        assert cid in CATALOG and cid in [e.id for e in explain_with_blob(said, data=path.read_bytes())], (
            case,
            said[:200],
        )


def test_stable_texts_are_predicted(fixture_set, tmp_path):
    """Where datafusion's text does not depend on the damage's detail, check carries it (not an empty text)."""
    blobs, _ = fixture_set
    expected = {
        "cloudpickle-name": "Can't get attribute '_lake_empty_cell' on <module 'cloudpickle.cloudpickle'",
        "datafusion-base-class": "Can't get attribute 'WintowEvaluator' on <module 'datafusion.user_defined'",
        "setstate-globals": "KeyError('__globals__')",
        "setstate-submodules": "KeyError('_cloudpickle_submodules')",
        "make-function-arity": "_make_function() takes 5 positional arguments but 6 were given",
        "volatility": "Unsupported volatility type: `immutabde`, supported values are: immutable, stable",
        "literal-buffer-past-body": "the offset of the new Buffer cannot exceed the existing length: slice offset=0",
        "rows-validity-past-body": "the offset of the new Buffer cannot exceed the existing length: slice offset=192",
    }
    for case, name, where, bit, _ in REFUSED:
        if case in expected:
            errors = _check(_flip(blobs, tmp_path, name, where, bit)).errors
            assert errors[0].datafusion_text.startswith(expected[case]), (case, errors[0].datafusion_text)


def test_damage_datafusion_accepts_stays_clean(fixture_set, tmp_path):
    blobs, _ = fixture_set
    paths = [_flip(blobs, tmp_path, name, pos, bit) for name, pos, bit in ACCEPTED]
    assert decode_all([(p, _kind(p.name.split(".flip")[0])) for p in paths]) == [None] * len(paths)
    for path in paths:
        assert not _check(path).errors, path.name


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


@pytest.mark.skipif(not ON_311, reason="udf_receiver models CPython 3.11's code constructor")
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
    """_arity_error says what calling cloudpickle's ``_make_function`` with that many arguments raises."""
    predicted = _arity_error(Global("cloudpickle.cloudpickle", "_make_function", 0), given)
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
