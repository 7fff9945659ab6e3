"""A path that cannot be read is a usage error (exit 2) in every command, said as "cannot read"; bytes that do
not decode stay exit 3 with "cannot decode" (check, diff, reencode and eval included)."""

from __future__ import annotations

from pathlib import Path

from support.cli import run_cli


def test_unreadable_paths_are_usage_errors(fixture_set, tmp_path: Path) -> None:
    blobs, _ = fixture_set
    blob = str(blobs / "column.expr.bin")
    data = str(Path(blobs).parent / "data" / "small.parquet")
    missing = str(tmp_path / "missing.bin")
    for args in (
        ["check", missing],
        ["diff", missing, blob],
        ["reencode", missing, "-o", str(tmp_path / "o.bin")],
        ["reencode", str(tmp_path), "-o", str(tmp_path / "o.bin")],
        ["eval", missing, data],
        ["eval", str(tmp_path), data],
        ["inspect", missing],
    ):
        r = run_cli(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "cannot decode" not in r.stderr and "Traceback" not in r.output, (args, r.stderr)
    r = run_cli("check", data)  # a Parquet file given as a blob: readable, not a blob
    assert r.exit_code == 3 and "cannot decode" in r.stderr and "Parquet" in r.stderr


def test_output_paths_are_checked_before_any_work(fixture_set, tmp_path: Path) -> None:
    """QA: `-o somedir/` said "already exists (use --force)", and with --force eval failed late (exit 4) with a
    raw IsADirectoryError naming a temporary file; a missing directory exposed the temporary file's name."""
    blobs, _ = fixture_set
    blob = str(blobs / "column.expr.bin")
    data = str(Path(blobs).parent / "data" / "small.parquet")
    folder = tmp_path / "d.parquet"
    folder.mkdir()
    for out, said in ((str(folder), "is a directory"), (str(folder) + "/", "is a directory"),
                      (str(tmp_path / "nodir" / "x.parquet"), "does not exist")):  # fmt: skip
        for args in (["encode", "a", "--schema", "a int64"], ["reencode", blob], ["eval", blob, data, "-q"]):
            r = run_cli(*args, "-o", out, "--force")
            assert r.exit_code == 2 and said in r.stderr and ".tmp" not in r.stderr, (args, out, r.stderr)
    assert [p.name for p in tmp_path.iterdir()] == ["d.parquet"] and not any(folder.iterdir())


def test_pasted_text_problems_are_named_at_the_container_layer(fixture_set) -> None:
    """QA: base64 with junk after it, odd-length hex, a pickle protocol this Python lacks were all reported as
    protobuf errors; a BOM, UTF-16 text and base64 of base64 were not read at all."""
    import base64
    import binascii

    from datafusion_exprtool.errors import DecodeError
    from datafusion_exprtool.inspection.pipeline import inspect_bytes
    from datafusion_exprtool.layers.container import load_bytes

    blob = (fixture_set[0] / "column.expr.pkl").read_bytes()
    b64 = base64.b64encode(blob)
    want = inspect_bytes(blob).payloads[0].rendered
    for text in (b"\xef\xbb\xbf" + b64, b64.decode().encode("utf-16"), base64.b64encode(b64)):
        assert inspect_bytes(text).payloads[0].rendered == want
    for text, said in (
        (b64 + b"!!!@@@", f"byte {len(b64)} ('!')"),
        (binascii.hexlify(blob) + b"a", "odd number of digits"),
        (b"\x80\x09N.", "pickle protocol 9"),
    ):
        try:
            load_bytes(text)
        except DecodeError as err:
            assert err.layer == "container" and said in str(err), str(err)
        else:
            raise AssertionError(f"{text[:20]!r} was read")


def test_a_golden_file_that_is_not_parquet_is_a_usage_error(fixture_set, tmp_path: Path) -> None:
    """QA: `eval --expect golden.parquet` with CSV inside failed at stage 'plan' (exit 4, "Corrupt footer")."""
    blobs, _ = fixture_set
    golden = tmp_path / "golden.parquet"
    golden.write_text("a,b\n1,2\n")
    data = str(Path(blobs).parent / "data" / "small.parquet")
    r = run_cli("eval", str(blobs / "column.expr.bin"), data, "--expect", str(golden), "-q", "--isolate", "none")
    assert r.exit_code == 2 and "golden file is not a readable Parquet file" in r.stderr, r.output


def test_empty_option_values_are_usage_errors(fixture_set) -> None:
    """QA: `--worker-ctx ''` and `--python ''` were silently ignored."""
    blob = str(fixture_set[0] / "column.expr.bin")
    for args in (["check", blob, "--worker-ctx", ""], ["check", blob, "--python", ""],
                 ["reencode", blob, "-o", "-", "--worker-ctx", ""]):  # fmt: skip
        r = run_cli(*args)
        assert r.exit_code == 2 and "''" in r.stderr, (args, r.output)


def test_forced_aggregate_mode_without_an_aggregate_is_a_usage_error(fixture_set) -> None:
    """QA: datafusion's planner refused it in a multi-line text at stage 'plan' (exit 4)."""
    from datafusion import SessionContext

    blobs, _ = fixture_set
    data = str(Path(blobs).parent / "data" / "small.parquet")
    df = SessionContext().read_parquet(data)
    try:
        df.aggregate([], []).collect()  # what datafusion says to an aggregate with nothing to aggregate
    except Exception as exc:  # noqa: BLE001 - its text is all this checks
        assert "Aggregate requires at least one grouping or aggregate expression" in str(exc)
    else:
        raise AssertionError("datafusion accepted an empty aggregate")
    r = run_cli("eval", str(blobs / "column.expr.bin"), data, "--mode", "aggregate", "-q", "--isolate", "none")
    assert r.exit_code == 2 and "calls no aggregate function" in r.stderr, r.output
