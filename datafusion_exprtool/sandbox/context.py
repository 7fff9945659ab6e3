"""The worker context: the SessionContext a real worker would install before decoding shipped expressions.

``WorkerSpec`` is plain data so that it can travel to a spawned process, where ``install`` runs as the
process initializer (like a ``multiprocessing.Pool(initializer=...)``).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.sandbox.failure import fail


@dataclass
class WorkerSpec:
    factory: str | None = None  # "module:function" or "path/to/file.py:function"
    config: dict[str, str] = field(default_factory=dict)  # SessionConfig options, applied with SET
    target_partitions: int | None = None
    batch_size: int | None = None
    strict: bool = False  # receiver refuses inline Python UDFs (with_python_udf_inlining(enabled=False))
    cwd: str | None = None  # resolve a relative file factory against the caller's directory

    def settings(self) -> dict[str, str]:
        out = dict(self.config)
        if self.target_partitions is not None:
            out["datafusion.execution.target_partitions"] = str(self.target_partitions)
        if self.batch_size is not None:
            out["datafusion.execution.batch_size"] = str(self.batch_size)
        return out


def parse_config(items: list[str]) -> dict[str, str]:
    """``key=value`` pairs from repeated ``--config`` options."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise fail(
                "worker-ctx",
                f"--config {item!r} is not key=value",
                exit_code=ExitCode.USAGE,
                hint="e.g. --config datafusion.execution.batch_size=4096",
            )
        out[key.strip()] = value.strip()
    return out


class UserCodeExit(Exception):
    """The worker-ctx code called sys.exit(): reported, not obeyed (it is not exprtool's verdict)."""


@contextlib.contextmanager
def user_code(what: str) -> Iterator[None]:
    """Run the user's worker-ctx code: what it prints goes to stderr (stdout carries exprtool's output:
    a blob, JSON, CSV), and a sys.exit() in it becomes an error instead of exprtool's exit status."""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except SystemExit as exc:
        raise UserCodeExit(f"{what} called sys.exit({exc.code!r})") from None


def load_factory(spec: str, cwd: str | None = None) -> Any:
    """Resolve ``module:function`` or ``file.py:function`` to the callable (this imports user code).

    Every way this can fail (and a factory that raises or returns something else) is the caller's
    ``--worker-ctx`` that is wrong: a usage error (exit 2), not a failed evaluation.
    """
    target, sep, func_name = spec.rpartition(":")
    if not sep or not target or not func_name:
        raise fail(
            "worker-ctx",
            f"--worker-ctx {spec!r} is not module:function or file.py:function",
            exit_code=ExitCode.USAGE,
        )
    if target.endswith(".py") or os.sep in target:
        path = target if os.path.isabs(target) or cwd is None else os.path.join(cwd, target)
        if not os.path.isfile(path):
            raise fail("worker-ctx", f"no such file: {path}", file=path, exit_code=ExitCode.USAGE)
        name = f"_exprtool_worker_ctx_{abs(hash(os.path.abspath(path)))}"
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise fail(
                "worker-ctx", f"cannot load {path} as a Python module", file=path, exit_code=ExitCode.USAGE
            )
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module  # so functions defined there can be pickled by reference
        try:
            with user_code(f"importing {path}"):
                loader_spec.loader.exec_module(module)
        except Exception as exc:
            raise fail(
                "worker-ctx",
                f"importing {path} raised {type(exc).__name__}: {exc}",
                file=path,
                exit_code=ExitCode.USAGE,
            ) from None
        where = path
    else:
        try:
            with user_code(f"importing {target}"):
                module = importlib.import_module(target)
        except Exception as exc:
            raise fail(
                "worker-ctx",
                f"cannot import module {target!r}: {type(exc).__name__}: {exc}",
                hint="put the module on PYTHONPATH, or pass path/to/file.py:function",
                exit_code=ExitCode.USAGE,
            ) from None
        where = getattr(module, "__file__", None) or target
    func = getattr(module, func_name, None)
    if not callable(func):
        raise fail(
            "worker-ctx", f"{where} has no callable {func_name!r}", file=str(where), exit_code=ExitCode.USAGE
        )
    return func


def build_context(spec: WorkerSpec) -> Any:
    """The configured SessionContext: the user's factory (or a default one), strict mode, settings."""
    from datafusion import SessionContext

    if spec.factory is not None:
        func = load_factory(spec.factory, spec.cwd)
        try:
            with user_code(f"{spec.factory}()"):
                ctx = func()
        except Exception as exc:
            said = (
                str(exc)
                if isinstance(exc, UserCodeExit)
                else f"{spec.factory}() raised {type(exc).__name__}: {exc}"
            )
            raise fail("worker-ctx", said, exit_code=ExitCode.USAGE) from None
        if not isinstance(ctx, SessionContext):
            raise fail(
                "worker-ctx",
                f"{spec.factory}() returned {type(ctx).__name__}, not a SessionContext",
                exit_code=ExitCode.USAGE,
            )
    else:
        ctx = SessionContext()
    if spec.strict:
        ctx = ctx.with_python_udf_inlining(enabled=False)
    for key, value in spec.settings().items():
        quoted = value.replace("'", "''")
        try:
            ctx.sql(f"SET {key} = '{quoted}'").collect()
        except Exception as exc:
            raise fail(
                "worker-ctx",
                f"cannot set {key}={value}: {' '.join(str(exc).split())}",
                exit_code=ExitCode.USAGE,
                hint="see datafusion's configuration settings for valid keys",
            ) from None
    return ctx


def install(spec: WorkerSpec) -> Any:
    """Process initializer: build the context and install it with ``datafusion.ipc.set_worker_ctx``."""
    from datafusion.ipc import set_worker_ctx

    ctx = build_context(spec)
    set_worker_ctx(ctx)
    return ctx
