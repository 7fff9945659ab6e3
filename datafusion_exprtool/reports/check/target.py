"""The receiver ``check`` predicts for: its interpreter, what it can import, what its worker ctx registers.

A ``Target`` is built from this interpreter (the default), a worker ctx (``target_from_ctx``, which
imports datafusion) or a ``capture`` fingerprint (``target_from_fingerprint``); the check only asks it
questions.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datafusion_exprtool.layers.proto.builtins import DATAFUSION_VERSION, is_builtin
from datafusion_exprtool.sandbox.probe import ctx_facts


def find_top_spec(module: str) -> bool:
    """Whether this interpreter can import ``module``'s top-level package (imports nothing)."""
    top = module.split(".")[0]  # find_spec on a dotted name imports the parents: stay at the top
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def find_submodule(module: str) -> bool:
    """Whether this interpreter can import dotted ``module`` (find_spec imports its parents)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@dataclass
class Target:
    """The receiver: its interpreter, what it can import, what its worker ctx registers and installs."""

    python: tuple[int, int] = tuple(sys.version_info[:2])  # type: ignore[assignment]
    importable: Callable[[str], bool | None] = (
        find_top_spec  # None: unknown (a fingerprint that did not record it)
    )
    functions: dict[str, frozenset[str]] | None = None  # kind -> names; None: only the built-ins are known
    codec_ids: tuple[str, ...] | None = ()  # logical extension codecs; None: unknown
    physical_codec_ids: tuple[str, ...] | None = ()
    strict: bool = False  # with_python_udf_inlining(enabled=False)
    datafusion: str = DATAFUSION_VERSION
    source: str = "this interpreter"

    def has_function(self, name: str, kind: str) -> bool:
        if self.functions is None:
            return is_builtin(name, kind)
        return name in self.functions.get(kind, frozenset())

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "python": py_text(self.python),
            "datafusion": self.datafusion,
            "strict": self.strict,
            "worker_ctx": self.functions is not None,
            "codec_ids": list(self.codec_ids) if self.codec_ids is not None else None,
            "physical_codec_ids": list(self.physical_codec_ids)
            if self.physical_codec_ids is not None
            else None,
        }


def py_text(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def parse_python(text: str) -> tuple[int, int]:
    """``"3.12"`` -> (3, 12); ValueError otherwise."""
    major, sep, minor = text.strip().partition(".")
    if not sep or not major.isdigit() or not minor.split(".")[0].isdigit():
        raise ValueError(f"--python {text!r} is not X.Y (e.g. 3.12)")
    return int(major), int(minor.split(".")[0])


def target_from_facts(
    facts: dict[str, Any], *, python: tuple[int, int] | None = None, strict: bool = False, source: str = "worker ctx"
) -> Target:
    """A Target from ``ctx_facts``: the functions and codecs a worker ctx registers and installs."""
    return Target(
        python=python or tuple(sys.version_info[:2]),  # type: ignore[arg-type]
        functions=facts["functions"],
        codec_ids=facts["codec_ids"],
        physical_codec_ids=facts["physical_codec_ids"],
        strict=strict,
        datafusion=facts["datafusion"],
        source=source,
    )


def target_from_ctx(
    ctx: Any, *, python: tuple[int, int] | None = None, strict: bool = False, source: str = "worker ctx"
) -> Target:
    """A Target whose functions and codecs are what ``ctx`` actually registers and installs."""
    return target_from_facts(ctx_facts(ctx), python=python, strict=strict, source=source)


def target_from_fingerprint(
    doc: dict[str, Any], base: Target | None = None, source: str = "fingerprint"
) -> Target:
    """Python, datafusion version and module importability from a ``capture`` fingerprint.

    Modules the fingerprint did not record are unknown (importable -> None). A fingerprint records no
    codec ids, so those stay as ``base`` has them (a --worker-ctx), else unknown.
    """
    base = base or Target()
    minor = str(doc.get("python", {}).get("minor") or doc.get("python", {}).get("version", ""))
    modules = doc.get("modules", {}) or {}

    def importable(module: str) -> bool | None:
        entry = modules.get(module) or modules.get(module.split(".")[0])
        return None if entry is None else bool(entry.get("importable"))

    has_ctx = base.functions is not None
    return Target(
        python=parse_python(minor) if minor else base.python,
        importable=importable,
        functions=base.functions,
        codec_ids=base.codec_ids if has_ctx else None,
        physical_codec_ids=base.physical_codec_ids if has_ctx else None,
        strict=base.strict,
        datafusion=str((doc.get("packages") or {}).get("datafusion") or "unknown"),
        source=source,
    )
