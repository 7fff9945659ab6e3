"""`exprtool reencode` / `encode` and the atomic writer, checked against datafusion 55 itself."""

from __future__ import annotations

import base64
import os
import pickle
import stat
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from datafusion import SessionContext, col, lit, udf
from datafusion.expr import Expr
from support.cli import run_cli

from datafusion_exprtool.actions.reencode import reencode
from datafusion_exprtool.actions.trust import Refused
from datafusion_exprtool.atomic import OutputExists, atomic_write
from datafusion_exprtool.inspection.pipeline import inspect_loaded
from datafusion_exprtool.layers.container import load_bytes


def triple(a: pa.Array) -> pa.Array:
    return pc.multiply(a, 3)


TRIPLE = udf(triple, [pa.int64()], pa.int64(), "immutable", name="triple")
EXPRS = {
    "arith": lambda: (col("a") + lit(1)).alias("x"),
    "string": lambda: col("b").is_null() | (col("b") == lit("héllo")),
    "udf": lambda: TRIPLE(col("a")) + lit(2),
}


def decode_any(data: bytes, ctx: SessionContext | None = None) -> Expr:
    """Ground truth: what a receiver gets (text undone, then pickle.loads or Expr.from_bytes)."""
    text = data.strip()
    if not data.startswith(b"\x80") and text and all(c in b"0123456789abcdef" for c in text):
        data = bytes.fromhex(text.decode())
    elif not data.startswith(b"\x80") and data.endswith(b"\n"):
        data = base64.b64decode(text)
    if data.startswith(b"\x80"):
        return pickle.loads(data)  # our own output, in a test: trusted
    return Expr.from_bytes(data, ctx)


SOURCES = {
    "pickle": lambda e: pickle.dumps(e),
    "bytes": lambda e: e.to_bytes(),
    "base64": lambda e: base64.b64encode(e.to_bytes()),
    "hex": lambda e: pickle.dumps(e).hex().encode(),
}
TARGETS = ["out.pkl", "out.bin", "out.b64", "out.hex"]


@pytest.mark.parametrize("name", sorted(EXPRS))
@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("target", TARGETS)
def test_round_trip(name: str, source: str, target: str, tmp_path: Path) -> None:
    expr = EXPRS[name]()
    src = tmp_path / "in.blob"
    src.write_bytes(SOURCES[source](expr))
    before = src.read_bytes()
    res = run_cli("reencode", str(src), "-o", str(tmp_path / target), "--verify")
    assert res.exit_code == 0, res.output
    out = (tmp_path / target).read_bytes()
    assert decode_any(out).canonical_name() == expr.canonical_name()
    info = load_bytes(out).info
    source_container = "pickle" if source in ("pickle", "hex") else "protobuf"
    expected = {"out.pkl": ("pickle", None), "out.bin": ("protobuf", None),
                "out.b64": (source_container, "base64"), "out.hex": (source_container, "hex")}[target]  # fmt: skip
    assert (info.container, info.text_encoding) == expected
    assert src.read_bytes() == before  # input untouched


def test_text_encodings_and_containers_from_options(tmp_path: Path) -> None:
    expr = EXPRS["udf"]()
    src = tmp_path / "in.pkl"
    src.write_bytes(pickle.dumps(expr))
    assert (
        run_cli(
            "reencode", str(src), "-o", str(tmp_path / "o.txt"), "--to", "bytes", "--text", "hex"
        ).exit_code
        == 0
    )
    info = load_bytes((tmp_path / "o.txt").read_bytes()).info
    assert (info.container, info.text_encoding) == ("protobuf", "hex")
    assert (
        Expr.from_bytes(bytes.fromhex((tmp_path / "o.txt").read_text())).canonical_name()
        == expr.canonical_name()
    )


def test_by_name_drops_fun_definition(tmp_path: Path) -> None:
    expr = EXPRS["udf"]()
    src = tmp_path / "in.pkl"
    src.write_bytes(pickle.dumps(expr))
    res = run_cli("reencode", str(src), "-o", str(tmp_path / "o.bin"), "--by-name", "--verify")
    assert res.exit_code == 0, res.output
    out = (tmp_path / "o.bin").read_bytes()
    assert b"DFPYUDF" not in out
    assert out == expr.to_bytes(SessionContext().with_python_udf_inlining(enabled=False))
    fns = inspect_loaded(load_bytes(out)).functions
    assert [f.transport for f in fns if f.name == "triple"] == ["by_name"]
    with pytest.raises(
        RuntimeError, match="LogicalExtensionCodec is not provided for scalar function triple"
    ):
        Expr.from_bytes(out)
    receiver = SessionContext()
    receiver.register_udf(TRIPLE)
    assert Expr.from_bytes(out, receiver).canonical_name() == expr.canonical_name()


def test_by_name_input_stays_by_name_and_inline_output_fails(tmp_path: Path) -> None:
    strict = SessionContext().with_python_udf_inlining(enabled=False)
    src = tmp_path / "in.bin"
    src.write_bytes(EXPRS["udf"]().to_bytes(strict))
    ok = run_cli("reencode", str(src), "-o", str(tmp_path / "o.pkl"), "--by-name", "--verify")
    assert ok.exit_code == 0, ok.output
    receiver = SessionContext()
    receiver.register_udf(TRIPLE)
    payload = inspect_loaded(load_bytes((tmp_path / "o.pkl").read_bytes())).payloads[0].root.raw()
    assert payload == src.read_bytes()
    # inline output needs the real UDF: datafusion's own message, exit 4, no file
    with pytest.raises(RuntimeError) as truth:
        Expr.from_bytes(src.read_bytes())
    res = run_cli("reencode", str(src), "-o", str(tmp_path / "inline.pkl"))
    assert res.exit_code == 4
    assert str(truth.value) in res.stderr
    assert not (tmp_path / "inline.pkl").exists()


def test_protocol_2(tmp_path: Path) -> None:
    expr = EXPRS["udf"]()
    src = tmp_path / "in.bin"
    src.write_bytes(expr.to_bytes())
    res = run_cli("reencode", str(src), "-o", str(tmp_path / "o.pkl"), "--protocol", "2", "--verify")
    assert res.exit_code == 0, res.output
    out = (tmp_path / "o.pkl").read_bytes()
    assert out[:2] == b"\x80\x02"
    assert pickle.loads(out).canonical_name() == expr.canonical_name()
    assert run_cli("reencode", str(src), "-o", str(tmp_path / "p.bin"), "--protocol", "2").exit_code == 2


def test_verify_reports(tmp_path: Path) -> None:
    src = tmp_path / "in.pkl"
    src.write_bytes(pickle.dumps(EXPRS["arith"]()))
    res = reencode(load_bytes(src.read_bytes()), container="bytes", verify=True)
    assert res.verified is True
    assert res.rendered == EXPRS["arith"]().canonical_name()
    assert "(verified)" in run_cli("reencode", str(src), "-o", str(tmp_path / "o.bin"), "--verify").stderr


def test_refuses_to_replace_without_force(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.pkl", tmp_path / "o.bin"
    src.write_bytes(pickle.dumps(EXPRS["arith"]()))
    dst.write_bytes(b"keep me")
    res = run_cli("reencode", str(src), "-o", str(dst))
    assert res.exit_code == 2 and "--force" in res.stderr
    assert dst.read_bytes() == b"keep me"
    assert run_cli("reencode", str(src), "-o", str(dst), "--force").exit_code == 0
    assert Expr.from_bytes(dst.read_bytes()).canonical_name() == EXPRS["arith"]().canonical_name()
    # the input is never the output, even with --force
    assert run_cli("reencode", str(src), "-o", str(src), "--force", "--to", "bytes").exit_code == 2
    assert pickle.loads(src.read_bytes()).canonical_name() == EXPRS["arith"]().canonical_name()


def _failing_chunks() -> Iterator[bytes]:
    yield b"x" * 100_000
    raise OSError("disk went away midway")


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "o.bin"
    with pytest.raises(OSError, match="midway"):
        atomic_write(target, _failing_chunks(), force=False)
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="midway"):
        atomic_write(target, _failing_chunks(), force=True)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.bin"]
    with pytest.raises(OutputExists):
        atomic_write(target, b"new", force=False)
    atomic_write(target, [b"ne", b"w"], force=True)
    assert target.read_bytes() == b"new"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory(tmp_path: Path) -> None:
    src = tmp_path / "in.pkl"
    src.write_bytes(pickle.dumps(EXPRS["arith"]()))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        res = run_cli("reencode", str(src), "-o", str(ro / "o.bin"))
        assert res.exit_code == 2
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(stat.S_IRWXU)


class _Evil:
    """Pickles as os.system(...): the blob is written, never loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_trust_rule_on_a_suspicious_blob(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    expr = EXPRS["arith"]()
    src = tmp_path / "evil.pkl"
    src.write_bytes(pickle.dumps((_Evil(marker), expr), protocol=4))
    assert b"system" in src.read_bytes()
    with pytest.raises(Refused):
        reencode(load_bytes(src.read_bytes()), container="bytes")
    res = run_cli("reencode", str(src), "-o", str(tmp_path / "o.bin"))
    assert res.exit_code == 1
    assert "system" in res.stderr and "--trust" in res.stderr
    assert not (tmp_path / "o.bin").exists()
    ok = run_cli("reencode", str(src), "-o", str(tmp_path / "o.pkl"), "--trust", "--verify")
    assert ok.exit_code == 0, ok.output
    out = (tmp_path / "o.pkl").read_bytes()
    assert b"system" not in out
    assert pickle.loads(out).canonical_name() == expr.canonical_name()
    assert not marker.exists()  # the os.system call was never made


SQL = ["a + 1 > 2 AND b LIKE 'x%'", "CAST(a AS double) / 3", "CASE WHEN a IS NULL THEN b ELSE 'n' END"]


def _datafusion_truth(sql: str, schema: pa.Schema) -> str:
    ctx = SessionContext()
    ctx.register_record_batches("t", [[pa.RecordBatch.from_pylist([], schema=schema)]])
    return ctx.sql(f"SELECT {sql} FROM t").logical_plan().to_variant().projections()[0].canonical_name()


@pytest.mark.parametrize("sql", SQL)
def test_encode_from_sql(sql: str, tmp_path: Path) -> None:
    schema = pa.schema([("a", pa.int64()), ("b", pa.utf8())])
    parquet = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_batches([], schema=schema), parquet)
    truth = _datafusion_truth(sql, schema)
    for spec, out in (("a int64, b utf8", "text.pkl"), (str(parquet), "file.bin")):
        res = run_cli("encode", sql, "--schema", spec, "-o", str(tmp_path / out))
        assert res.exit_code == 0, res.output
        assert decode_any((tmp_path / out).read_bytes()).canonical_name() == truth


def test_encode_errors(tmp_path: Path) -> None:
    res = run_cli("encode", "zz + 1", "--schema", "a int64", "-o", str(tmp_path / "o.pkl"))
    assert res.exit_code == 4 and "zz" in res.stderr
    assert not (tmp_path / "o.pkl").exists()
    assert run_cli("encode", "a", "--schema", "a nosuchtype", "-o", str(tmp_path / "o.pkl")).exit_code == 2
    (tmp_path / "csv.parquet").write_text("a,b\n1,2\n")  # QA: was an internal error (exit 3)
    for spec, said in ((tmp_path / "csv.parquet", "not a readable Parquet file"), (tmp_path, "not a Parquet or Arrow")):
        res = run_cli("encode", "a", "--schema", str(spec), "-o", str(tmp_path / "o.pkl"))
        assert res.exit_code == 2 and said in res.stderr, res.output


def test_fields_datafusion_would_drop_are_refused(fixture_set, tmp_path: Path) -> None:
    """QA: a physical plan forced to be read as an expression decoded (prost skips unknown fields) to a 9-byte
    `NOT s`, written with exit 0. Bytes the target message does not have are refused (exit 3), nothing written."""
    from datafusion import Expr

    blobs, _ = fixture_set
    plan = blobs / "plan_udaf.physical.bin"
    lost = Expr.from_bytes(plan.read_bytes()).to_bytes()  # what datafusion makes of it: most of it is gone
    assert len(lost) < plan.stat().st_size // 10
    out = tmp_path / "x.bin"
    res = run_cli("reencode", str(plan), "-m", "expr", "--to", "bytes", "-o", str(out))
    assert res.exit_code == 3 and "would drop them" in res.stderr and not out.exists(), res.output
    res = run_cli("reencode", str(plan), "-m", "physical", "--to", "bytes", "-o", str(out), "--trust")
    assert res.exit_code == 0 and out.stat().st_size > plan.stat().st_size // 2, res.output  # the whole plan


def test_long_texts_are_shortened_and_named(fixture_set, tmp_path: Path) -> None:
    """QA: reencode echoed a 20 MB rendering, and datafusion's 2 KB refusal of a too-deep blob, on one line."""
    blobs, _ = fixture_set
    res = run_cli("reencode", str(blobs / "deep_nesting_50.expr.bin"), "-o", str(tmp_path / "d.pkl"))
    assert res.exit_code == 4 and len(res.stderr) < 1200 and "[too-deep:" in res.stderr, res.stderr
    assert "recursion limit reached" in res.stderr  # the end of datafusion's text survives the shortening
    sql = "a IN (" + ",".join(map(str, range(3000))) + ")"
    res = run_cli("encode", sql, "--schema", "a int64", "-o", str(tmp_path / "big.pkl"))
    assert res.exit_code == 0 and len(res.stderr) < 800 and "characters)" in res.stderr, res.stderr[:300]
