"""datafusion's own decoding, the ground truth the proto and check tests compare with: in this process
(``df_decodes``) or, for blobs whose damage could run anything or abort, in a child process (``decode_all``)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datafusion import Expr


def df_decodes(blob: bytes) -> tuple[bool, str]:
    try:
        Expr.from_bytes(blob)
    except Exception as err:  # datafusion raises RuntimeError
        return False, str(err)
    return True, ""


DECODER = """
import json, pickle, signal, sys
from datafusion import Expr, ExecutionPlan, LogicalPlan, SessionContext
for line in sys.stdin:
    path, kind = line.rsplit(" ", 1)
    data = open(path, "rb").read()
    signal.alarm(30)  # a decode that hangs ends this process: the driver records the blob as refused
    try:
        {"pkl": pickle.loads, "expr": Expr.from_bytes,
         "logical": lambda b: LogicalPlan.from_bytes(SessionContext(), b),
         "physical": lambda b: ExecutionPlan.from_bytes(SessionContext(), b)}[kind.strip()](data)
        out = None
    except BaseException as exc:
        out = f"{type(exc).__name__}: {exc}"
    signal.alarm(0)
    print(json.dumps(out), flush=True)
"""


def decode_all(items: list[tuple[Path, str]]) -> list[str | None]:
    """datafusion's verdict per blob (None: decoded), in a child process (a flipped byte may run anything)."""
    results: list[str | None] = []
    while len(results) < len(items):
        todo = items[len(results) :]
        proc = subprocess.run(
            [sys.executable, "-c", DECODER],
            input="".join(f"{p} {k}\n" for p, k in todo),
            capture_output=True,
            text=True,
            check=False,
        )
        done = [json.loads(line) for line in proc.stdout.splitlines()]
        results += done
        if len(results) < len(items):  # the child died on the next blob: datafusion did not decode it
            results.append(f"decoder died ({proc.returncode})")
    return results


def decode_cases(cases: Sequence[tuple[Any, str, bytes]], tmp: Path, stem: str = "case") -> list[str | None]:
    """datafusion's verdict on each ``(label, kind, blob)`` case, the blobs written under ``tmp``."""
    items = []
    for i, (_label, kind, data) in enumerate(cases):
        path = tmp / f"{stem}.{i}"
        path.write_bytes(data)
        items.append((path, kind))
    return decode_all(items)
