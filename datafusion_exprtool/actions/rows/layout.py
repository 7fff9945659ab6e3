"""Where every input row lives, and how a set of rows is cut into the pieces a search probes.

Rows are numbered globally in scan order (the files in the order eval lists them, then each file's row
groups); ``Rows`` is a set of them as sorted half-open ranges, small and hashable whatever its size.
``Layout.split`` cuts a set the way the search narrows it: at file and row-group boundaries while it spans
several row groups, then into batches (runs of ``batch_size`` of its rows: the batches a probe hands to
datafusion), then into single rows. Nothing here reads data; the Parquet footers give the layout.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

Range = tuple[int, int]

#: a set of at least this many rows per chunk is worth one more probe when scanning in order
ROWS_PER_PROBE = 65_536
MAX_CHUNKS = 64


@dataclass(frozen=True)
class Rows:
    """A set of global row numbers: sorted, disjoint, non-empty half-open ranges."""

    ranges: tuple[Range, ...] = ()

    @classmethod
    def of(cls, ranges: Iterable[Range]) -> Rows:
        merged: list[list[int]] = []
        for a, b in sorted(r for r in ranges if r[1] > r[0]):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        return cls(tuple((a, b) for a, b in merged))

    def __len__(self) -> int:
        return sum(b - a for a, b in self.ranges)

    def __iter__(self) -> Iterator[int]:
        for a, b in self.ranges:
            yield from range(a, b)

    def minus(self, other: Rows) -> Rows:
        out: list[Range] = []
        cuts = other.ranges
        for a, b in self.ranges:
            start = a
            i = bisect.bisect_left(cuts, (a, a))
            i = max(i - 1, 0)
            while i < len(cuts) and cuts[i][0] < b:
                ca, cb = cuts[i]
                if cb > start:
                    if ca > start:
                        out.append((start, min(ca, b)))
                    start = max(start, cb)
                i += 1
            if start < b:
                out.append((start, b))
        return Rows.of(out)

    def take(self, first: int, last: int) -> Rows:
        """The rows at positions ``first`` (inclusive) to ``last`` (exclusive) of this set, in order."""
        out: list[Range] = []
        seen = 0
        for a, b in self.ranges:
            size = b - a
            lo, hi = max(first - seen, 0), min(last - seen, size)
            if lo < hi:
                out.append((a + lo, a + hi))
            seen += size
            if seen >= last:
                break
        return Rows(tuple(out))

    def first(self) -> int:
        return self.ranges[0][0]

    def __contains__(self, row: object) -> bool:
        i = bisect.bisect_right(self.ranges, (row, float("inf"))) - 1 if isinstance(row, int) else -1
        return i >= 0 and self.ranges[i][0] <= row < self.ranges[i][1]  # type: ignore[operator]


@dataclass(frozen=True)
class RowGroup:
    file: int  # index into Layout.files
    index: int  # the row group's number in its file
    first: int  # global number of its first row
    rows: int
    file_first: int  # its first row's number in the file


@dataclass(frozen=True)
class Origin:
    """Where one input row is: the file, the row group, its row number in the file and in the group."""

    file: str
    row_group: int
    row: int
    row_in_group: int


@dataclass(frozen=True)
class Span:
    """The part of a row set inside one row group, as rows of that file."""

    file: str
    row_group: int
    first_row: int  # in the file
    last_row: int  # in the file, inclusive
    rows: int  # how many of the rows between first_row and last_row are in the set


@dataclass
class Layout:
    files: list[str]
    groups: list[RowGroup]
    batch_size: int = 8192

    @classmethod
    def from_files(cls, files: list[str]) -> Layout:
        from datafusion_exprtool.sandbox.scan_data import parquet_metadata

        groups: list[RowGroup] = []
        total = 0
        for f, path in enumerate(files):
            meta = parquet_metadata(path)
            in_file = 0
            for i in range(meta.num_row_groups):
                n = meta.row_group(i).num_rows
                if n:
                    groups.append(RowGroup(f, i, total, n, in_file))
                total += n
                in_file += n
        return cls(list(files), groups)

    @property
    def total(self) -> int:
        last = self.groups[-1] if self.groups else None
        return last.first + last.rows if last else 0

    def all(self) -> Rows:
        return Rows.of([(0, self.total)])

    @functools.cached_property
    def firsts(self) -> list[int]:
        """The global number of each row group's first row (for bisection)."""
        return [g.first for g in self.groups]

    def group_of(self, row: int) -> int:
        return bisect.bisect_right(self.firsts, row) - 1

    def origin(self, row: int) -> Origin:
        g = self.groups[self.group_of(row)]
        local = row - g.first
        return Origin(self.files[g.file], g.index, g.file_first + local, local)

    def per_group(self, rows: Rows) -> list[tuple[int, Rows]]:
        """(row group position in ``groups``, the rows of the set inside it), in scan order."""
        firsts = self.firsts
        out: dict[int, list[Range]] = {}
        for a, b in rows.ranges:
            i = bisect.bisect_right(firsts, a) - 1
            while a < b:
                g = self.groups[i]
                end = min(b, g.first + g.rows)
                out.setdefault(i, []).append((a, end))
                a = end
                i += 1
        return [(i, Rows(tuple(r))) for i, r in sorted(out.items())]

    def spans(self, rows: Rows) -> list[Span]:
        out = []
        for i, part in self.per_group(rows):
            g = self.groups[i]
            first, last = part.ranges[0][0], part.ranges[-1][1] - 1
            out.append(Span(self.files[g.file], g.index, g.file_first + first - g.first,
                            g.file_first + last - g.first, len(part)))  # fmt: skip
        return out

    def level(self, rows: Rows) -> str:
        """What the next split cuts at: ``files``, ``row groups``, ``batches`` or ``rows``."""
        parts = self.per_group(rows)
        if len({self.groups[i].file for i, _ in parts}) > 1:
            return "files"
        if len(parts) > 1:
            return "row groups"
        return "batches" if len(rows) > self.batch_size else "rows"

    def _cuts(self, rows: Rows, n: int = 2) -> tuple[Sequence[int], set[int]]:
        """Positions in the set where a chunk may end (and those that are also file boundaries): the
        row-group boundaries it spans, else (or when ``n`` chunks need more) batch boundaries, else any row."""
        parts = self.per_group(rows)
        size = len(rows)
        files: set[int] = set()
        groups: list[int] = []
        batches: list[int] = []
        seen = 0
        for k, (i, part) in enumerate(parts):
            batches.extend(range(seen + self.batch_size, seen + len(part), self.batch_size))
            seen += len(part)
            if k + 1 < len(parts):
                groups.append(seen)
                batches.append(seen)
                if self.groups[parts[k + 1][0]].file != self.groups[i].file:
                    files.add(seen)
        if groups and len(groups) >= n - 1:
            return groups, files
        if batches and len(batches) >= n - 1:
            return batches, files
        return range(1, size), files

    def chunks_for(self, rows: Rows) -> int:
        """How many chunks to probe in scan order: enough that the chunks before the failing one cost
        little, not so many that a probe's fixed cost dominates (small sets are bisected)."""
        cuts, _files = self._cuts(rows)
        return max(2, min(len(cuts) + 1, len(rows) // ROWS_PER_PROBE, MAX_CHUNKS))

    def split(self, rows: Rows, n: int) -> list[Rows]:
        """``rows`` cut into at most ``n`` consecutive chunks of about equal size, at the boundaries of
        the coarsest level that has enough of them (a file boundary preferred to a row-group boundary)."""
        size = len(rows)
        if n < 2 or size < 2:
            return [rows]
        cuts, files = self._cuts(rows, n)
        chosen: list[int] = []
        window = size / n / 2
        for k in range(1, n):
            target = size * k / n
            j = bisect.bisect_left(cuts, target)
            best = min((cuts[m] for m in (j - 1, j) if 0 <= m < len(cuts)), key=lambda c: (abs(c - target), c))
            for c in files:  # a file boundary within half a chunk wins
                if abs(c - target) <= window:
                    best = c
                    break
            if not chosen or best > chosen[-1]:
                chosen.append(best)
        edges = [0, *chosen, size]
        return [rows.take(a, b) for a, b in zip(edges, edges[1:], strict=False) if b > a]
