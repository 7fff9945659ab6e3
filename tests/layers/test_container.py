"""layers/container: which container a blob travels in, judged from its bytes alone.

A bare protobuf can consist of base64 characters and whitespace only: ``col(name).to_bytes()`` is
``0a LEN 0a LEN name``, and 0x0a-0x0d and 0x20 are whitespace, most other lengths printable. Such bytes
were read as base64/hex text (wrong bytes: exit 3) or refused as "text that is almost base64/hex".
Ground truth: datafusion makes the bytes, and ``canonical_name()`` is the text ``inspect`` must show.
"""

from __future__ import annotations

import json
import string

import pytest
from datafusion import col
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support.cli import run_cli

from datafusion_exprtool.layers.container import detect_container

B64_ALPHABET = string.ascii_letters + string.digits + "+/"


def _reads_as_datafusion_prints(name: str) -> None:
    expr = col(name)
    blob = expr.to_bytes()
    assert detect_container(blob) == ("protobuf", None, blob)
    result = run_cli("inspect", "--json", "-", input=blob)
    assert result.exit_code == 0, (name, result.stderr)
    doc = json.loads(result.stdout)
    assert doc["message"] == "LogicalExprNode" and doc["rendered"] == expr.canonical_name(), name
    checked = run_cli("check", "-", input=blob)
    assert checked.exit_code == 0, (name, checked.stdout, checked.stderr)


@pytest.mark.parametrize("length", range(1, 131))
def test_a_column_blob_of_every_name_length_is_read_as_protobuf(length: int) -> None:
    """Lengths 10, 11, 32 and 36-124 gave exit 3 (their length bytes are whitespace or printable)."""
    _reads_as_datafusion_prints(("customer_id" * 12)[:length])


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=B64_ALPHABET, min_size=1, max_size=130))
@example("customer_id".replace("_", "x"))
@example("a" * 10)
@example("Z" * 36)
def test_a_column_blob_of_base64_characters_is_read_as_protobuf(name: str) -> None:
    _reads_as_datafusion_prints(name)


def test_encoded_text_of_a_column_blob_is_still_decoded() -> None:
    """The raw reading wins only for a whole, well-formed message: its base64 and hex texts still decode."""
    import base64
    import binascii

    blob = col("customer_id").to_bytes()
    assert detect_container(base64.b64encode(blob)) == ("protobuf", "base64", blob)
    assert detect_container(binascii.hexlify(blob)) == ("protobuf", "hex", blob)


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_the_input_cap_holds_for_a_file_read_at_its_size_and_for_a_pipe(via: str, tmp_path) -> None:
    """A regular file is read at its size (layers/container), a pipe in one capped read: the same cap for both."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    blob = (Path(__file__).resolve().parents[2] / "fixtures" / "blobs" / "column.expr.bin").read_bytes()
    (tmp_path / "b.bin").write_bytes(blob)
    code = "import sys; from datafusion_exprtool.cli.main import main; sys.exit(main())"
    for cap, status in ((len(blob), 0), (len(blob) - 1, 3)):
        env = {**os.environ, "EXPRTOOL_MAX_INPUT": str(cap)}
        source = str(tmp_path / "b.bin") if via == "file" else "-"
        proc = subprocess.run([sys.executable, "-c", code, "inspect", source, "--json"], env=env,
                              input=blob if via == "stdin" else None, capture_output=True)
        assert proc.returncode == status, proc.stderr
        assert (b"is larger than" in proc.stderr) == bool(status)


def test_a_directory_lists_what_os_walk_finds(tmp_path) -> None:
    """``expand_sources`` reads directory entries instead of ``os.walk`` + ``isfile``; the same files in the
    same order: its own files sorted before each subdirectory's, hidden entries and NOT_BLOBS skipped,
    symbolic links to directories not followed, links to files kept, broken links, FIFOs skipped."""
    import os

    from datafusion_exprtool.layers.container import NOT_BLOBS, expand_sources

    def walked(top: str) -> list[str]:
        out = []
        for root, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                full = os.path.join(root, name)
                if not name.startswith(".") and os.path.splitext(name)[1].lower() not in NOT_BLOBS and os.path.isfile(full):
                    out.append(full)
        return out

    for d in ("a/b/c", "a/.h", "z", "B", "a/b2", "sub.d"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    for f in ("x.bin", "a/y.bin", "a/b/c/z.pkl", "a/.h/q.bin", "z/.hid", "B/m.json", "a/b2/w.BIN", "README.md",
              "a/b/1", "sub.d/k", "Z.bin"):  # fmt: skip
        (tmp_path / f).write_bytes(b"x")
    (tmp_path / "link_dir").symlink_to(tmp_path / "a")
    (tmp_path / "link_file").symlink_to(tmp_path / "x.bin")
    (tmp_path / "broken").symlink_to(tmp_path / "nope")
    os.mkfifo(tmp_path / "fifo")
    got = list(expand_sources([str(tmp_path)]))
    assert got == walked(str(tmp_path))
    assert str(tmp_path / "link_file") in got and str(tmp_path / "a" / "b" / "c" / "z.pkl") in got
    assert not any("/link_dir/" in p or p.endswith(("fifo", "broken", "README.md")) for p in got)
