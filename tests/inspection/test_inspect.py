"""End to end: `inspect` on every sample blob agrees with datafusion's own answers (the fixture manifest)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from datafusion_exprtool.cli.main import app
from support.cli import run_cli
from typer.testing import CliRunner

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.inspection.pipeline import inspect_bytes, inspect_path

runner = CliRunner()


def entries(manifest: dict, kind: str | None = None) -> list[dict]:
    return [e for e in manifest["blobs"] if kind is None or e["kind"] == kind]


def test_every_fixture_renders_as_datafusion_does(fixture_set):
    blob_dir, manifest = fixture_set
    checked = 0
    for entry in entries(manifest, "expr"):
        insp = inspect_path(str(blob_dir / entry["file"]))
        rendered = [p.rendered for p in insp.payloads]
        assert rendered == entry["canonical_names"], entry["file"]
        checked += 1
    assert checked >= 40


def test_every_fixture_lists_the_functions_datafusion_sees(fixture_set):
    blob_dir, manifest = fixture_set
    for entry in entries(manifest):
        insp = inspect_path(str(blob_dir / entry["file"]))
        got = {(f.name, f.transport) for f in insp.functions}
        want = {(f["name"], f["transport"]) for f in entry["functions"]}
        assert got == want, entry["file"]
        kinds = {f.name: f.kind for f in insp.functions}
        for f in entry["functions"]:
            assert kinds[f["name"]] == f["kind"], (entry["file"], f)


def test_message_detection_matches_the_encoder(fixture_set):
    blob_dir, manifest = fixture_set
    expected = {"expr": "LogicalExprNode", "logical_plan": "LogicalPlanNode", "physical_plan": "PhysicalPlanNode"}
    for entry in entries(manifest):
        assert inspect_path(str(blob_dir / entry["file"])).message == expected[entry["kind"]], entry["file"]


def test_verdicts_are_calibrated_on_ordinary_blobs(fixture_set):
    """Nothing datafusion produces in ordinary use is suspicious; inline UDFs are code, the rest data."""
    blob_dir, manifest = fixture_set
    for entry in entries(manifest):
        insp = inspect_path(str(blob_dir / entry["file"]))
        inline = any(f["transport"] == "inline" for f in entry["functions"])
        assert insp.safety.verdict == ("code" if inline else "data"), (entry["file"], insp.safety.findings)


def test_depth_beyond_datafusion_limit_is_warned(fixture_set):
    blob_dir, manifest = fixture_set
    by_file = {e["file"]: e for e in entries(manifest)}
    deep = inspect_path(str(blob_dir / "deep_nesting_50.expr.bin"))
    ok = inspect_path(str(blob_dir / "deep_nesting_49.expr.bin"))
    assert by_file["deep_nesting_50.expr.bin"]["decodes"] is not True
    assert by_file["deep_nesting_49.expr.bin"]["decodes"] is True
    assert any(w.id == "too-deep" for w in deep.warnings)
    assert not any(w.id == "too-deep" for w in ok.warnings)


def test_closure_values_travel_in_clear_text(fixture_set):
    blob_dir, _ = fixture_set
    insp = inspect_path(str(blob_dir / "udf_closure.expr.bin"))
    assert any("captured-by-value" in s.text for s in insp.sensitive)


@pytest.mark.parametrize("encode", ["base64", "hex", "hex-wrapped", "python-bytes"])
def test_text_containers_decode_like_the_binary(fixture_set, encode):
    blob_dir, _ = fixture_set
    raw = (blob_dir / "udf_scalar_inline.expr.pkl").read_bytes()
    text = {
        "base64": base64.b64encode(raw),
        "hex": raw.hex().encode(),
        "hex-wrapped": b"\n".join(raw.hex().encode()[i : i + 64] for i in range(0, len(raw) * 2, 64)) + b"\n",
        "python-bytes": repr(raw).encode(),
    }[encode]
    plain = inspect_bytes(raw)
    pasted = inspect_bytes(text)
    assert pasted.rendered == plain.rendered
    assert pasted.input.container == "pickle"
    assert pasted.input.text_encoding == ("hex" if encode.startswith("hex") else encode)
    assert [f.name for f in pasted.functions] == [f.name for f in plain.functions]


def test_json_document_has_the_documented_keys(fixture_set):
    blob_dir, _ = fixture_set
    result = runner.invoke(app, ["inspect", "--json", str(blob_dir / "udf_scalar_inline.expr.pkl")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    for key in ("schema_version", "input", "message", "rendered", "depth", "functions", "safety", "warnings"):
        assert key in doc
    assert set(doc["input"]) >= {"path", "size", "sha256", "container"}
    fn = doc["functions"][0]
    for key in ("name", "kind", "transport", "family", "wire_version", "python", "volatility", "codec_id",
                "input_types", "return_type", "state_types", "callable", "imports"):
        assert key in fn
    assert fn["python"] == "{}.{}".format(*sys.version_info[:2])
    assert doc["safety"]["verdict"] == "code"


def test_ndjson_one_line_per_input_and_directory_input(fixture_set):
    blob_dir, manifest = fixture_set
    result = runner.invoke(app, ["inspect", "--format", "ndjson", str(blob_dir)])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(manifest["blobs"])
    assert all(d["schema_version"] == 1 for d in lines)


def test_fail_on_maps_the_verdict_to_exit_status(fixture_set):
    blob_dir, _ = fixture_set
    inline = str(blob_dir / "udf_scalar_inline.expr.pkl")
    plain = str(blob_dir / "scalar_function.expr.pkl")
    assert runner.invoke(app, ["inspect", "--json", "--fail-on", "code", inline]).exit_code == 1
    assert runner.invoke(app, ["inspect", "--json", "--fail-on", "suspicious", inline]).exit_code == 0
    assert runner.invoke(app, ["inspect", "--json", "--fail-on", "code", plain]).exit_code == 0


def test_truncated_blob_is_one_line_with_layer_and_offset(fixture_set, tmp_path):
    blob_dir, _ = fixture_set
    raw = (blob_dir / "udf_scalar_inline.expr.bin").read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(raw[: len(raw) // 2])
    proc = subprocess.run(
        [sys.executable, "-m", "datafusion_exprtool", "inspect", str(cut)], capture_output=True, text=True
    )
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    assert "protobuf" in proc.stderr and "byte" in proc.stderr
    with pytest.raises(DecodeError) as info:
        inspect_bytes(raw[: len(raw) // 2])
    assert info.value.layer == "protobuf" and info.value.offset is not None


def test_usage_error_is_exit_2(fixture_set):
    blob_dir, _ = fixture_set
    result = runner.invoke(app, ["inspect", "--message", "nonsense", str(blob_dir / "column.expr.bin")])
    assert result.exit_code == 2


def test_stdin_input(fixture_set):
    blob_dir, _ = fixture_set
    raw = (blob_dir / "scalar_function.expr.pkl").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "datafusion_exprtool", "inspect", "--json", "-"], input=raw, capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["input"]["path"] == "-"


def test_inspect_json_does_not_import_datafusion_or_pyarrow(fixture_set):
    blob_dir, _ = fixture_set
    code = (  # main() ends the process itself (no interpreter teardown): the check runs as an atexit hook
        "import atexit, sys\nfrom datafusion_exprtool.cli.main import main\n"
        "atexit.register(lambda: print('HEAVY', [m for m in ('datafusion', 'pyarrow', 'rich', 'cloudpickle')"
        " if m in sys.modules], file=sys.stderr))\n"
        f"sys.argv = ['exprtool', 'inspect', '--json', {str(blob_dir / 'udaf_inline.expr.pkl')!r}]\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in proc.stderr, proc.stderr


def test_terminal_output_renders_every_fixture(fixture_set):
    blob_dir, manifest = fixture_set
    result = runner.invoke(app, ["inspect", str(blob_dir)])
    assert result.exit_code == 0, result.output[-3000:]
    assert "Safety" in result.stdout
    assert Path(blob_dir / "udf_closure.expr.bin").name in result.stdout


def test_json_writer_streams_big_strings_identically():
    import io

    from datafusion_exprtool.reports.formats import json as json_out

    doc = {"rendered": 'x"\\\n\u00e9' * (json_out.BIG_STRING // 2), "list": ["y" * (json_out.BIG_STRING + 3), 1]}
    out = io.StringIO()
    json_out.write_json(doc, out, pretty=False)
    assert json.loads(out.getvalue()) == doc


def test_corrupt_nested_literals_never_abort_the_process(fixture_set):
    """Arrow's C++ aborts on an invalid offset unless the batch is validated first: flip bytes and see."""
    blob_dir, _ = fixture_set
    code = (
        "import sys\nfrom datafusion_exprtool.inspection.pipeline import inspect_bytes\n"
        "from datafusion_exprtool.errors import DecodeError\n"
        "bad = 0\n"
        "for name in ('literal_struct.expr.bin', 'literal_list.expr.bin'):\n"
        f"    raw = open({str(blob_dir)!r} + '/' + name, 'rb').read()\n"
        "    for pos in range(0, len(raw), 3):\n"
        "        for bit in (1, 128):\n"
        "            data = bytearray(raw); data[pos] ^= bit\n"
        "            try:\n                inspect_bytes(bytes(data))\n"
        "            except DecodeError:\n                pass\n"
        "print('DONE')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "DONE" in proc.stdout, proc.stderr[-2000:]


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "datafusion_exprtool", *args], input=stdin, capture_output=True)


def test_files_that_are_not_blobs_say_what_they_are(fixture_set, small_parquet, tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    for path, words in ((small_parquet, b"Parquet"), (Path("fixtures/manifest.json"), b"JSON"), (empty, b"the file is empty (0 bytes)")):
        proc = _run("inspect", str(path))
        assert proc.returncode == 3, proc.stderr
        assert words in proc.stderr and b"Traceback" not in proc.stderr


def test_directory_scan_skips_fifos_and_ndjson_keeps_order(fixture_set, tmp_path):
    blob_dir, _ = fixture_set
    os.mkfifo(tmp_path / "pipe.bin")
    (tmp_path / "a.bin").write_bytes((blob_dir / "column.expr.bin").read_bytes())
    (tmp_path / "b.bin").write_bytes(b"\x00garbage")
    (tmp_path / "c.bin").write_bytes((blob_dir / "alias.expr.bin").read_bytes())
    proc = subprocess.run([sys.executable, "-m", "datafusion_exprtool", "inspect", "--format", "ndjson",
                           str(tmp_path)], capture_output=True, timeout=60)
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(d["input"]["path"]).name for d in docs] == ["a.bin", "b.bin", "c.bin"]
    assert "error" in docs[1] and proc.returncode == 3


def test_closed_pipe_is_neither_a_pass_nor_a_finding(fixture_set):
    """A reader that leaves early (`| head`) ends the run with 141 (128 + SIGPIPE), quietly: never 0, so
    `check BLOBS | head` under `set -o pipefail` cannot read as a pass."""
    blob_dir, _ = fixture_set
    for command in ("inspect", "check", "inspect --json"):
        proc = subprocess.run(
            f"{sys.executable} -m datafusion_exprtool {command} {blob_dir} | head -c 10 >/dev/null; "
            "exit ${PIPESTATUS[0]}",
            shell=True, executable="/bin/bash", capture_output=True,
        )
        assert proc.returncode == 141, (command, proc.returncode, proc.stderr[-500:])
        assert proc.stderr == b"", (command, proc.stderr[-500:])


def test_lines_are_not_hard_wrapped_off_a_terminal(fixture_set, tmp_path):
    """A CI log or a pipe gets each message on one line whatever the path length or COLUMNS (grep must find it)."""
    blob_dir, _ = fixture_set
    deep = tmp_path / ("long_directory_name_" * 4) / ("another_segment_" * 3)
    deep.mkdir(parents=True)
    blob = deep / "udf_scalar_inline.expr.bin"
    blob.write_bytes((blob_dir / "udf_scalar_inline.expr.bin").read_bytes())
    for columns in (20, 80):
        r = run_cli("check", str(blob), columns=columns)
        assert r.exit_code == 0
        lines = r.output.splitlines()
        assert len(lines) == 1 and str(blob) in lines[0] and "no failures predicted" in lines[0], r.output
        r = run_cli("inspect", str(blob), columns=columns)  # safety and function lines (printed as groups)
        assert any("carries Python code that runs when a worker decodes the blob" in line for line in
                   r.output.splitlines()), r.output  # fmt: skip


def test_conflicting_formats_and_odd_file_names(fixture_set, tmp_path):
    blob_dir, _ = fixture_set
    assert _run("inspect", "--json", "--format", "ndjson", str(blob_dir / "column.expr.bin")).returncode == 2
    odd = tmp_path / os.fsdecode(b"na\xffme.bin")
    odd.write_bytes((blob_dir / "column.expr.bin").read_bytes())
    proc = _run("inspect", "--json", str(odd))
    doc = json.loads(proc.stdout.decode("utf-8"))  # strict UTF-8: no lone surrogates in the path
    assert doc["input"]["path"].endswith("me.bin")


def test_unreadable_parts_make_the_reading_partial(fixture_set):
    blob_dir, manifest = fixture_set
    raw = bytearray((blob_dir / "literal_struct.expr.bin").read_bytes())
    raw[1244] ^= 1  # inside the Arrow data of the Map literal: datafusion refuses it too
    insp = inspect_bytes(bytes(raw))
    assert insp.safety.status == "partial"
    assert any(w.id == "unrendered-part" and "<undecodable" in w.message for w in insp.warnings)
    for entry in manifest["blobs"]:
        clean = inspect_path(str(blob_dir / entry["file"]))
        assert not any(w.id == "unrendered-part" for w in clean.warnings), entry["file"]


def test_render_gaps_are_recorded_not_searched(fixture_set):
    """The renderers report the placeholders they leave (kind, layer): a string literal that reads like
    one is user data, not a gap."""
    from datafusion import lit

    from datafusion_exprtool.layers.proto.msg import Msg
    from datafusion_exprtool.text.canonical import render_expr
    from datafusion_exprtool.text.engine import UNDECODABLE, render_collecting

    blob_dir, _ = fixture_set
    raw = bytearray((blob_dir / "literal_struct.expr.bin").read_bytes())
    raw[1244] ^= 1
    payload = inspect_bytes(bytes(raw)).payloads[0]
    text, gaps = render_collecting(render_expr, Msg("LogicalExprNode", payload.root.buf, 0, payload.size))
    assert text == payload.rendered and [(g.kind, g.layer) for g in gaps] == [(UNDECODABLE, "arrow-ipc")]
    assert gaps[0].text in text
    look_alike = (lit("<undecodable @3: not a gap>") + lit("<unsupported x>")).to_bytes()
    insp = inspect_bytes(look_alike)
    assert "<undecodable @3" in insp.rendered
    assert not any(w.id == "unrendered-part" for w in insp.warnings) and insp.safety.status == "complete"


def test_odd_terminals_still_get_output(fixture_set):
    """An ASCII-only stdout gets escapes (JSON stays valid), and COLUMNS=0 does not silence the rich views."""
    blob = str(fixture_set[0] / "udf_closure.expr.bin")
    ascii_env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    proc = subprocess.run([sys.executable, "-m", "datafusion_exprtool", "inspect", "--json", blob],
                          capture_output=True, env=ascii_env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.decode("ascii"))
    assert "captured-by-value" in json.dumps(doc)
    proc = subprocess.run([sys.executable, "-m", "datafusion_exprtool", "inspect", blob],
                          capture_output=True, env=ascii_env)  # fmt: skip
    assert proc.returncode == 0 and b"\\u2022" in proc.stdout, proc.stderr
    for columns in ("0", "1"):
        proc = subprocess.run(
            [sys.executable, "-m", "datafusion_exprtool", "check", str(fixture_set[0] / "deep_nesting_50.expr.bin")],
            capture_output=True, env={**os.environ, "COLUMNS": columns},
        )
        assert proc.returncode == 1 and b"too-deep" in proc.stdout, (columns, proc.stdout, proc.stderr)
