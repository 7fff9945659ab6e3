"""How an exception raised while a blob is decoded, planned or executed becomes an ``EvalFailure``.

The stage, the function concerned, datafusion's own words and the error catalog's name and fix for them.
"""

from __future__ import annotations

import re

from datafusion_exprtool.errors import EvalError, EvalFailure

#: the hint for a protobuf refusal that says nothing more specific (the error catalog's fix replaces it)
GENERIC_HINT = "the bytes are not a DataFusion 55 expression"


# datafusion message patterns that name the function concerned (first group = name)
_FUNCTION_PATTERNS = (
    r"is not provided for (?:scalar|aggregate|window) function ([^\s\"')]+)",
    r"inline Python (?:scalar|aggregate|window) UDF '([^']+)'",
    r"call to '([^']+)' function",
    r"Invalid function '([^']+)'",
)
# (pattern, stage override, hint) for decode errors datafusion words in a known way
_HINTS = (
    (
        r"FileNotFoundError",
        None,
        "isolated workers run in an empty temporary directory (like a worker on another host): "
        "the code must not rely on the driver's working directory",
    ),
    (
        r"is not provided for (?:scalar|aggregate|window) function",
        "udf-decode",
        "the function travels by name: register it on the worker context (--worker-ctx module:function)",
    ),
    (
        r"inlining is disabled on this session",
        "udf-decode",
        "the blob carries inline UDF code and --strict refuses it: re-encode by name, or drop --strict",
    ),
    (
        r"serialized on Python \d+\.\d+ but this process",
        "udf-decode",
        "run the same Python minor version as the sender",
    ),
    (
        r"ModuleNotFoundError",
        None,
        "install the module on the worker, or make the sender pickle the function by value",
    ),
    (
        r"was encoded by extension codec",
        "udf-decode",
        "install the same extension codec on the worker context",
    ),
    (r"wire-format version", "udf-decode", "align datafusion-python versions on sender and receiver"),
    (
        r"failed to decode Protobuf message|Missing required field",
        None,
        GENERIC_HINT,
    ),
    (r"Failed to coerce arguments", "plan", "cast the column, or fix the UDF's declared input types"),
    (
        r"MemoryError|Resources exhausted",
        None,
        "raise the memory limit or reduce --batch-size / --target-partitions",
    ),
)
_PYERR = re.compile(
    r"PyErr \{ type: <class '([^']+)'>, value: (.*?)(?:, traceback: (None|Some\(\"(.*)\"\)) \}|\s*\}$)", re.S
)
_TB_FRAME = re.compile(r'File \\?"([^"\\]+)\\?", line (\d+), in (\S+)')


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
    hint = None
    for pat, stage_override, h in _HINTS:
        if re.search(pat, text):
            hint = h
            if stage_override and stage in ("unpickle", "udf-decode"):
                stage = stage_override
            break
    if stage == "unpickle" and "PyErr" in text and "Unable to decode expr" in text:
        stage = "udf-decode"  # the cloudpickle payload of a UDF failed, not the outer pickle
    if kind not in ("Exception", "RuntimeError") and not message.startswith(kind):
        message = f"{kind}: {message}"
    original = debug = None
    if _from_datafusion(exc):
        original = _TRACEBACK.sub('traceback: Some("…")', raw)
        debug = [f"datafusion (with the Python traceback): {raw}"] if original != raw else []
    cause = None
    if original:  # the catalog's name for datafusion's text; its fix beats the generic protobuf hint
        from datafusion_exprtool.reports.explain import explain

        found = explain(original)
        if found:
            cause = f"{found[0].id}: {found[0].title}"
            if found[0].confidence == "certain" and (not hint or hint == GENERIC_HINT):
                hint = found[0].fix
    return EvalFailure(
        stage=stage,
        message=message,
        function=function,
        hint=hint,
        file=location,
        original=original,
        debug=debug or [],
        cause=cause,
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
