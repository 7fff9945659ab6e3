"""Physical plan nodes as ``ExecutionPlan.display_indent()`` shows them: one line per node, keyed by the node's
arm of ``PhysicalPlanNode``.

``LINES[arm](node)`` returns the text after the indentation (``ProjectionExec: expr=[a@0 as a]``) as a rendering generator; an
arm without an entry falls back to the wire-level outline line (``text/plan.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.engine import Gen

#: arm of PhysicalPlanNode -> the node's display line
LINES: dict[str, Callable[[Msg], Gen]] = {}
