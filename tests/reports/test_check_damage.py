"""check on damaged and suspicious blobs: cut, bit-flipped and gadget pickles, checked, then decoded for real.

Each blob is damaged the way QA found it (a cut, a flipped bit, a gadget in the
pickle); check's prediction is compared with what datafusion (or ``pickle.loads``) actually raises, in a
child process where a flipped byte could run anything.
"""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest
from datafusion import ExecutionPlan, Expr, SessionContext, col, udf
from support.blobs import double_it, find_fun_definition, raised, scalar_udf_expr
from support.cli import run_cli
from support.decoding import decode_all

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.container import load_input
from datafusion_exprtool.reports.check.findings import CheckReport
from datafusion_exprtool.reports.check.report import check_bytes, check_loaded
from datafusion_exprtool.reports.check.target import Target
from datafusion_exprtool.reports.explain import explain

# ------------------------------------------------------------------- QA: damaged blobs, suspicious payloads


class SystemGadget:
    def __reduce__(self):
        return (os.system, ("echo owned",))


class SubprocessGadget:
    def __reduce__(self):
        return (subprocess.call, (["true"],))


class NestedLoads:
    def __reduce__(self):
        return (pickle.loads, (b"\x80\x04K\x01.",))


def _command_udf_blob() -> bytes:
    def runs(a: pa.Array, _run=os.system) -> pa.Array:  # local: by value; os.system by reference in it
        return a

    return udf(runs, [pa.int64()], pa.int64(), "immutable", name="runs")(col("a")).to_bytes()


@pytest.mark.parametrize(
    "blob, layer",
    [
        (lambda: pickle.dumps(SystemGadget()), "pickle"),
        (lambda: pickle.dumps([col("a"), SubprocessGadget()]), "pickle"),
        (lambda: pickle.dumps((NestedLoads(), col("a")), protocol=2), "pickle"),
        (_command_udf_blob, "cloudpickle"),
    ],
    ids=["os.system", "subprocess.call", "nested-pickle.loads", "udf-captures-os.system"],
)
def test_suspicious_is_an_error(blob, layer):
    """A suspicious verdict is never "no failures predicted": the receiver would run it (nothing fails)."""
    data = blob()
    report = check_bytes(data)
    found = [f for f in report.errors if f.id == "suspicious-payload"]
    assert found and found[0].layer == layer, report.findings
    assert found[0].offset is not None and f"byte {found[0].offset}" in found[0].message
    assert "Do not decode it" in found[0].fix and "who produced it" in found[0].fix
    assert not found[0].datafusion_text  # datafusion raises nothing: it executes it


def test_outer_pickle_module_the_target_cannot_import():
    """QA: one bit turned datafusion.expr into datafusimn.expr: suspicious, and pickle.loads fails to import it."""
    data = pickle.dumps(col("a") + 1, protocol=0).replace(b"datafusion.expr", b"datafusimn.expr")
    report = check_bytes(data)
    ids = [f.id for f in report.errors]
    assert "suspicious-payload" in ids and "module-missing" in ids, ids
    missing = next(f for f in report.errors if f.id == "module-missing")
    assert missing.layer == "pickle" and missing.offset == data.index(b"datafusimn") - 1
    with pytest.raises(ModuleNotFoundError) as err:  # what the unpickler's import raises (never decoded here)
        importlib.import_module("datafusimn.expr")
    assert missing.datafusion_text in str(err.value)


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_cut_pickle_is_a_finding(protocol):
    """QA: a truncated pickle of an Expr exited 3 (not a blob) while a truncated protobuf exits 1."""
    data = pickle.dumps(col("a") + 1, protocol=protocol)
    for cut in (len(data) // 2, len(data) - 1):
        report = check_bytes(data[:cut])
        assert [f.id for f in report.errors] == ["pickle-truncated"], (cut, report.findings)
        actual = str(raised(lambda d=data[:cut]: pickle.loads(d)))
        assert report.errors[0].datafusion_text in actual and report.errors[0].offset is not None


def test_damaged_pickle_is_a_finding():
    data = bytearray(pickle.dumps(col("a") + 1, protocol=5))
    data[data.index(b"_reconstruct") + len(b"_reconstruct") + 1] = 0x14  # an opcode no pickle has
    report = check_bytes(bytes(data))
    assert [f.id for f in report.errors] == ["pickle-corrupt"]
    assert report.errors[0].datafusion_text in str(raised(lambda: pickle.loads(bytes(data))))
    with pytest.raises(DecodeError):  # cut before it names datafusion: not a datafusion blob at all
        check_bytes(pickle.dumps(col("a"))[:12])


def test_unreadable_udaf_payload(fixture_set):
    """QA: a flipped byte in a UDAF's cloudpickle stream (inspect: unreadable-payload) was called clean."""
    blobs, _ = fixture_set
    data = (blobs / "udaf_inline.expr.bin").read_bytes()
    stream = data.index(b"DFPYUDA") + 10 + 11  # header, then PROTO and FRAME: the first real opcode
    bad = data[:stream] + b"\x14" + data[stream + 1 :]
    report = check_bytes(bad)
    assert [(f.id, f.function, f.offset) for f in report.errors] == [
        ("cloudpickle-corrupt", "my_sum", stream)
    ]
    actual = str(raised(lambda: Expr.from_bytes(bad)))
    assert report.errors[0].datafusion_text in actual and explain(actual)[0].id == "cloudpickle-corrupt"


@pytest.mark.parametrize("damage", ["invalid-opcode", "cut-in-argument", "no-stop"])
def test_a_udf_name_does_not_change_what_damage_is_found(damage):
    """A UDF named like a failure (``truncated_sum``) is classified by what broke in its stream, as one named
    ``f`` is: check reads the layer's DecodeError kind, never the words of a message that quotes the name."""
    found = {}
    for name in ("f", "truncated_sum"):
        fun_blob = udf(double_it, [pa.int64()], pa.int64(), "immutable", name=name)(col("a")).to_bytes()
        a, b, _kind = find_fun_definition(fun_blob)
        fun = fun_blob[a:b]
        first = fun.index(b"DFPYUDF") + 10 + 11  # header, then PROTO and FRAME: the first real opcode
        bad_fun = {
            "invalid-opcode": fun[:first] + b"\x14" + fun[first + 1 :],
            "cut-in-argument": fun[: first + (len(fun) - first) // 2],
            "no-stop": fun[:-1],
        }[damage]
        bad = scalar_udf_expr(name, bad_fun)
        report = check_bytes(bad)
        found[name] = [(f.id, f.layer, f.datafusion_text) for f in report.errors]
        actual = str(raised(lambda bad=bad: Expr.from_bytes(bad)))
        assert all(text in actual for _id, _layer, text in found[name]), (name, found[name], actual[:300])
    assert found["f"] and found["truncated_sum"] == found["f"], found
    expected = {"invalid-opcode": "cloudpickle-corrupt"}.get(damage, "cloudpickle-truncated")
    assert found["f"][0][0] == expected


def test_cli_exit_codes_for_damaged_blobs(tmp_path):
    """A cut pickle of an Expr and a cut protobuf both exit 1; a pickle of something else exits 3."""
    data = pickle.dumps(col("a") + 1)
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(data[: len(data) // 2])
    r = run_cli("check", str(cut))
    assert r.exit_code == 1 and "pickle-truncated" in r.output
    proto = tmp_path / "cut.bin"
    proto.write_bytes((col("a") + 1).to_bytes()[:5])
    assert run_cli("check", str(proto)).exit_code == 1
    gadget = tmp_path / "evil.pkl"
    gadget.write_bytes(pickle.dumps(SystemGadget()))
    r = run_cli("check", str(gadget))
    assert r.exit_code == 1 and "suspicious-payload" in r.output and "no failures predicted" not in r.output


# ------------------------------------------------------- QA's experiment, reduced: check vs datafusion's decode

#: (fixture, receiver) and the variants taken from each: cuts spread evenly, bit flips from a seeded generator
EXPERIMENT = [
    ("udf_scalar_inline.expr.pkl", "pkl"),
    ("udaf_inline.expr.bin", "expr"),
    ("scalar_function.p0.pkl", "pkl"),
    ("column.expr.pkl", "pkl"),
    ("udwf_inline.expr.bin", "expr"),
]
CUTS, FLIPS = 4, 4


def _variants(name: str, data: bytes) -> list[tuple[str, bytes]]:
    import random

    out = [(f"cut{c}", data[:c]) for c in (len(data) * i // (CUTS + 1) for i in range(1, CUTS + 1))]
    rng = random.Random(name)
    for _ in range(FLIPS):
        pos, bit = rng.randrange(len(data)), 1 << rng.randrange(8)
        flipped = bytearray(data)
        flipped[pos] ^= bit
        out.append((f"flip{pos}^{bit}", bytes(flipped)))
    return out


def test_damaged_fixtures_agree_with_datafusion(fixture_set, tmp_path):
    """Cut and bit-flipped blobs: none that datafusion refuses is called clean; suspicious ones never decode."""
    blobs, _ = fixture_set
    cases: list[tuple[str, Path, str, CheckReport | None]] = []
    for name, kind in EXPERIMENT:
        for label, data in _variants(name, (blobs / name).read_bytes()):
            path = tmp_path / f"{name}.{label}"
            path.write_bytes(data)
            try:
                report = check_loaded(load_input(str(path)), Target())
            except DecodeError:
                report = None  # exit 3: not a datafusion blob
            cases.append((f"{name}.{label}", path, kind, report))
    suspicious = {c[0] for c in cases if c[3] and any(f.id == "suspicious-payload" for f in c[3].errors)}
    decodable = [c for c in cases if c[0] not in suspicious]
    verdicts = decode_all([(c[1], c[2]) for c in decodable])
    refused = [(c, v) for c, v in zip(decodable, verdicts, strict=True) if v is not None]
    called_clean = [(c[0], v[:120]) for c, v in refused if c[3] is not None and not c[3].errors]
    assert not called_clean, called_clean
    not_a_blob = [c[0] for c in cases if c[3] is None and b"datafusion" in c[1].read_bytes()]
    assert not not_a_blob, not_a_blob  # a damaged datafusion pickle is a finding (exit 1), not exit 3
    assert len(refused) >= len(cases) // 2  # the damage is real: most variants fail to decode


def test_corrupt_memory_partition(fixture_set):
    """QA: a flipped byte in the rows a physical plan carries (Arrow IPC) was called clean."""
    blobs, _ = fixture_set
    data = bytearray((blobs / "plan_memory.physical.bin").read_bytes())
    assert not check_bytes(bytes(data)).errors
    data[540] ^= 1  # inside the offsets of a Utf8 column
    bad = bytes(data)
    report = check_bytes(bad)
    assert [(f.id, f.layer) for f in report.errors] == [("table-rows-corrupt", "arrow-ipc")]
    raised(lambda: ExecutionPlan.from_bytes(SessionContext(), bad))  # datafusion refuses it too


def test_empty_memory_partition_is_not_corrupt():
    """QA: a memory table with an empty partition (written as zero bytes) got a false table-rows-corrupt
    ("Tried reading schema message, was null or length 0"); datafusion decodes such plans."""
    batch = pa.RecordBatch.from_pydict({"a": [1, 2], "s": ["x", "y"]})
    ctx = SessionContext()
    for df in (ctx.create_dataframe([[batch], []]), ctx.create_dataframe([[batch], [], [batch]]),
               ctx.from_arrow(pa.table({"a": pa.array([], pa.int64())}))):  # fmt: skip
        plan = df.execution_plan()
        blob = plan.to_bytes()
        decoded = ExecutionPlan.from_bytes(SessionContext(), blob)
        assert decoded.display_indent() == plan.display_indent()
        report = check_bytes(blob)
        assert not report.errors, [(f.id, f.message) for f in report.errors]


#: QA's bit flips that prost reads but datafusion's from_proto refuses (fixture, byte, bit): an unknown
#: operator, a binary with one operand, an empty nested expression, a NullTreatment / frame bound out of range
SEMANTIC_FLIPS = [
    ("alias.expr.bin", 24, 8),
    ("alias.expr.bin", 13, 16),
    ("alias.expr.bin", 4, 8),
    ("binary_right_nested.expr.bin", 20, 32),
    ("case_searched.expr.bin", 25, 64),
    ("aggregate_null_treatment.expr.bin", 36, 8),
    ("window_rows.expr.bin", 39, 8),
    ("like_family.expr.bin", 103, 8),
]


def test_semantic_damage_agrees_with_datafusion(fixture_set, tmp_path):
    """QA: these flips were called clean while datafusion refuses them; check now says what datafusion says."""
    blobs, _ = fixture_set
    items = []
    for name, pos, bit in SEMANTIC_FLIPS:
        data = bytearray((blobs / name).read_bytes())
        data[pos] ^= bit
        path = tmp_path / f"{name}.flip{pos}_{bit}"
        path.write_bytes(bytes(data))
        items.append((path, "expr"))
    verdicts = decode_all(items)
    for (path, _), said in zip(items, verdicts, strict=True):
        assert said is not None, f"{path.name}: datafusion accepts it"
        report = check_loaded(load_input(str(path)), Target(), message="expr")
        assert report.errors, path.name
        plain = said.replace('\\"', '"').replace("\\\\", "\\").replace('\\"', '"')
        assert report.errors[0].datafusion_text and report.errors[0].datafusion_text in plain, (path.name, said[:200])
