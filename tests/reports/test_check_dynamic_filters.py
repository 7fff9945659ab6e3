"""`check` on plans that carry dynamic filters, whose data is where the plan says: datafusion runs every one of them
(support.dynamic_filters executes them), so check predicts no error. A dynamic filter pushed into a scan names the
producer's columns (a join's computed key ``t.a + Int64(1)``) beside the scan's own (its remapped children): only
the scan's are columns its file must hold."""

from __future__ import annotations

import pytest
from support.dynamic_filters import QUERIES, plans

from datafusion_exprtool.inspection.pipeline import inspect_bytes
from datafusion_exprtool.inspection.plan_scans import plan_scans
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.reports.check.report import check_bytes


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return {name: plan.to_bytes() for name, plan in plans(tmp_path_factory.mktemp("check_dynamic")).items()}


@pytest.mark.parametrize("name", [*QUERIES, *(f"{n}.run" for n in QUERIES)])
def test_no_error_for_plans_datafusion_runs(built, name: str) -> None:
    blob = built[name]
    assert not check_bytes(blob).errors, [f.id for f in check_bytes(blob).errors]
    assert inspect_bytes(blob).damage == []


def test_a_pushed_join_filter_reads_the_scans_columns(built) -> None:
    blob = built["join_computed_keys.run"]
    scans = plan_scans(Msg("PhysicalPlanNode", blob, 0, len(blob)))
    probe = next(s for s in scans if s.files and s.files[0].endswith("t.parquet"))
    assert probe.projected == ["a", "b"]  # not the join's "t.a + Int64(1)", which the file does not hold
