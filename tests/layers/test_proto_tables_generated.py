"""``layers/proto/tables.py`` is what ``tools/gen_proto_tables.py`` makes of the fact sheet and the plan-node
tables (``tools/plan_node_tables.py``): a hand edit, or a generator change not re-run, is caught here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FACT_SHEET = ROOT.parent / "shared" / "wire-format.md"


@pytest.mark.skipif(not FACT_SHEET.is_file(), reason="the fact sheet (../shared/wire-format.md) is not beside the checkout")
def test_tables_are_the_generators_output() -> None:
    made = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_proto_tables.py"), str(FACT_SHEET)],
                          capture_output=True, text=True, check=True, cwd=ROOT).stdout  # fmt: skip
    assert made == (ROOT / "datafusion_exprtool" / "layers" / "proto" / "tables.py").read_text()
