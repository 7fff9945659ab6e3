"""datafusion's ``display_indent()`` text without the annotations docs/commands.md lists as left out: the ones
datafusion derives at planning time from what a physical plan's bytes do not hold (a decoded plan shows none of
them). The tests compare exprtool's rendering with what remains, and tests/support/external_corpus.py scores the
corpus that way too (beside its exact rate).
"""

from __future__ import annotations

#: ``, name=value`` annotations left out where they stand; a value in brackets runs to its closing bracket,
#: another to the next ``, `` (these are only ever followed by other annotations)
IN_PLACE = ("sort_order_for_reorder", "reverse_row_groups")
#: annotations left out with the rest of their line (what follows them is left out too: ``required_guarantees``
#: after ``pruning_predicate``; ``ordering_mode`` ends an AggregateExec line)
TO_LINE_END = ("pruning_predicate", "ordering_mode")
LEFT_OUT = IN_PLACE + TO_LINE_END + ("required_guarantees",)


def _value_end(line: str, start: int) -> int:
    """Where the value starting at ``start`` ends: its brackets balanced, else at the next ``, ``."""
    if line.startswith("[", start):
        depth = 0
        for i in range(start, len(line)):
            depth += {"[": 1, "]": -1}.get(line[i], 0)
            if depth == 0:
                return i + 1
        return len(line)
    end = line.find(", ", start)
    return len(line) if end < 0 else end


def without_left_out_line(line: str) -> str:
    for name in TO_LINE_END:
        at = line.find(f", {name}=")
        if at >= 0:
            line = line[:at]
    for name in IN_PLACE:
        at = line.find(f", {name}=")
        if at >= 0:
            line = line[:at] + line[_value_end(line, at + len(name) + 3) :]
    return line


def without_left_out(text: str) -> str:
    """``text`` (a plan's display, one node per line) with every left-out annotation taken out."""
    return "\n".join(without_left_out_line(line) for line in text.split("\n"))
