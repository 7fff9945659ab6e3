"""Damage inside an inner layer is exit 3: ``inspect`` shows what it read, names the layer and offset, and exits 3;
``check`` reports an error for the same blob (both read ``Inspection.damage``). Every blob is made with datafusion,
then damaged, and decoded with datafusion in a child process to prove it refuses it. Nothing datafusion decodes
(the external corpus, fixtures/blobs, the safety corpus's legit cases) is ever called damaged.
"""

from __future__ import annotations

import json
import pickle
import random
import struct
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from datafusion import col, udf
from support.blobs import find_fun_definition, no_inline_ctx
from support.cli import run_cli
from support.decoding import decode_all
from support.external_corpus import entries
from support.repo import FIXTURES
from support.safety_corpus import legit

from datafusion_exprtool.errors import DecodeError, ExitCode
from datafusion_exprtool.inspection.pipeline import inspect_bytes
from datafusion_exprtool.reports.check.report import check_bytes


def _inline_udf_blob() -> tuple[bytes, int]:
    """A scalar UDF call with its function pickled by value (a local), and where its cloudpickle stream starts."""

    def dbl(a: pa.Array) -> pa.Array:
        return a

    blob = udf(dbl, [pa.int64()], pa.int64(), "immutable", name="dbl")(col("a")).to_bytes()
    start, _end, _kind = find_fun_definition(blob)
    return blob, blob.index(b"\x80\x05", start)


def random_stream() -> bytes:
    blob, at = _inline_udf_blob()
    _start, end, _kind = find_fun_definition(blob)
    noise = random.Random(7)
    return blob[:at] + bytes(noise.randrange(256) for _ in range(end - at)) + blob[end:]


def stream_frame_2_40() -> bytes:
    blob, at = _inline_udf_blob()
    assert blob[at + 2] == 0x95  # PROTO 5, then FRAME with its 8-byte length
    return blob[: at + 3] + struct.pack("<Q", 2**40) + blob[at + 11 :]


def outer_frame_past_end() -> bytes:
    data = pickle.dumps(col("a") + 1, protocol=5)
    assert data[2] == 0x95
    return data[:3] + struct.pack("<Q", len(data) * 4) + data[11:]


def outer_frame_past_max() -> bytes:
    """A FRAME length past what the unpickler can hold (2**64 - 1 > sys.maxsize): CPython refuses it with an
    OverflowError, not as truncated data."""
    data = pickle.dumps(col("a") + 1, protocol=5)
    return data[:3] + struct.pack("<Q", 2**64 - 1) + data[11:]


def scrambled_schema() -> bytes:
    blob, at = _inline_udf_blob()
    ipc = bytearray(blob)
    schema = blob.index(b"\xff\xff\xff\xff", at) + 8  # the first Arrow IPC message's flatbuffer
    noise = random.Random(7)
    for i in range(schema, schema + 40):
        ipc[i] = noise.randrange(256)
    return bytes(ipc)


def name_not_utf8() -> bytes:
    blob = udf(lambda a: a, [pa.int64()], pa.int64(), "immutable", name="zzzz")(col("a")).to_bytes(no_inline_ctx())
    return blob.replace(b"zzzz", b"\xff\xfe\xfd\xfc")


def flipped(fixture: str, pos: int, bit: int) -> Callable[[], bytes]:
    """A blob of fixtures/blobs (written by datafusion: fixtures/generate.py) with one bit flipped."""

    def build() -> bytes:
        data = bytearray((FIXTURES / "blobs" / fixture).read_bytes())
        data[pos] ^= bit
        return bytes(data)

    return build


#: name -> (builder, how datafusion loads it, the layer inspect names, what datafusion's refusal says)
DAMAGED: dict[str, tuple[Callable[[], bytes], str, str, str]] = {
    "udf-stream-random": (random_stream, "expr", "cloudpickle", "invalid load key"),
    "udf-stream-frame-2^40": (stream_frame_2_40, "expr", "cloudpickle", "pickle data was truncated"),
    "outer-frame-past-end": (outer_frame_past_end, "pkl", "pickle", "pickle data was truncated"),
    "outer-frame-past-max": (outer_frame_past_max, "pkl", "pickle", "FRAME length exceeds system's maximum"),
    "arrow-schema-scrambled": (scrambled_schema, "expr", "arrow-ipc", "Unable to get root as message"),
    "fun-name-not-utf8": (name_not_utf8, "expr", "protobuf", "not UTF-8"),
    # Arrow IPC inside the protobuf: a nested literal's buffers, a memory table's rows (inspection/arrow_damage)
    "literal-buffer-past-body": (flipped("literal_list.expr.bin", 140, 2), "expr", "arrow-ipc",
                                 "the offset of the new Buffer cannot exceed the existing length"),
    "literal-null-count": (flipped("literal_list.expr.bin", 99, 64), "expr", "arrow-ipc", "Decoding nested ScalarValue"),
    "literal-in-pickle": (flipped("literal_list.expr.pkl", 251, 32), "pkl", "arrow-ipc", ""),
    "rows-validity-past-body": (flipped("plan_memory.physical.bin", 395, 2), "physical", "arrow-ipc",
                                "the offset of the new Buffer cannot exceed the existing length"),
    "rows-utf8-offsets": (flipped("plan_memory.physical.bin", 540, 1), "physical", "arrow-ipc", ""),
    # what prost reads and datafusion's from_proto refuses (layers/proto/semantics.py)
    "unknown-binary-operator": (flipped("alias.expr.bin", 24, 8), "expr", "protobuf",
                                "Unsupported binary operator"),
    "frame-bound-out-of-range": (flipped("window_rows.expr.bin", 39, 8), "expr", "protobuf", ""),
}  # fmt: skip


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("damaged")
    paths = {}
    for name, (build, _kind, _layer, _said) in DAMAGED.items():
        paths[name] = root / f"{name}.bin"
        paths[name].write_bytes(build())
    return paths


def test_datafusion_refuses_every_damaged_blob(damaged: dict[str, Path]) -> None:
    refusals = decode_all([(damaged[name], DAMAGED[name][1]) for name in DAMAGED])
    for name, refusal in zip(DAMAGED, refusals, strict=True):
        assert refusal is not None, f"{name}: datafusion decoded it"
        assert DAMAGED[name][3] in refusal, (name, refusal)


@pytest.mark.parametrize("name", list(DAMAGED))
def test_inspect_exits_3_naming_layer_and_offset(damaged: dict[str, Path], name: str) -> None:
    layer = DAMAGED[name][2]
    result = run_cli("inspect", str(damaged[name]))
    assert result.exit_code == ExitCode.UNDECODABLE, result.output
    assert f"cannot decode: {layer} layer at byte " in result.stderr
    data = damaged[name].read_bytes()
    try:
        damage = inspect_bytes(data).damage
    except DecodeError as err:  # the top-level protobuf itself: nothing else could be read
        assert (err.layer, err.offset) == (layer, 5)
        return
    assert damage and damage[0].layer == layer and damage[0].offset is not None
    assert f"{layer} layer at byte {damage[0].offset}:" in result.stderr
    assert any(panel in result.stdout for panel in ("Functions", "Expression", "Plan"))  # what was read is shown


@pytest.mark.parametrize("name", list(DAMAGED))
def test_inspect_json_is_printed_and_exits_3(damaged: dict[str, Path], name: str) -> None:
    result = run_cli("inspect", "--json", str(damaged[name]))
    assert result.exit_code == ExitCode.UNDECODABLE
    doc = json.loads(result.stdout)
    assert doc.get("warnings") or doc.get("error"), doc


@pytest.mark.parametrize("name", list(DAMAGED))
def test_check_reports_an_error(damaged: dict[str, Path], name: str) -> None:
    report = check_bytes(damaged[name].read_bytes())
    assert report.errors, report.findings
    assert run_cli("check", str(damaged[name])).exit_code == ExitCode.FINDINGS


def test_damaged_and_suspicious_exits_3_and_shows_the_verdict(damaged: dict[str, Path]) -> None:
    """An unwalkable stream is suspicious and damaged: exit 3 (datafusion refuses it) outranks --fail-on's 1."""
    path = str(damaged["udf-stream-random"])
    result = run_cli("inspect", "--fail-on", "suspicious", path)
    assert result.exit_code == ExitCode.UNDECODABLE
    assert "Safety: suspicious" in result.stdout
    doc = json.loads(run_cli("inspect", "--json", path).stdout)
    assert doc["safety"]["verdict"] == "suspicious"


def test_the_same_blob_undamaged_is_not_exit_3() -> None:
    blob, _at = _inline_udf_blob()
    assert not inspect_bytes(blob).damage
    assert not inspect_bytes(pickle.dumps(col("a") + 1, protocol=5)).damage


def _readable(data: bytes, what: str) -> str | None:
    """Why ``inspect`` would exit 3 on ``data`` (a DecodeError or a damage fact), or None."""
    try:
        damage = inspect_bytes(data).damage
    except DecodeError as err:
        return f"{what}: {err}"
    return f"{what}: {damage[0].layer} @ {damage[0].offset}: {damage[0].message}" if damage else None


def test_nothing_datafusion_decodes_is_exit_3(tmp_path: Path) -> None:
    """The external corpus (every blob datafusion round-tripped), fixtures/blobs, the safety corpus's legit cases."""
    wrong = []
    for e in entries():
        if e["blob"] is not None and e["roundtrip"]["ok"]:
            wrong.append(_readable(e["blob"], e["id"]))
    for path in sorted((FIXTURES / "blobs").iterdir()):
        wrong.append(_readable(path.read_bytes(), path.name))
    for k, case in enumerate(legit()):
        wrong.append(_readable(case.build(tmp_path / f"{k:03d}"), case.name))
    wrong = [w for w in wrong if w is not None]
    assert not wrong, wrong[:10]


@pytest.mark.parametrize("name", ["outer-frame-past-end", "outer-frame-past-max", "udf-stream-frame-2^40"])
def test_check_says_what_the_unpickler_says(damaged: dict[str, Path], name: str) -> None:
    """A FRAME that claims too much: check's error carries the receiver's own text (truncated data, or a length
    past the unpickler's maximum), never another one."""
    (refusal,) = decode_all([(damaged[name], DAMAGED[name][1])])
    first = check_bytes(damaged[name].read_bytes()).errors[0]
    assert refusal is not None and first.datafusion_text and first.datafusion_text in refusal, (first, refusal)
