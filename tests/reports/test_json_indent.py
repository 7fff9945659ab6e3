"""The indented JSON writer (reports/formats/json_indent) writes exactly what ``json.dumps(doc, indent=2,
ensure_ascii=…, default=str)`` writes: for every fixture's and every external corpus blob's `inspect --json`
document (and error document), for both escapings, and for the odd values json treats specially."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from support.external_corpus import entries
from support.safety_corpus import REPO

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.inspection.pipeline import inspect_bytes
from datafusion_exprtool.reports.formats.json import error_document, inspection_document, write_json
from datafusion_exprtool.reports.formats.json_indent import BIG_STRING, write_indented


class _Stream(io.StringIO):
    def __init__(self, encoding: str) -> None:
        super().__init__()
        self.stream_encoding = encoding

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream_encoding


def expected(doc: object, ensure_ascii: bool) -> str:
    """What write_json wrote before it had its own encoder."""
    return json.dumps(doc, indent=2, ensure_ascii=ensure_ascii, default=str) + "\n"


def written(doc: object, encoding: str) -> str:
    out = _Stream(encoding)
    write_json(doc, out, pretty=True)
    return out.getvalue()


def documents() -> list[object]:
    blobs = [p.read_bytes() for p in sorted((REPO / "fixtures" / "blobs").iterdir()) if p.is_file()]
    blobs += [e["blob"] for e in entries() if e["blob"] is not None]
    docs: list[object] = []
    for blob in blobs:
        try:
            docs.append(inspection_document(inspect_bytes(blob)))
        except DecodeError as err:
            docs.append(error_document("blob.bin", err))
    return docs


def test_every_fixture_and_corpus_document_is_written_as_json_dumps_writes_it() -> None:
    docs = documents()
    assert len(docs) > 4000
    for doc in docs:
        assert written(doc, "utf-8") == expected(doc, False)
        assert written(doc, "ascii") == expected(doc, True)


ODD = [
    {},
    [],
    {"a": [], "b": {}, "c": [[]], "d": [{}]},
    "\u00e9\u2028\x00\"\\\n\ud83d\ude00",
    [None, True, False, 0, -1, 2**80, 1.5, -0.0, 1e300, float("nan"), float("inf"), float("-inf")],
    {7: "int key", 2.5: "float key", True: "bool key", None: "null key", "s": ("tuple", 1)},
    {"path": Path("/x/y"), "bytes": b"\x00", "nested": {"set": frozenset()}},
]


@pytest.mark.parametrize("doc", ODD, ids=range(len(ODD)))
@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_odd_values_are_written_as_json_dumps_writes_them(doc: object, encoding: str) -> None:
    assert written(doc, encoding) == expected(doc, encoding == "ascii")


def test_a_key_json_refuses_is_refused() -> None:
    with pytest.raises(TypeError):
        write_indented({(1, 2): "tuple key"}, io.StringIO(), ensure_ascii=False)


def test_big_strings_are_written_in_pieces_identically() -> None:
    doc = {"rendered": 'x"\\\n\u00e9' * (BIG_STRING // 2), "list": ["y" * (BIG_STRING + 3), 1]}
    for encoding in ("utf-8", "ascii"):
        assert written(doc, encoding) == expected(doc, encoding == "ascii")
