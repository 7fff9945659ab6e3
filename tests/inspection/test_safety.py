"""An attacker's payload hidden in any layer is `suspicious`; ordinary datafusion output never is.

The crafted blobs are built here and never loaded: only exprtool's static reading sees them.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import pyarrow as pa
import pytest
from datafusion import col, udf
from support.blobs import Evil, NestedUnpickler, ld, scalar_udf_expr
from support.cli import run_cli

from datafusion_exprtool.inspection.pipeline import inspect_bytes


def real_udf_blob() -> bytes:
    double = udf(lambda a: pa.compute.multiply(a, 2), [pa.int64()], pa.int64(), "immutable", "double_it")
    return double(col("a")).to_bytes()


def header(family: bytes = b"DFPYUDF") -> bytes:
    return family + bytes([1, sys.version_info.major, sys.version_info.minor])


def test_real_inline_udf_is_code_not_suspicious():
    insp = inspect_bytes(real_udf_blob())
    assert insp.safety.verdict == "code"
    assert not [f for f in insp.safety.findings if f.verdict == "suspicious"]


def test_os_system_in_the_outer_pickle():
    blob = pickle.dumps([col("a") + 1, Evil()])
    insp = inspect_bytes(blob)
    assert insp.safety.verdict == "suspicious"
    hits = [f for f in insp.safety.findings if f.verdict == "suspicious"]
    assert hits and all(f.layer == "pickle" for f in hits)
    assert any("system" in f.message for f in hits)
    # the offset points at the opcode that resolves the global (STACK_GLOBAL, just after its name)
    assert any(f.offset is not None and b"system" in blob[max(0, f.offset - 16) : f.offset + 1] for f in hits)
    assert insp.rendered == "a + Int64(1)"  # the real Expr is still read


def test_pickle_with_no_expr_but_a_gadget_is_still_reported():
    insp = inspect_bytes(pickle.dumps(Evil()))
    assert insp.safety.verdict == "suspicious"
    assert insp.payloads == []


def test_os_system_inside_a_udf_cloudpickle_stream():
    stream = pickle.dumps(("double_it", Evil(), b"", b"", "immutable"), protocol=5)
    blob = scalar_udf_expr("double_it", header() + stream)
    insp = inspect_bytes(blob)
    assert insp.safety.verdict == "suspicious"
    hits = [f for f in insp.safety.findings if f.verdict == "suspicious"]
    assert any(f.layer == "cloudpickle" and f.function == "double_it" for f in hits)
    start = blob.index(stream)
    assert all(start <= f.offset < start + len(stream) for f in hits if f.layer == "cloudpickle")


def test_nested_unpickler_inside_a_udf_stream():
    stream = pickle.dumps(("f", NestedUnpickler(), b"", b"", "immutable"), protocol=5)
    insp = inspect_bytes(scalar_udf_expr("f", header() + stream))
    assert insp.safety.verdict == "suspicious"


def test_gadget_behind_a_codec_envelope():
    codec_id = b"evil.Codec"
    inner = pickle.dumps(Evil(), protocol=5)
    envelope = b"DFPYCHN" + bytes([1]) + len(codec_id).to_bytes(4, "little") + codec_id + inner
    insp = inspect_bytes(scalar_udf_expr("f", envelope))
    assert insp.safety.verdict == "suspicious"
    assert insp.safety.status == "partial"
    assert insp.functions[0].codec_id == "evil.Codec"


def test_fail_on_suspicious_exit_status(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([col("a"), Evil()]))
    proc = subprocess.run(
        [sys.executable, "-m", "datafusion_exprtool", "inspect", "--fail-on", "suspicious", str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr
    assert "suspicious" in proc.stdout
    assert "owned" not in proc.stdout.replace("echo owned", "")  # nothing ran


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_gadget_found_at_every_protocol(protocol):
    insp = inspect_bytes(pickle.dumps([col("a"), Evil()], protocol=protocol))
    assert insp.safety.verdict == "suspicious"


def _third_party_model(tmp_path, monkeypatch) -> bytes:
    """A closure over a user's own object whose class rebuilds it by being called (``__reduce__``)."""
    pkg = tmp_path / "exprtool_thirdparty_model"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "class Model:\n    def __init__(self, w):\n        self.w = w\n"
        "    def __reduce__(self):\n        return (Model, (self.w,))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from exprtool_thirdparty_model import Model

    model = Model(3)
    scaled = udf(lambda a: pa.compute.multiply(a, model.w), [pa.int64()], pa.int64(), "immutable", "scaled")
    return scaled(col("a")).to_bytes()


def test_a_call_of_a_site_own_class_is_suspicious_until_allowed(tmp_path, monkeypatch):
    """Calling an importable class while decoding runs its __init__ with the stream's arguments: outside the
    grammar, so suspicious, and the finding names the fix; --allow / EXPRTOOL_ALLOW make it an ordinary value."""
    blob = _third_party_model(tmp_path, monkeypatch)
    monkeypatch.delenv("EXPRTOOL_ALLOW", raising=False)
    insp = inspect_bytes(blob)
    assert insp.safety.verdict == "suspicious"
    flagged = [f for f in insp.safety.findings if f.verdict == "suspicious"]
    assert flagged and "--allow exprtool_thirdparty_model.Model" in flagged[0].message
    assert "exprtool_thirdparty_model" in insp.functions[0].imports
    monkeypatch.setenv("EXPRTOOL_ALLOW", "other.Thing, exprtool_thirdparty_model.Model")
    allowed = inspect_bytes(blob)
    assert allowed.safety.verdict == "code"


def test_allow_option_on_the_command_line(tmp_path, monkeypatch):
    blob = tmp_path / "model.bin"
    blob.write_bytes(_third_party_model(tmp_path, monkeypatch))
    monkeypatch.delenv("EXPRTOOL_ALLOW", raising=False)
    assert run_cli("inspect", str(blob), "--fail-on", "suspicious").exit_code == 1
    ok = run_cli("inspect", str(blob), "--fail-on", "suspicious", "--allow", "exprtool_thirdparty_model.Model")
    assert ok.exit_code == 0, ok.output
    bad = run_cli("inspect", str(blob), "--allow", "not a name")
    assert bad.exit_code == 2 and "MODULE.NAME" in bad.output


def test_unlisted_stdlib_call_in_a_udf_stream_is_suspicious():
    import zipfile

    class Opens:
        def __reduce__(self):
            return (zipfile.ZipFile, ("/tmp/x.zip", "w"))

    stream = pickle.dumps(("f", Opens(), b"", b"", "immutable"), protocol=5)
    insp = inspect_bytes(scalar_udf_expr("f", header() + stream))
    assert insp.safety.verdict == "suspicious"


def test_extension_node_bytes_make_the_reading_partial_and_are_read_for_gadgets():
    inner = pickle.dumps(Evil(), protocol=5)
    plan = ld(17, ld(1, inner))  # LogicalPlanNode.extension{node: <codec bytes>}
    insp = inspect_bytes(plan, message="LogicalPlanNode")
    assert insp.safety.status == "partial"
    assert any(w.id == "opaque-codec-bytes" for w in insp.warnings)
    assert insp.safety.verdict == "suspicious"
    harmless = inspect_bytes(ld(17, ld(1, b"opaque bytes")), message="LogicalPlanNode")
    assert harmless.safety.status == "partial" and harmless.safety.verdict == "data"
