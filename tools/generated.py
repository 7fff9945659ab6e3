"""The shared end of the table generators (gen_builtins.py, gen_receiver_names.py, gen_proto_tables.py may use
it too): write the generated module, or with --check say whether the committed one is stale."""

from __future__ import annotations

from pathlib import Path


def write_or_check(target: Path, text: str, argv: list[str]) -> int:
    """Write ``text`` to ``target``; with ``--check`` in ``argv`` only compare (exit status 1 when stale)."""
    if "--check" in argv:
        stale = not target.exists() or target.read_text() != text
        print(f"{target} is {'stale' if stale else 'up to date'}")
        return int(stale)
    target.write_text(text)
    print(f"wrote {target}")
    return 0
