"""text/dynamic_filter: plans that carry dynamic filters (a TopK's, a hash join's, MIN/MAX's) render as datafusion's
``display_indent()`` shows them, but for the annotations docs/commands.md lists as left out; planned plans
(``DynamicFilter [ empty ]``) and executed ones (the filter the run left: remapped to the scan's columns, a
partitioned join's ``CASE hash_repartition % 2 …``, ``IN (SET)``, the TopK's ``filter=[…]``). Bytes edited here are
decoded by datafusion, and its display of what it decoded is the answer."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from datafusion import ExecutionPlan, SessionContext
from support.dynamic_filters import QUERIES, bool_literal, edit_arm, plans, varint_field, with_fields
from support.left_out import IN_PLACE, LEFT_OUT, without_left_out

from datafusion_exprtool.inspection.pipeline import inspect_bytes
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.splice import splice
from datafusion_exprtool.layers.proto.wire import encode_len_field, iter_raw

NAMES = [*QUERIES, *(f"{n}.run" for n in QUERIES)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExecutionPlan]:
    return plans(tmp_path_factory.mktemp("dynamic_filters"))


def _theirs(plan: ExecutionPlan) -> str:
    return plan.display_indent().removesuffix("\n")


def _decoded_display(blob: bytes) -> str:
    return _theirs(ExecutionPlan.from_bytes(SessionContext(), blob))


@pytest.mark.parametrize("name", NAMES)
def test_plans_with_dynamic_filters_render_as_datafusion_displays_them(built, name: str) -> None:
    plan = built[name]
    theirs = _theirs(plan)
    assert "DynamicFilter [ " in theirs
    assert inspect_bytes(plan.to_bytes()).rendered == without_left_out(theirs)


def test_the_plans_cover_what_a_run_leaves(built) -> None:
    """The executed plans hold updated filters (else the test above proves little): remapped columns, the hash a
    partitioned join routes on, static IN sets, the TopK's own filter line; the planned ones are empty."""
    planned = "\n".join(_theirs(built[n]) for n in QUERIES)
    ran = "\n".join(_theirs(built[f"{n}.run"]) for n in QUERIES)
    assert planned.count("DynamicFilter [ empty ]") == len(QUERIES) and "filter=[" not in planned
    assert "DynamicFilter [ empty ]" not in ran
    for shown in ("CASE hash_repartition % 2 WHEN 0", "IN (SET) ([", "a@0 + 1 >= 1", "], filter=[a@0 IS NULL OR"):
        assert shown in ran, shown
    assert "dynamic_rg_pruning=eligible" in planned


def test_left_out_annotations_are_not_in_the_bytes(built) -> None:
    """sort_order_for_reorder and reverse_row_groups come from the planner's sort pushdown (a setting, not the
    bytes): datafusion's own decoding of the bytes shows neither, and exprtool leaves them out."""
    plan = built["topk_desc"]
    theirs = _theirs(plan)
    assert all(f", {name}=" in theirs for name in IN_PLACE)
    assert _decoded_display(plan.to_bytes()) == without_left_out(theirs) == inspect_bytes(plan.to_bytes()).rendered


def test_left_out_annotations_are_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "commands.md").read_text()
    assert all(f"`{name}`" in docs for name in LEFT_OUT)


def _generation(value: int | None):
    return lambda body: with_fields(body, drop=(3,), **({} if value is None else {"g": varint_field(3, value)}))


EDITS = {
    # "empty" is generation 1 alone, whatever the predicate; any other generation shows the predicate
    "generation 1": (23, _generation(1)),
    "generation 0": (23, _generation(0)),
    "no generation": (23, _generation(None)),
    "generation 7": (23, _generation(7)),
    # the TopK line shows its filter unless it is the literal true; the scan shows it whatever it is
    "true": (23, lambda b: with_fields(b, drop=(3, 4), g=varint_field(3, 2), i=encode_len_field(4, bool_literal(True)))),
    "false": (23, lambda b: with_fields(b, drop=(4,), i=encode_len_field(4, bool_literal(False)))),
    "not remapped": (23, lambda b: with_fields(b, drop=(2,))),
    "no children": (23, lambda b: with_fields(b, drop=(1,))),
    "hash described otherwise": (21, lambda b: with_fields(b, drop=(6,), d=encode_len_field(6, b"my hash"))),
}  # fmt: skip


@pytest.mark.parametrize("name", ["topk_desc.run", "join_computed_keys.run", "topk_desc"])
@pytest.mark.parametrize("edit", [k for k in EDITS if EDITS[k][0] == 23])
def test_edited_dynamic_filters_render_as_datafusion_decodes_them(built, name: str, edit: str) -> None:
    arm, fn = EDITS[edit]
    blob = edit_arm(built[name].to_bytes(), arm, fn)
    assert inspect_bytes(blob).rendered == without_left_out(_decoded_display(blob))


def test_partition_hash_shows_its_description(built) -> None:
    arm, fn = EDITS["hash described otherwise"]
    blob = edit_arm(built["join_partitioned.run"].to_bytes(), arm, fn)
    theirs = without_left_out(_decoded_display(blob))
    assert "CASE my hash % 2" in theirs and inspect_bytes(blob).rendered == theirs


def _first_items(n: int):
    """An editor keeping the first ``n`` list items (field 2) of a PhysicalInListNode body."""

    def edit(body: Msg) -> bytes:
        seen, out = 0, b""
        for number, _w, _a, b, tag in iter_raw(body.buf, body.start, body.end):
            seen += number == 2
            out += b"" if number == 2 and seen > n else bytes(body.buf[tag:b])
        return out

    return edit


@pytest.mark.parametrize(("head", "items"), [("", 0), ("", 1), ("", 2), ("", 12), ("a + 1, ", 1), ("a + 1, ", 13)])
@pytest.mark.parametrize("negated", [False, True])
def test_in_lists_of_literals_show_their_static_set(head: str, items: int, negated: bool) -> None:
    """``IN (SET) ([…])`` when the list is not empty and every item is a literal (datafusion builds a static set
    then), ``IN ([…])`` otherwise."""
    ctx = SessionContext()
    ctx.register_record_batches("t", [[pa.record_batch({"a": list(range(20))})]])
    sql = f"select a from t where a {'not ' if negated else ''}in ({head}{', '.join(map(str, range(12)))})"
    blob, count = splice(ctx.sql(sql).execution_plan().to_bytes(), "PhysicalPlanNode",
                         lambda m: _first_items(items)(m) if m.type == "PhysicalInListNode" else None)  # fmt: skip
    theirs = _decoded_display(blob)
    assert count == 1 and ("(SET)" in theirs) == (items > 0 and not head)
    assert inspect_bytes(blob).rendered == theirs
