"""Save a blob together with the environment that produced it, so a failure can be replayed elsewhere.

``capture`` writes the blob and ``<blob>.env.json``: the Python version, platform, the versions of the
packages that decide the wire format, and for each module the blob's UDFs need, whether it is importable
here (``find_spec``; nothing is imported). ``check --env`` compares such a fingerprint with a worker's.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from datafusion_exprtool.model import SCHEMA_VERSION

#: the packages whose versions decide whether a worker can decode what a driver encoded
PACKAGES = ("datafusion", "pyarrow", "cloudpickle")
ENV_SUFFIX = ".env.json"


def to_blob(obj: Any, ctx: Any = None) -> tuple[bytes, str]:
    """(bytes, kind) for an Expr (pickled, as a worker receives it), a plan (to_bytes) or raw bytes.

    kind is "pickle" | "expr" | "logical-plan" | "physical-plan" | "bytes".
    """
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj), "bytes"
    cls = type(obj)
    name = cls.__name__
    if not cls.__module__.startswith("datafusion"):
        raise TypeError(f"capture() takes a datafusion Expr, LogicalPlan, ExecutionPlan or bytes, not {name}")
    if name == "Expr":
        import pickle

        if ctx is None:
            return pickle.dumps(obj), "pickle"
        from datafusion_exprtool.actions.reencode import sender_ctx

        with sender_ctx(ctx):
            return pickle.dumps(obj), "pickle"
    if name == "LogicalPlan":
        return obj.to_bytes(ctx), "logical-plan"
    if name == "ExecutionPlan":
        return obj.to_bytes(ctx), "physical-plan"
    if name == "DataFrame":  # what the user meant to ship: its logical plan (fact sheet §4.1)
        return obj.logical_plan().to_bytes(ctx), "logical-plan"
    raise TypeError(f"capture() cannot serialize a {cls.__module__}.{name}")


def package_version(dist: str) -> str | None:
    """An installed distribution's version, or None."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _importable(module: str) -> dict[str, Any]:
    top = module.split(".")[0]  # find_spec on a dotted name imports its parents: stay at the top level
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError) as exc:
        return {"importable": False, "error": f"{type(exc).__name__}: {exc}"}
    if spec is None:
        return {"importable": False}
    return {"importable": True, "origin": spec.origin}


def fingerprint(modules: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """This interpreter's environment, and whether each of ``modules`` could be imported here."""
    return {
        "schema_version": SCHEMA_VERSION,
        "python": {
            "version": platform.python_version(),
            "minor": f"{sys.version_info[0]}.{sys.version_info[1]}",
            "implementation": sys.implementation.name,
            "executable": sys.executable,
        },
        "platform": {
            "system": platform.system(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "byteorder": sys.byteorder,
        },
        "packages": {name: package_version(name) for name in PACKAGES},
        "modules": {m: _importable(m) for m in sorted(set(modules))},
    }


def _static_summary(data: bytes) -> tuple[list[str], list[dict[str, Any]], str | None]:
    """Modules and functions from the static inspection; never fails the capture."""
    try:
        from datafusion_exprtool.inspection.pipeline import inspect_bytes

        ins = inspect_bytes(data)
    except Exception as exc:  # undecodable blob, or a layer that is not available
        return [], [], f"{type(exc).__name__}: {exc}"
    modules = sorted({m for fn in ins.functions for m in fn.imports})
    fns = [
        {
            "name": fn.name,
            "kind": fn.kind,
            "transport": fn.transport,
            "python": fn.python,
            "imports": fn.imports,
        }
        for fn in ins.functions
    ]
    return modules, fns, None


def _write_atomic(path: Path, data: bytes, overwrite: bool) -> None:
    """Temp file in the same directory, then rename: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path exists, atomically
            except FileExistsError:
                raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)") from None
            except OSError:  # no hard links on this filesystem
                if path.exists():
                    raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)") from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def env_path(path: str | Path) -> Path:
    path = Path(path)
    return path if path.name.endswith(ENV_SUFFIX) else path.with_name(path.name + ENV_SUFFIX)


def capture(
    expr_or_bytes: Any, path: str | Path, *, ctx: Any = None, overwrite: bool = False, kind: str | None = None
) -> Path:
    """Write the blob to ``path`` and its environment fingerprint to ``<path>.env.json``; return ``path``.

    An Expr is written as ``pickle.dumps(expr)`` (what a process pool ships; ``ctx`` acts as the sender
    ctx), a LogicalPlan/ExecutionPlan as ``to_bytes(ctx)``, bytes as given. Refuses to replace an
    existing file unless ``overwrite``. ``kind`` labels bytes serialized earlier (see ``to_blob``).
    """
    path = Path(path)
    data, found_kind = to_blob(expr_or_bytes, ctx)
    kind = kind or found_kind
    envp = env_path(path)
    if not overwrite:
        for p in (path, envp):
            if p.exists():
                raise FileExistsError(f"{p} exists (pass overwrite=True to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    modules, functions, inspect_error = _static_summary(data)
    env = fingerprint(modules)
    env["blob"] = {
        "file": path.name,
        "kind": kind,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "functions": functions,
    }
    if inspect_error is not None:
        env["blob"]["inspection_error"] = inspect_error
    _write_atomic(path, data, overwrite)
    _write_atomic(envp, (json.dumps(env, indent=2, sort_keys=True) + "\n").encode(), overwrite)
    return path


def load_fingerprint(path: str | Path) -> dict[str, Any]:
    """Read a fingerprint, given the ``.env.json`` path itself or the blob it was captured beside."""
    given = Path(path)
    p = given if given.is_file() and (given.name.endswith(ENV_SUFFIX) or not env_path(given).exists()) else env_path(given)
    doc = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or "python" not in doc or "packages" not in doc:
        raise ValueError(f"{p} is not an exprtool environment fingerprint")
    version = doc.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise ValueError(f"{p} has schema_version {version}; this exprtool reads up to {SCHEMA_VERSION}")
    return doc
