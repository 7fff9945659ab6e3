"""When two failures are "the same failure": the shape a ``--find-rows`` probe must reproduce.

A probe on fewer rows fails with other values in its message (the row's number, the batch's length), so
failures are compared by shape: the stage, the exception type (the Python exception a UDF raised, read from
datafusion's ``PyErr { type: <class '…'> }``, or the kind of exception datafusion raised), the error
catalog's entry for datafusion's text, the function, and the message with its numbers and quoted values
masked. A probe that fails differently (another exception, another message) does not count as failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from datafusion_exprtool.sandbox.failure import EvalFailure

_PY_TYPE = re.compile(r"PyErr \{ type: <class '([^']+)'>")
_PY_VALUE = re.compile(r"value: ([A-Za-z_][\w.]*)\((.*?)\)(?:, traceback: | \}|$)", re.S)
_NUMBER = re.compile(r"0x[0-9a-fA-F]+|[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_QUOTED = re.compile(r"'[^'\n]{0,80}'|\"[^\"\n]{0,80}\"")
_KIND = re.compile(r"^([A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt)): ")


def exception_type(failure: EvalFailure) -> str:
    """The Python exception a UDF raised (``ValueError``), else the kind exprtool's classifier saw."""
    for text in (failure.original or "", *failure.debug, failure.message):
        m = _PY_TYPE.search(text)
        if m:
            return m.group(1).rsplit(".", 1)[-1]
    m = _KIND.match(failure.message)
    if m:
        return m.group(1)
    if failure.message.startswith("the worker was killed by") or "without reporting" in failure.message:
        return "worker-death"
    return "datafusion" if failure.original else "Exception"


def mask(text: str) -> str:
    """``text`` with numbers and short quoted values replaced: the message's shape."""
    text = _QUOTED.sub("'…'", text)
    return " ".join(_NUMBER.sub("#", text).split())


def exception_message(failure: EvalFailure) -> str:
    """The words that say what failed: a UDF exception's own message, else datafusion's text."""
    text = failure.original or failure.message
    m = _PY_VALUE.search(text)
    if m and _PY_TYPE.search(text):
        inner = m.group(2).strip()
        if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
            inner = inner[1:-1]
        return inner
    return text


@dataclass(frozen=True)
class FailureShape:
    """What must match for a probe's failure to count as the failure being searched for."""

    stage: str
    exception: str
    catalog_id: str | None
    function: str | None
    message: str  # masked: see ``mask``

    @classmethod
    def of(cls, failure: EvalFailure) -> FailureShape:
        return cls(
            stage=failure.stage,
            exception=exception_type(failure),
            catalog_id=failure.catalog_id,
            function=failure.function,
            message=mask(exception_message(failure)),
        )

    def matches(self, other: FailureShape) -> bool:
        """Same stage, exception type, catalog entry and message shape; the function when both name one."""
        if self.function and other.function and self.function != other.function:
            return False
        return (self.stage, self.exception, self.catalog_id, self.message) == (
            other.stage,
            other.exception,
            other.catalog_id,
            other.message,
        )

    def describe(self) -> str:
        return f"{self.exception} at stage {self.stage}: {self.message}"
