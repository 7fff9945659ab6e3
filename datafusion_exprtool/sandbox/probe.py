"""What a worker ctx registers and installs, read from the ctx itself, in this process or a spawned one.

``ctx_facts`` is plain data (it can come back from another process); ``ctx_facts_isolated`` builds the
user's worker ctx in a spawned process first, so a factory that segfaults, calls os._exit or hangs is a
usage error instead of taking the caller with it.
"""

from __future__ import annotations

import sys
from typing import Any

from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.layers.proto.builtins import HIGHER_ORDER
from datafusion_exprtool.sandbox.context import WorkerSpec, build_context
from datafusion_exprtool.sandbox.failure import EvalError, fail
from datafusion_exprtool.sandbox.process import CTX_TIMEOUT, ctrl_c_held, signal_name, without_main

KINDS = ("scalar", "aggregate", "window")
#: information_schema.routines function_type -> FunctionInfo.kind
ROUTINE_KINDS = {"SCALAR": "scalar", "AGGREGATE": "aggregate", "WINDOW": "window"}


def ctx_functions(ctx: Any) -> dict[str, frozenset[str]]:
    """Every function ``ctx`` resolves by name, by kind: built-ins (minus any deregistered), registered UDFs
    and the higher-order built-ins.

    Read from ``information_schema.routines``, switched on for this ctx with SET (it only adds the
    information_schema catalog).
    """
    ctx.sql("SET datafusion.catalog.information_schema = true").collect()
    table = ctx.sql(
        "SELECT DISTINCT routine_name, function_type FROM information_schema.routines"
    ).to_pydict()
    out: dict[str, set[str]] = {k: set() for k in KINDS}
    for name, ftype in zip(table["routine_name"], table["function_type"], strict=True):
        kind = ROUTINE_KINDS.get(str(ftype).upper())
        if kind is not None:
            out[kind].add(name)
    # information_schema leaves out the higher-order built-ins (array_transform...); datafusion-python has
    # no call that registers or removes one, so every ctx resolves the default set (sent as "scalar")
    out["scalar"] |= HIGHER_ORDER
    return {k: frozenset(v) for k, v in out.items()}


def ctx_facts(ctx: Any) -> dict[str, Any]:
    """What check needs of a worker ctx, as plain data (it can come back from another process)."""
    import datafusion

    return {
        "functions": ctx_functions(ctx),
        "codec_ids": tuple(ctx.logical_extension_codec_ids()),
        "physical_codec_ids": tuple(ctx.physical_extension_codec_ids()),
        "datafusion": datafusion.__version__,
    }


def _facts_child(conn: Any, factory: str, cwd: str, sys_path: list[str]) -> None:
    """Build the worker ctx in a fresh process and send back what check needs of it."""
    sys.path[:] = sys_path
    try:
        conn.send(("ok", ctx_facts(build_context(WorkerSpec(factory=factory, cwd=cwd)))))
    except EvalError as err:
        conn.send(("failed", err.failure.message))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never re-raised here
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))


def ctx_facts_isolated(factory: str, cwd: str, timeout: float = CTX_TIMEOUT) -> dict[str, Any]:
    """``ctx_facts`` of the user's worker ctx, built in a spawned process: a factory that
    segfaults, calls os._exit or hangs ends with a usage error (exit 2) instead of taking check with it."""
    import multiprocessing as mp

    mpctx = mp.get_context("spawn")
    recv, send = mpctx.Pipe(duplex=False)
    # this process's whole sys.path: the trial builds the ctx as this process would (not as a fresh worker)
    proc = mpctx.Process(target=_facts_child, args=(send, factory, cwd, list(sys.path)), daemon=True)
    try:
        with without_main(), ctrl_c_held("spawn"):
            proc.start()
        send.close()
        if not recv.poll(timeout):
            raise fail("worker-ctx", f"{factory}() did not return within {timeout:g} s",
                       hint="set EXPRTOOL_WORKER_CTX_TIMEOUT to wait longer", exit_code=ExitCode.USAGE)  # fmt: skip
        try:
            kind, value = recv.recv()
        except (EOFError, OSError):
            proc.join(5)
            name = signal_name(proc.exitcode)
            how = f"signal {name}" if name is not None else f"exit status {proc.exitcode}"
            raise fail("worker-ctx", f"building the worker ctx with {factory} ended its process ({how})",
                       exit_code=ExitCode.USAGE) from None  # fmt: skip
        if kind == "failed":
            raise fail("worker-ctx", value, exit_code=ExitCode.USAGE)
        return value
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        recv.close()
