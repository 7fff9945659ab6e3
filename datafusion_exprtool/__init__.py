"""exprtool: inspect, check, re-encode and replay serialized DataFusion expressions.

The library never imports datafusion or pyarrow on the inspection path, and never executes the
bytes it inspects.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "inspect_bytes", "inspect_path", "capture"]


def __getattr__(name: str):  # lazy: keep `import datafusion_exprtool` cheap
    if name in ("inspect_bytes", "inspect_path"):
        from datafusion_exprtool.inspection import pipeline as inspection

        return getattr(inspection, name)
    if name == "capture":
        from datafusion_exprtool.capturing.writer import capture

        return capture
    raise AttributeError(name)
