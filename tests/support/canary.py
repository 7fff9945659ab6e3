"""Load a blob the normal way in a throwaway process and tell whether it ran code (created the canary).

Nothing is ever loaded in the calling process. ``load_many`` starts ONE worker subprocess (this file run as a
script), which imports datafusion once and then forks a fresh child per blob, so a blob that mutates the
interpreter (rebinds ``builtins.getattr``, patches cloudpickle, appends to ``sys.meta_path``) cannot affect
the next one, and a blob that hangs is killed after ``timeout`` seconds.

``kind`` says how a receiver loads the bytes:
  pickle    ``pickle.loads(b)`` (the receiver of ``pickle.dumps(expr)``)
  expr      ``Expr.from_bytes(b, SessionContext())``
  logical   ``LogicalPlan.from_bytes(SessionContext(), b)``
  physical  ``ExecutionPlan.from_bytes(SessionContext(), b)``
prefixed with ``b64:`` or ``hex:`` when the blob is text (decoded first, as a receiver reading a text
column or a JSON field would).

``receiver`` describes a receiver that did something ordinary beforehand (';'-separated):
  ext:<module>:<name>:<code>   ``copyreg.add_extension(module, name, code)`` (EXT opcodes resolve only then)
  codec:<id>                   the session has an inlining SessionContext installed as extension codec <id>
                               and inlining off itself (the DFPYCHN receiver of fact sheet §2.7)
  persistent_load              pickle is loaded by an Unpickler whose ``persistent_load`` returns the id
                               (PERSID/BINPERSID raise under plain ``pickle.loads``)
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: extra seconds to wait for a canary that a spawned (not awaited) process creates
SPAWN_GRACE = 3.0


@dataclass(frozen=True)
class Job:
    blob: bytes
    kind: str
    canary: Path
    receiver: str = ""
    expect_canary: bool = False  # wait up to SPAWN_GRACE for it (hostile cases that spawn and do not wait)


@dataclass(frozen=True)
class LoadResult:
    canary: bool  # the canary exists after the load
    error: str | None  # ``Type: message`` of what the load raised, or None
    result_type: str | None  # type name of what the load returned
    timed_out: bool = False


def load_many(jobs: list[Job], timeout: float = 20.0) -> list[LoadResult]:
    """Load every job in a fresh forked child of one worker process; results in job order."""
    if not jobs:
        return []
    with tempfile.TemporaryDirectory(prefix="exprtool-canary-") as tmp:
        spec = []
        for i, job in enumerate(jobs):
            blob_path = Path(tmp) / f"{i}.blob"
            blob_path.write_bytes(job.blob)
            spec.append({
                "blob": str(blob_path), "kind": job.kind, "canary": str(job.canary), "receiver": job.receiver,
                "expect": job.expect_canary, "result": str(Path(tmp) / f"{i}.json"),
                "log": str(Path(tmp) / f"{i}.log"),
            })  # fmt: skip
        spec_path = Path(tmp) / "jobs.json"
        spec_path.write_text(json.dumps({"timeout": timeout, "jobs": spec}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), str(spec_path)],
            check=True, capture_output=True, env=env, cwd=tmp,
            timeout=60 + len(jobs) * (timeout + SPAWN_GRACE),
        )  # fmt: skip
        out = []
        for job, item in zip(jobs, spec, strict=True):
            data = json.loads(Path(item["result"]).read_text())
            out.append(LoadResult(job.canary.exists(), data["error"], data["type"], data["timed_out"]))
        return out


def load(blob: bytes, kind: str, canary: Path, receiver: str = "", timeout: float = 20.0) -> LoadResult:
    return load_many([Job(blob, kind, canary, receiver)], timeout)[0]


def runs_code(blob: bytes, kind: str, canary: Path, receiver: str = "", timeout: float = 20.0) -> bool:
    """True when loading ``blob`` the normal way (in a throwaway process) created ``canary``."""
    job = Job(blob, kind, canary, receiver, expect_canary=True)
    return load_many([job], timeout)[0].canary


# --- the worker (this file run as a script) ------------------------------------------------------------
def _decode_text(blob: bytes, encoding: str) -> bytes:
    text = blob.decode("ascii").strip()
    if encoding == "b64":
        return base64.b64decode(text, validate=True)
    if encoding == "hex":
        return bytes.fromhex(text)
    raise ValueError(f"unknown text encoding {encoding!r}")


def _receive(blob: bytes, kind: str, receiver: str) -> object:
    import copyreg
    import io
    import pickle

    from datafusion import Expr, SessionContext
    from datafusion.plan import ExecutionPlan, LogicalPlan

    encoding, _, kind = kind.rpartition(":")
    if encoding:
        blob = _decode_text(blob, encoding)
    ctx = None
    persistent = False
    for item in filter(None, receiver.split(";")):
        what, _, rest = item.partition(":")
        if what == "ext":
            module, name, code = rest.split(":")
            copyreg.add_extension(module, name, int(code))
        elif what == "codec":
            outer = SessionContext().with_python_udf_inlining(enabled=False)
            ctx = outer.with_logical_extension_codec(SessionContext(), codec_id=rest)
            ctx = ctx.with_physical_extension_codec(SessionContext(), codec_id=rest + ".physical")
        elif what == "persistent_load":
            persistent = True
        else:
            raise ValueError(f"unknown receiver setup {item!r}")
    if kind == "pickle":
        if persistent:

            class StoreUnpickler(pickle.Unpickler):
                def persistent_load(self, pid: object) -> object:
                    return pid

            return StoreUnpickler(io.BytesIO(blob)).load()
        return pickle.loads(blob)
    ctx = ctx if ctx is not None else SessionContext()
    if kind == "expr":
        return Expr.from_bytes(blob, ctx)
    if kind == "logical":
        return LogicalPlan.from_bytes(ctx, blob)
    if kind == "physical":
        return ExecutionPlan.from_bytes(ctx, blob)
    raise ValueError(f"unknown kind {kind!r}")


def _child(job: dict) -> None:
    log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    error = type_name = None
    try:
        value = _receive(Path(job["blob"]).read_bytes(), job["kind"], job["receiver"])
        type_name = type(value).__name__
    except BaseException as exc:  # noqa: BLE001 - whatever the blob raises is the answer
        error = f"{type(exc).__name__}: {exc}"[:2000]
    Path(job["result"]).write_text(json.dumps({"error": error, "type": type_name, "timed_out": False}))


def _serve(spec_path: str) -> None:
    import cloudpickle  # noqa: F401 - imported once here, inherited by every forked child
    import datafusion  # noqa: F401
    import pyarrow  # noqa: F401

    spec = json.loads(Path(spec_path).read_text())
    timeout = spec["timeout"]
    for job in spec["jobs"]:
        pid = os.fork()
        if pid == 0:
            try:
                _child(job)
            finally:
                os._exit(0)
        deadline = time.monotonic() + timeout
        timed_out = False
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                timed_out = True
                break
            time.sleep(0.005)
        result = Path(job["result"])
        if timed_out or not result.exists():
            why = "timed out" if timed_out else "the loading process died"
            result.write_text(json.dumps({"error": why, "type": None, "timed_out": timed_out}))
        if job["expect"]:
            grace = time.monotonic() + SPAWN_GRACE
            while not Path(job["canary"]).exists() and time.monotonic() < grace:
                time.sleep(0.02)


if __name__ == "__main__":
    _serve(sys.argv[1])
