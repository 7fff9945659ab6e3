"""What one ``scan`` (scan.py) of a blob found: its depth, unknown fields, function sites, clear text.

Plain data in a module of its own: scan.py (the walk) and scan_facts.py (which fills it in after the
walk) both build it, and scan.py imports scan_facts, not the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.model import Sensitive


@dataclass
class UnknownField:
    """A field number the tables do not know (prost skips it; a blob from another version?)."""

    type: str
    number: int
    wire: int
    offset: int  # absolute offset of the tag
    path: str


@dataclass
class FunctionSite:
    """One function call node in the tree (fact sheet §2.1)."""

    node: str
    name: str
    kind: str  # "scalar" | "aggregate" | "window"
    fun_definition: bytes | None
    payload_offset: int | None  # absolute offset of the fun_definition bytes
    msg: Msg
    udaf: bool = False  # a window node naming an aggregate (udaf / user_defined_aggr_function)


@dataclass
class Statistic:
    """A column statistic that holds a value (ColumnStats min/max): rendered by the inspection, not here."""

    label: str  # "min_value" | "max_value"
    offset: int  # absolute offset of the Precision message's body
    value: Msg  # its ScalarValue


@dataclass
class ScanResult:
    message: str
    size: int
    depth: int  # nesting as prost counts it: root = 1; map entries and skipped unknown fields count too
    exceeds_limit: bool  # depth > DATAFUSION_DECODE_DEPTH_LIMIT: datafusion refuses the blob
    node_count: int  # messages visited (opaque ones count once)
    root: Msg
    root_arms: list[str] = field(default_factory=list)  # fields of the root's main oneof, in wire order
    unknown: list[UnknownField] = field(default_factory=list)  # capped at MAX_UNKNOWN
    unknown_count: int = 0
    opaque: list[tuple[str, int, int]] = field(default_factory=list)  # (type, offset, size), capped
    opaque_count: int = 0
    functions: list[FunctionSite] = field(default_factory=list)
    sensitive: list[Sensitive] = field(default_factory=list)  # capped at MAX_SENSITIVE
    codec_payloads: list[tuple[str, int, int]] = field(default_factory=list)  # (field, offset, size)
    sensitive_dropped: int = 0
    statistics: list[Statistic] = field(default_factory=list)  # in wire order; clear text once rendered
    nested_literals: list[Msg] = field(default_factory=list)  # ScalarNestedValue bodies, in wire order
    table_rows: list[tuple[int, int, int]] = field(default_factory=list)  # memory-table partitions: (offset, a, b) of buf
    placeholders: list[tuple[str, int]] = field(default_factory=list)  # (id, absolute offset of the id), wire order

    @property
    def sites(self) -> list[FunctionSite]:
        return self.functions

    @property
    def sensible(self) -> bool:
        """The root sets exactly one arm of its main oneof (what a real blob always does)."""
        return len(self.root_arms) == 1
