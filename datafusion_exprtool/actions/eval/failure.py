"""How an exception raised while a blob is decoded, planned or executed becomes an ``EvalFailure``.

The stage, the function concerned, datafusion's own words and the error catalog's name and fix for them.
"""

from __future__ import annotations

import re

from datafusion_exprtool.model import ARROW_DAMAGE_IDS
from datafusion_exprtool.sandbox.failure import EvalError, EvalFailure

#: the stages a blob is decoded in: Arrow IPC bytes inside it (a nested literal, a memory table's rows) are read
#: there, so their damage (``model.ARROW_DAMAGE_IDS``) cannot be what fails a later stage, whatever the text
DECODE_STAGES = ("unpickle", "decode", "udf-decode")

# datafusion message patterns that name the function concerned (first group = name)
_FUNCTION_PATTERNS = (
    r"is not provided for (?:scalar|aggregate|window) function ([^\s\"')]+)",
    r"inline Python (?:scalar|aggregate|window) UDF '([^']+)'",
    r"call to '([^']+)' function",
    r"Invalid function '([^']+)'",
)
_PYERR = re.compile(
    r"PyErr \{ type: <class '([^']+)'>, value: (.*?)(?:, traceback: (None|Some\(\"(.*)\"\)) \}|\s*\}$)", re.S
)
_TB_FRAME = re.compile(r'File \\?"([^"\\]+)\\?", line (\d+), in ([^\s\\]+)')  # a name ends at an escaped \n too


def summarize_pyerr(text: str) -> tuple[str, str | None, str | None]:
    """Shorten a datafusion message that embeds a Python traceback.

    Returns (message without the traceback, innermost Python function name, its "file:line").
    """
    m = _PYERR.search(text)
    if not m:
        return text, None, None
    value = m.group(2)
    frames = _TB_FRAME.findall(m.group(4) or "")
    head = text[: m.start()] + value + text[m.end() :]  # what closes around the PyErr stays
    if frames:
        fname, line, func = frames[-1]
        return head, func, f"{fname}:{line}"
    return head, None, None


def python_frames(text: str) -> list[tuple[str, int, str]]:
    """(file, line, function) of each frame of the Python traceback a datafusion ``PyErr`` text embeds,
    outermost first (empty when it has none)."""
    m = _PYERR.search(text)
    if not m:
        return []
    return [(f, int(line), func) for f, line, func in _TB_FRAME.findall(m.group(4) or "")]


def classify(exc: BaseException, stage: str, python_functions: dict[str, str] | None = None) -> EvalFailure:
    """Turn any exception raised while decoding/planning/executing into an EvalFailure.

    ``python_functions`` maps Python qualnames (as a traceback shows them) to UDF names, so a UDF that raises
    is reported under the name the expression calls it by.
    """
    if isinstance(exc, EvalError):
        return exc.failure
    kind = type(exc).__name__
    text = raw = str(exc).strip() or kind
    if isinstance(exc, MemoryError):
        text = "MemoryError: the worker ran out of memory"
    elif kind == "PanicException":
        text = f"Rust panic: {text}"
    message, py_func, location = summarize_pyerr(text)
    function = None
    for pat in _FUNCTION_PATTERNS:
        m = re.search(pat, text)
        if m:
            function = m.group(1)
            break
    if function is None and python_functions:
        if py_func and py_func in python_functions:
            function = python_functions[py_func]
        elif len(set(python_functions.values())) == 1 and "PyErr" in text:
            function = next(iter(python_functions.values()))
    # the catalog is read only when something failed: a run that succeeds never pays for its import
    from datafusion_exprtool.catalog import EVAL_HINTED
    from datafusion_exprtool.catalog.entry import GENERIC_HINT
    from datafusion_exprtool.catalog.match import match_text

    hint = None
    for entry in EVAL_HINTED:  # the catalog's one-line fixes, for the exception as raised
        said = entry.eval_hint
        if said is not None and re.search(said.pattern or "|".join(entry.patterns), text):
            hint = said.text
            if said.restage and stage in ("unpickle", "udf-decode"):
                stage = entry.stage
            break
    if stage == "unpickle" and "PyErr" in text and "Unable to decode expr" in text:
        stage = "udf-decode"  # the cloudpickle payload of a UDF failed, not the outer pickle
    if kind not in ("Exception", "RuntimeError") and not message.startswith(kind):
        message = f"{kind}: {message}"
    original = debug = None
    if _from_datafusion(exc):
        original = _TRACEBACK.sub('traceback: Some("…")', raw)
        debug = [f"datafusion (with the Python traceback): {raw}"] if original != raw else []
    catalog_id = None
    if original:  # the catalog's name for datafusion's text; its fix beats the generic protobuf hint
        found = [m for m in match_text(original) if stage in DECODE_STAGES or m.entry.id not in ARROW_DAMAGE_IDS]
        if found:
            catalog_id = found[0].entry.id
            if found[0].entry.confidence == "certain" and (not hint or hint == GENERIC_HINT):
                hint = found[0].fix
    return EvalFailure(
        stage=stage,
        message=message,
        function=function,
        hint=hint,
        file=location,
        original=original,
        debug=debug or [],
        catalog_id=catalog_id,
    )


# the Python traceback datafusion embeds in a PyErr's Debug text: left out of the report (the frame that
# matters is already its "where:"), kept for --verbose
_TRACEBACK = re.compile(r'traceback: Some\("(?:[^"\\]|\\.)*"\)', re.S)


def _from_datafusion(exc: BaseException) -> bool:
    """datafusion raises plain ``Exception``s (and pyo3's ``PanicException``) with its own text."""
    kind = type(exc).__name__
    text = str(exc)
    if kind == "PanicException":
        return True
    markers = ("DataFusion error", "PyErr", "Unable to decode")
    return type(exc).__module__ == "builtins" and (kind == "Exception" or any(m in text for m in markers))
