"""check on damage inside payloads: UDF streams that read but do not rebuild, nested literals and
memory-table rows whose Arrow buffers run past their body.

Each case flips one bit of a fixture; the damaged blob is decoded by datafusion for real (in a child
process: a flipped byte may run anything) and check's first error must say what datafusion says. The
flips datafusion accepts must stay clean.
"""

from __future__ import annotations

import sys
from pathlib import Path

from support.decoding import decode_all

from datafusion_exprtool.catalog import CATALOG
from datafusion_exprtool.layers.container import load_input
from datafusion_exprtool.reports.check.report import check_loaded
from datafusion_exprtool.reports.check.target import Target
from datafusion_exprtool.reports.explain import explain_with_blob

ON_311 = sys.version_info[:2] == (3, 11)
#: (case, fixture, where: a byte or (marker, bytes past it), bit, the id check gives). The code-object
#: cases model CPython 3.11's checks (other versions: not predicted).
REFUSED = [
    ("cloudpickle-name", "udf_closure.expr.bin", (b"_make_empty_cell", 1), 1, "module-attribute-missing"),
    ("datafusion-base-class", "udwf_inline.expr.bin", (b"WindowEvaluator", 3), 16, "module-attribute-missing"),
    ("datafusion-module", "udwf_inline.expr.bin", (b"user_defined", 1), 4, "module-missing"),  # uwer_defined
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
    ("literal-struct-children-disagree", "literal_struct.expr.bin", 123, 1, "literal-value-corrupt"),
    ("rows-validity-past-body", "plan_memory.physical.bin", 395, 2, "table-rows-corrupt"),
    # the UDF's Arrow schema: arrow-rs's flatbuffers verifier wants a string NUL-terminated and UTF-8
    ("schema-name-no-nul", "udf_closure.expr.bin", (b"arg_0", -4), 4, "cloudpickle-corrupt"),
    ("schema-name-utf8", "udf_closure.expr.bin", (b"arg_0", 1), 128, "cloudpickle-corrupt"),
    # ... and every scalar, offset and vtable aligned to its size (Unaligned): a vtable's size, a table's field
    ("schema-vtable-unaligned", "udaf_inline.expr.bin", (b"\xff\xff\xff\xff", 14), 1, "cloudpickle-corrupt"),
    ("schema-field-unaligned", "udaf_inline.expr.bin", (b"\xff\xff\xff\xff", 18), 1, "cloudpickle-corrupt"),
]  # fmt: skip
#: flips datafusion decodes: a struct literal's own length (arrow-rs takes it from its children when it
#: has no nulls), the same for a struct nested in another type (a Map's entries), and the literal
#: message's bodyLength (arrow-rs reads the literal's arrow_data whole); pyarrow's own refusals arrow-rs does not
#: share: a metadata version it does not check, a buffer offset that is not 8-byte aligned (it copies the buffer)
ACCEPTED = [
    ("literal_struct.expr.bin", 113, 128), ("literal_struct.expr.bin", 802, 4), ("literal_list.expr.bin", 34, 2),
    ("literal_struct.expr.bin", 743, 0xC5), ("literal_list.expr.bin", 178, 1),
]  # fmt: skip


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
        "datafusion-module": "No module named 'datafusion.uwer_defined'",
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
