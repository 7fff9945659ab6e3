"""Hostile streams the corpus's canary loader cannot show on its own: an import that runs a program, and a
mutation of the worker's own logger that runs attacker code only when the worker logs later. Each is proven
with the genuine loader in a throwaway process (a harmless payload), and each is ``suspicious``; what users
ship (a UDF closing over a logger) stays ``code``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
from datafusion import col, udf
from support.cli import run_cli
from support.pickle_asm import BUILD, NEWTRUE, NONE, Asm, bb, call, dct, g, i, py, s, tup
from support.safety_corpus import CP, PARQUET, getattr_, hostile, in_pickle, in_udf, real_plain_expr, user

from datafusion_exprtool.inspection.pipeline import inspect_bytes


def _load_then(blob: Path, after: str = "") -> subprocess.CompletedProcess:
    """``Expr.from_bytes`` of the blob in a fresh interpreter, then ``after`` (what the worker does next)."""
    code = textwrap.dedent(f"""
        from datafusion import Expr, SessionContext
        Expr.from_bytes(open({str(blob)!r}, 'rb').read(), SessionContext())
    """) + textwrap.dedent(after)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=blob.parent)


def _suspicious(blob: bytes) -> list[str]:
    insp = inspect_bytes(blob)
    assert insp.safety.verdict == "suspicious", [f.message for f in insp.safety.findings]
    return [f.message for f in insp.safety.findings if f.verdict == "suspicious"]


@pytest.mark.parametrize(
    "gadget",
    [lambda a, c: a(g("this", "s")), lambda a, c: a(call(g(CP, "subimport"), s("this")))],
    ids=["global", "subimport"],
)
def test_a_module_whose_import_runs_a_program_is_suspicious(gadget, tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(in_udf("scalar", gadget)(tmp_path / "canary"))
    loaded = _load_then(blob)
    assert loaded.returncode == 0, loaded.stderr
    assert "Beautiful is better than ugly" in loaded.stdout  # importing `this` ran its program in the decoder
    assert any("runs a program on import" in m for m in _suspicious(blob.read_bytes()))


@pytest.mark.parametrize("module", ["venv.__main__", "idlelib", "antigravity", "__hello__"])
def test_every_module_whose_import_runs_a_program_is_named(module: str, tmp_path: Path) -> None:
    blob = in_udf("scalar", lambda a, c: a(call(g(CP, "subimport"), s(module))))(tmp_path / "canary")
    assert any(module in m for m in _suspicious(blob))


def _logger_backdoor(a: Asm, c: str) -> None:
    """BUILD on ``logging.getLogger('datafusion')`` (the worker's own logger) sets its ``handle`` to
    ``partial(zipfile.ZipFile, canary, 'w', 0, True)``: nothing runs while decoding; the next log call does."""
    handle = call(g("functools", "partial"), g("zipfile", "ZipFile"), s(c), s("w"), i(0), NEWTRUE)
    a(call(g("logging", "getLogger"), s("datafusion")), tup(NONE, dct((s("handle"), handle))), BUILD)


def test_a_mutation_of_the_workers_logger_is_suspicious(tmp_path: Path) -> None:
    canary, blob = tmp_path / "canary", tmp_path / "blob"
    blob.write_bytes(in_udf("scalar", _logger_backdoor)(canary))
    loaded = _load_then(blob, "import logging\nlogging.getLogger('datafusion').warning('later')\n")
    assert loaded.returncode == 0, loaded.stderr
    assert canary.exists()  # the decode planted it; the worker's next log call ran it
    assert any("shared" in m and "BUILD" in m for m in _suspicious(blob.read_bytes()))


def _patch_enum_member(a: Asm, c: str) -> None:
    """BUILD on ``http.HTTPStatus(200)``: the process's own enum member, not a fresh object."""
    a(call(g("http", "HTTPStatus"), i(200)), tup(NONE, dct((s("phrase"), s("pwned")))), BUILD)


def _patch_typing_origin(a: Asm, c: str) -> None:
    """BUILD on ``operator.getitem(typing.IO, str)``: typing's cached alias, whose setattr patches ``typing.IO``."""
    a(call(g("_operator", "getitem"), g("typing", "IO"), g("builtins", "str")))
    a(tup(NONE, dct((s("write"), g("builtins", "print")))), BUILD)


@pytest.mark.parametrize(
    ("gadget", "probe", "patched"),
    [
        (_patch_enum_member, "import http; print(http.HTTPStatus.OK.phrase)", "pwned"),
        (_patch_typing_origin, "import typing; print(typing.IO.write)", "<built-in function print>"),
    ],
    ids=["enum-member", "typing-alias"],
)
def test_a_mutation_of_process_wide_state_is_suspicious(gadget, probe: str, patched: str, tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(in_udf("scalar", gadget)(tmp_path / "canary"))
    loaded = _load_then(blob, probe)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == patched  # the decode patched the worker's own object
    assert any("shared" in m and "BUILD" in m for m in _suspicious(blob.read_bytes()))


_LOG = logging.getLogger("exprtool.user_job")


def test_a_udf_closing_over_a_logger_stays_code() -> None:
    def logged(a: pa.Array) -> pa.Array:  # a local function: cloudpickle ships it, and the logger, by value
        _LOG.debug("called")
        return a

    insp = inspect_bytes(udf(logged, [pa.int64()], pa.int64(), "immutable", "logged")(col("a")).to_bytes())
    assert insp.safety.verdict == "code", [f.message for f in insp.safety.findings]


def test_eval_refuses_an_expr_pickle_whose_payload_a_codec_hides(tmp_path: Path) -> None:
    """``Expr._reconstruct(_codecs.encode(text, 'utf-16-le', 'surrogatepass'))`` next to a plain Expr: the gate
    once read it as ``data`` and eval's worker ran ``pickle.loads`` on it (the hidden UDF's os.system)."""
    case = next(c for c in hostile() if c.name == "expr-payload-utf-16-le-surrogatepass@pickle")
    canary, blob = tmp_path / "canary", tmp_path / "blob.pkl"
    blob.write_bytes(case.build(canary))
    result = run_cli("eval", str(blob), str(PARQUET))
    assert result.exit_code == 1, result.output
    assert "suspicious" in result.output and "_codecs.encode" in result.output
    assert not canary.exists()


# --- denial of service: a small stream that makes the genuine loader hang or exhaust memory ---------------------
def _an_expr() -> bytes:
    return call(getattr_(g("datafusion.expr", "Expr"), "_reconstruct"), bb(real_plain_expr()))


_HANGS = {
    # Expr has __getitem__ and no __iter__: iterating it asks for items 0, 1, 2… and never meets an IndexError
    "deque-of-an-expr": lambda a, c: a(call(g("collections", "deque"), _an_expr())),
    "reduce-or-over-an-expr": lambda a, c: a(call(g("functools", "reduce"), g("_operator", "or_"), _an_expr())),
    "frozenset-of-a-huge-range": lambda a, c: a(call(g("builtins", "frozenset"), call(g("builtins", "range"),
                                                                                        py(10**12)))),
    "fraction-with-an-exponent": lambda a, c: a(call(g("fractions", "Fraction"), s("1e999999999"))),
}  # fmt: skip


def test_an_expr_pickle_that_hangs_pickle_loads_is_suspicious(tmp_path: Path) -> None:
    """``copyreg._reconstructor(list, list, <an Expr>)`` next to a plain Expr, in the outer ``pickle.dumps(expr)``
    shape: ``list.__init__`` iterates the Expr forever in eval's worker (the verdict was ``data``)."""
    gadget = lambda a, c: a(call(g("copyreg", "_reconstructor"), g("builtins", "list"), g("builtins", "list"),  # noqa: E731
                                 _an_expr()))  # fmt: skip
    blob = tmp_path / "blob.pkl"
    blob.write_bytes(in_pickle(gadget)(tmp_path / "canary"))
    _assert_hangs(f"import pickle, datafusion\nprint('decoding', flush=True)\npickle.loads(open({str(blob)!r}, 'rb').read())")
    assert any("_reconstructor" in m for m in _suspicious(blob.read_bytes()))


@pytest.mark.parametrize("gadget", list(_HANGS.values()), ids=list(_HANGS))
def test_a_stream_that_hangs_every_worker_is_suspicious(gadget, tmp_path: Path) -> None:
    """The genuine loader never returns (killed after a few seconds); a tool must not call such a blob benign."""
    blob = tmp_path / "blob"
    blob.write_bytes(in_udf("scalar", gadget)(tmp_path / "canary"))
    _assert_hangs(f"from datafusion import Expr, SessionContext\nctx = SessionContext()\nprint('decoding', flush=True)\n"
                  f"Expr.from_bytes(open({str(blob)!r}, 'rb').read(), ctx)")
    assert any("arguments outside the grammar" in m for m in _suspicious(blob.read_bytes()))


def _assert_hangs(code: str) -> None:
    """The snippet got as far as decoding and never returned from it (killed after a few seconds)."""
    with pytest.raises(subprocess.TimeoutExpired) as hung:
        subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=8)
    out = hung.value.stdout or b""
    assert b"decoding" in (out if isinstance(out, bytes) else out.encode())


@pytest.mark.parametrize("carrier", ["udf-scalar", "pickle"])
def test_a_stream_that_allocates_a_terabyte_is_suspicious(carrier: str, tmp_path: Path) -> None:
    """``bytearray(2**40)``: a few bytes ask the loader for 1 TiB (8 GiB would succeed). In an Expr pickle the
    verdict was ``data``."""
    gadget = lambda a, c: a(call(g("builtins", "bytearray"), py(2**40)))  # noqa: E731
    blob = tmp_path / "blob"
    blob.write_bytes((in_udf("scalar", gadget) if carrier == "udf-scalar" else in_pickle(gadget))(tmp_path / "c"))
    load = "Expr.from_bytes(b, SessionContext())" if carrier == "udf-scalar" else "pickle.loads(b)"
    code = f"import pickle\nfrom datafusion import Expr, SessionContext\nb = open({str(blob)!r}, 'rb').read()\n{load}"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "MemoryError" in loaded.stderr
    assert any("bytearray" in m for m in _suspicious(blob.read_bytes()))


def test_ordinary_class_hooks_stay_code_and_are_said() -> None:
    """By-value classes with what users write (a registry base's __init_subclass__, a __set_name__ descriptor,
    __class_getitem__ = classmethod(GenericAlias), a registered ABC, frozen dataclasses in a set and as dict
    keys): ``code``, and the hooks that do run while decoding are named."""
    insp = inspect_bytes(user().class_hooks_capture().to_bytes())
    assert insp.safety.verdict == "code", [f.message for f in insp.safety.findings]
    said = " ".join(f.message for f in insp.safety.findings if f.id == "runs-at-decode")
    assert "__init_subclass__" in said and "__hash__" in said
