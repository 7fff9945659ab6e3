"""Score exprtool against the external corpus (tests/corpus/, built by tools/harvest_corpus.py).

For each kind (expr, logical, optimized, physical): how many blobs, how many datafusion could not encode,
the message-type detection rate, the rate at which ``inspect``'s rendering equals datafusion's own text
(``canonical_name()`` / ``display_indent()``), check's false errors (an error predicted for a blob datafusion
decodes) and missed errors (nothing predicted for a blob datafusion refuses), then the first N of each kind
of miss, grouped by a short signature so the largest categories come first.

    python tools/corpus_report.py            # 3 examples per category
    python tools/corpus_report.py -n 10 --kind physical
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.external_corpus import KINDS, Score, Tally, entries, environment_differs, manifest, tally  # noqa: E402


def first_difference(ours: str, theirs: str) -> str:
    """The first differing line pair, trimmed around the first differing character."""
    a, b = ours.splitlines() or [""], theirs.splitlines() or [""]
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            at = next((k for k, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y)))
            lo = max(0, at - 40)
            return f"line {i + 1}: ours …{x[lo:at + 60]!r}\n{' ' * 12}datafusion …{y[lo:at + 60]!r}"
    return f"line counts differ: ours {len(a)}, datafusion {len(b)}"


def text_signature(s: Score) -> str:
    """A category for a text miss: the first differing token of the first differing line."""
    if s.rendered is None:
        return f"inspect raised: {(s.inspect_error or '')[:60]}"
    ours, theirs = s.rendered.splitlines(), (s.entry["text"] or "").splitlines()
    for x, y in zip(ours, theirs, strict=False):
        if x != y:
            sm = difflib.SequenceMatcher(a=x, b=y, autojunk=False)
            op = next(o for o in sm.get_opcodes() if o[0] != "equal")
            return f"{op[0]} {x[op[1]:op[2]][:30]!r} -> {y[op[3]:op[4]][:30]!r}"
    return "line count"


def group(misses: list[Score], key) -> list[tuple[str, list[Score]]]:
    groups: dict[str, list[Score]] = defaultdict(list)
    for s in misses:
        groups[key(s)].append(s)
    return sorted(groups.items(), key=lambda kv: -len(kv[1]))


def print_tally(t: Tally, n: int) -> None:
    print(f"\n=== {t.kind}: {t.count} blobs ({t.encode_errors} more datafusion could not encode)")
    if not t.count:
        return
    false, missed = t.flagged("false_error"), t.flagged("missed_error")
    decodes = sum(s.decodes for s in t.scores)
    documented = f" ({t.rate('text_match_documented'):.2%} but left-out annotations)" if t.kind == "physical" else ""
    print(f"  detection {t.rate('detected'):.2%}   text match {t.rate('text_match'):.2%}{documented}   "
          f"check false errors {len(false)} of {decodes} decoded   missed errors {len(missed)} of "
          f"{t.count - decodes} refused")
    for label, rows, key, show in (
        ("detection misses", t.misses("detected"), lambda s: f"detected as {s.message}",
         lambda s: f"ours {s.message}"),
        ("text mismatches", t.misses("text_match"), text_signature,
         lambda s: first_difference(s.rendered or "", s.entry["text"] or "")),
        ("check false errors", false, lambda s: ", ".join(s.check_errors) or f"raised {s.check_error}",
         lambda s: f"round trip: {s.entry['roundtrip']['text']!r}"[:160]),
        ("check missed errors", missed, lambda s: (s.entry["roundtrip"]["error"] or "")[:90],
         lambda s: f"datafusion: {s.entry['roundtrip']['error']!r}"[:200]),
    ):
        if not rows:
            continue
        cats = group(rows, key)
        print(f"  -- {label}: {len(rows)} in {len(cats)} categories")
        for cat, members in cats[:n * 2]:
            print(f"    [{len(members)}] {cat}")
            for s in members[:n]:
                print(f"        {s.entry['id']}  ({s.entry['source']})")
                print(f"          {show(s)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=3, help="examples per category (and 2n categories)")
    ap.add_argument("--kind", choices=KINDS, action="append", help="only these kinds (repeatable)")
    args = ap.parse_args(argv)
    m = manifest()
    print(f"corpus: apache/datafusion-python {m['upstream']['commit'][:12]} ({m['upstream']['describe']}), "
          f"datafusion {m['environment']['datafusion']}, {m['file']['bytes']} bytes compressed")
    differs = environment_differs()
    if differs:
        print(f"WARNING: {differs}: datafusion's recorded answers may not hold here")
    tallies = tally(e for e in entries() if not args.kind or e["kind"] in args.kind)
    for kind in args.kind or KINDS:
        print_tally(tallies[kind], args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
