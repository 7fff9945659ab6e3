"""The shape of a catalog entry, and how its cause / fix templates are filled."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: eval's hint for a protobuf refusal that says nothing more specific (a certain catalog fix replaces it)
GENERIC_HINT = "the bytes are not a DataFusion 55 expression"


@dataclass(frozen=True, kw_only=True)
class EvalHint:
    """What ``eval`` says about an exception whose text (as raised) matches ``pattern``."""

    pattern: str = ""  # empty: the entry's own patterns
    text: str  # the one-line fix
    restage: bool = False  # a failure seen while unpickling / decoding UDFs is reported at the entry's stage


@dataclass(frozen=True, kw_only=True)
class CatalogEntry:
    id: str
    title: str
    layer: str  # container | pickle | protobuf | dfpy | cloudpickle | envelope | plan | arrow-ipc | worker | data
    stage: str  # unpickle | decode | udf-decode | plan | execute | encode
    ties_to: str  # function | payload | node | literal | rows | plan | object | blob | worker | data
    patterns: tuple[str, ...]
    cause: str
    fix: str
    datafusion_text: str = ""
    confidence: str = "certain"  # "certain": the text names this failure; "likely": the usual cause
    refines: str = ""  # an entry whose text this one shares: no patterns; explain --blob tells them apart
    eval_hint: EvalHint | None = None
    explained: bool = True  # False: a failure of a run, not of serialization; eval names it, explain does not
    #: the text ``{remedy}`` in ``fix`` takes, by the ``target`` field (what the failure concerns: an expression,
    #: a logical plan…); the first is the default. One entry, a fix that fits each kind of blob
    remedies: tuple[tuple[str, str], ...] = ()
    compiled: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", tuple(re.compile(p, re.MULTILINE) for p in self.patterns))

    def fix_for(self, fields: dict[str, str | None]) -> str:
        """``fix`` filled with ``fields`` (and ``{remedy}`` with the one for ``fields["target"]``)."""
        if self.remedies:
            table = dict(self.remedies)
            fields = {**fields, "remedy": table.get(fields.get("target") or "", self.remedies[0][1])}
        return render(self.fix, fields)

    @property
    def names_function(self) -> bool:
        """The failure concerns one of the blob's functions (named in the text, or any inline payload)."""
        return self.ties_to in ("function", "payload")


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def render(template: str, fields: dict[str, str | None]) -> str:
    """Fill a cause/fix template; absent fields show as ``<name>``."""
    return template.format_map(_Blank({k: v for k, v in fields.items() if v is not None}))


class Filled:
    """A catalog entry with the fields a datafusion text filled in: its cause and fix, rendered.

    Shared by what the matcher finds (``match.TextMatch``) and what explain reports (``Explanation``).
    """

    entry: CatalogEntry
    fields: dict[str, str]

    @property
    def cause(self) -> str:
        return render(self.entry.cause, self.fields)

    @property
    def fix(self) -> str:
        return self.entry.fix_for(self.fields)
