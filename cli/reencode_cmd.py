"""`exprtool reencode`: the same expression in another container, text encoding, protocol or transport."""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Annotated

import typer

from .common import (
    ALLOW_HELP,
    Exit,
    apply_allow,
    datafusion_failure,
    fail,
    input_exit,
    input_problem,
    shorten,
)


class To(str, Enum):
    pickle = "pickle"
    bytes = "bytes"


class Text(str, Enum):
    base64 = "base64"
    hex = "hex"


OUT_HELP = "Output file (- for stdout). Its suffix picks the format: .pkl pickle, .bin bytes, .b64, .hex."
CTX_HELP = (
    "module:function or file.py:function returning a SessionContext (imported and called): decode with it, "
    "so by-name functions it registers resolve, and its Python UDFs travel inline unless --by-name."
)


def reencode(
    source: Annotated[
        str, typer.Argument(metavar="IN", help="Blob to convert (file or - for stdin); never modified.")
    ],
    out: Annotated[str, typer.Option("--output", "-o", help=OUT_HELP)],
    to: Annotated[
        To | None, typer.Option("--to", help="Container: pickle (pickle.dumps) or bytes (to_bytes).")
    ] = None,
    text: Annotated[
        Text | None, typer.Option("--text", help="Write base64 or hex text instead of binary.")
    ] = None,
    by_name: Annotated[
        bool,
        typer.Option("--by-name", help="Python UDFs travel by name only (inlining off), as a strict sender."),
    ] = False,
    worker_ctx: Annotated[str | None, typer.Option("--worker-ctx", metavar="SPEC", help=CTX_HELP)] = None,
    protocol: Annotated[int | None, typer.Option("--protocol", help="Pickle protocol (0-5).")] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Decode the output again and compare the renderings.")
    ] = False,
    trust: Annotated[
        bool, typer.Option("--trust", help="Decode even a blob the static check calls suspicious.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Force the message: expr, logical or physical.")
    ] = None,
    allow: Annotated[list[str] | None, typer.Option("--allow", help=ALLOW_HELP)] = None,
) -> None:
    """Convert a blob between pickle and raw to_bytes, to or from base64/hex, to another pickle protocol, to by-name transport (what a receiver with inlining disabled accepts), or back to inline.

    This decodes with datafusion, which runs inline UDF payloads: the static check runs first and a suspicious blob is refused unless --trust. Writes are atomic and never replace a file without --force.

    A function that travels by name needs its real definition to travel inline: --worker-ctx decodes with the worker's SessionContext, so the Python UDFs it registers are written inline (and --verify decodes the output with it). FFI UDFs cannot travel inline: they stay by name, with a note. A by-name function the ctx does not register stays by name too, with a note that names it (exit 0); it is resolved with a never-called stub, and nothing of the stub travels. Without --worker-ctx, by-name input decodes only with --by-name.

    Exit 0 ok, 1 refused (suspicious), 2 usage (also a --worker-ctx that cannot be loaded), 3 undecodable, 4 datafusion failed.

    Examples:

      exprtool reencode job.pkl -o job.bin --by-name --verify

      exprtool reencode byname.pkl -o inline.pkl --worker-ctx workers.py:make_ctx
    """
    apply_allow(allow)

    from datafusion_exprtool.actions.reencode import DataFusionFailed, ReencodeError, reencode, resolve_format
    from datafusion_exprtool.actions.trust import Refused
    from datafusion_exprtool.atomic import preflight
    from datafusion_exprtool.errors import DecodeError
    from datafusion_exprtool.layers.container import load_input

    if out != "-" and source != "-" and os.path.exists(out) and os.path.samefile(source, out):
        raise fail(f"{out} is the input: input files are never modified; choose another output")
    try:
        loaded = load_input(source)
    except DecodeError as err:
        raise fail(f"{source}: {input_problem(err)}", input_exit(err)) from None
    try:
        container, text_enc = resolve_format(out, to and to.value, text and text.value, loaded.info.container)
        if out != "-":
            try:
                preflight(out, force)
            except OSError as err:
                raise fail(str(err)) from None
        ctx, by_value = _load_ctx(worker_ctx) if worker_ctx is not None else (None, [])
        result = reencode(
            loaded,
            container=container,
            text=text_enc,
            by_name=by_name,
            protocol=protocol,
            verify=verify,
            trust=trust,
            message=message,
            ctx=ctx,
            by_value=by_value,
        )
    except DecodeError as err:
        raise fail(f"{source}: {input_problem(err)}", Exit.UNDECODABLE) from None
    except DataFusionFailed as err:
        raise fail(datafusion_failure(str(err)), Exit.EVAL_FAILED) from None
    except (ReencodeError, Refused) as err:
        raise fail(str(err), err.code) from None
    except ValueError as err:  # resolve_message
        raise fail(str(err)) from None
    write_output(out, result.data, force)
    kind = f"pickle protocol {result.protocol}" if result.container == "pickle" else "raw to_bytes"
    done = f"{kind}{' as ' + result.text if result.text else ''}, {len(result.data)} B"
    checked = " (verified)" if result.verified else ""
    print(f"exprtool: wrote {out}: {done}{checked}: {shorten(result.rendered)}", file=sys.stderr)
    for note in result.notes:
        print(f"exprtool: note: {note}", file=sys.stderr)


def _load_ctx(spec: str):
    """(ctx, by-value modules) from ``spec`` (eval's loader); anything wrong is one line, exit 2."""
    from datafusion_exprtool.actions.reencode import load_worker_ctx
    from datafusion_exprtool.sandbox.failure import EvalError
    from datafusion_exprtool.sandbox.probe import ctx_facts_isolated

    try:
        # a trial build in a spawned process first: a factory that segfaults, calls os._exit or hangs is a usage
        # error there, before reencode (which needs the ctx here, to decode with it) builds it in this process
        ctx_facts_isolated(spec, os.getcwd())
        return load_worker_ctx(spec, os.getcwd())
    except EvalError as err:
        raise fail(f"--worker-ctx: {err.failure}") from None


def write_output(out: str, data: bytes, force: bool) -> None:
    """stdout for "-", else an atomic write; a failure is one line and exit status 2."""
    from datafusion_exprtool.atomic import atomic_write

    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        atomic_write(out, data, force=force)
    except OSError as err:
        raise fail(f"cannot write {out}: {err}") from None


def register(app: typer.Typer) -> None:
    app.command("reencode")(reencode)
