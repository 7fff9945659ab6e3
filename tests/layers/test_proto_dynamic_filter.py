"""The field tables of a dynamic filter (``PhysicalDynamicFilterNode``) and of the partition hash a partitioned join's
filter routes on (``PhysicalHashExprNode``): the fact sheet names both without fields; tools/gen_proto_tables.py
has them from datafusion 55's bytes. Checked here against what the installed datafusion writes and refuses:

- the scan reads every plan's dynamic filters whole (no unknown field, nothing opaque), with the values the plan
  holds (generation 1 before a run, more after; the TopK's columns as children);
- each field's name is the one datafusion's refusal names when that field's wire type is flipped (decoded for real
  in a child process, support.decoding.decode_all), and exprtool's prost text says the same;
- a field number the tables do not list, sent with any wire type, is ignored by datafusion: there is no such field.
"""

from __future__ import annotations

import pytest
from support.decoding import decode_cases
from support.dynamic_filters import edit_arm, plans, with_fields

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.prost_error import PREFIX, prost_error
from datafusion_exprtool.layers.proto.scan import scan
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import LEN, encode_len_field, encode_varint, iter_raw

TYPES = {"PhysicalDynamicFilterNode": 23, "PhysicalHashExprNode": 21}  # type -> its PhysicalExprNode arm


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("dynamic_filter_tables")
    return {"tmp": tmp, "blobs": {name: plan.to_bytes() for name, plan in plans(tmp).items()}}


def _nodes(blob: bytes, type_name: str) -> list[Msg]:
    out, stack = [], [Msg("PhysicalPlanNode", blob, 0, len(blob))]
    while stack:
        m = stack.pop()
        out += [m] if m.type == type_name else []
        stack += [f.value for f in m.fields() if isinstance(f.value, Msg) and f.value.known]
    return out


def test_scan_reads_dynamic_filters_whole(blobs) -> None:
    seen = set()
    for name, blob in blobs["blobs"].items():
        res = scan(blob, "PhysicalPlanNode")
        assert res.unknown_count == 0 and not [o for o in res.opaque if o[0] in TYPES], (name, res.opaque)
        seen |= {t for t in TYPES if _nodes(blob, t)}
    assert seen == set(TYPES)


def test_values_are_the_ones_the_plans_hold(blobs) -> None:
    planned = [n.to_dict() for n in _nodes(blobs["blobs"]["topk_desc"], "PhysicalDynamicFilterNode")]
    ran = [n.to_dict() for n in _nodes(blobs["blobs"]["topk_desc.run"], "PhysicalDynamicFilterNode")]
    assert len(planned) == 2 and all(d["generation"] == 1 and "is_complete" not in d for d in planned)
    assert all(d["generation"] > 1 and d["is_complete"] is True for d in ran)
    scan_copy = next(d for d in planned if "remapped_children" in d)  # the copy pushed into the scan
    assert [c.to_dict()["column"].to_dict()["name"] for c in scan_copy["children"]] == ["a"]
    hashes = [n.to_dict() for n in _nodes(blobs["blobs"]["join_partitioned.run"], "PhysicalHashExprNode")]
    assert hashes and all(h["description"] == "hash_repartition" and len(h["on_columns"]) == 1 for h in hashes)


def _flips(blobs) -> list[tuple[str, bytes]]:
    """(``Message.field``, the blob with that field's wire type flipped) for the first occurrence of every field
    of the two types (packed repeated scalars left out: prost takes them either way)."""
    out, done = [], set()
    for blob in blobs["blobs"].values():
        for type_name in TYPES:
            for m in _nodes(blob, type_name):
                for number, wire, _a, _b, tag in iter_raw(m.buf, m.start, m.end):
                    key = f"{type_name}.{MESSAGES[type_name][number].name}"
                    if key not in done:
                        done.add(key)
                        damaged = bytearray(blob)
                        damaged[tag] ^= 2 if wire == LEN else 1
                        out.append((key, bytes(damaged)))
    blob = blobs["blobs"]["join_partitioned.run"]
    for type_name, arm in TYPES.items():  # a field no plan here sets (a zero seed): appended with a wrong wire type
        for number, spec in MESSAGES[type_name].items():
            if f"{type_name}.{spec.name}" not in done:
                scalar = spec.kind != "message"  # sent as an empty message; a message sent as the varint 1
                wrong = encode_varint(number << 3 | LEN) + b"\x00" if scalar else encode_varint(number << 3) + b"\x01"
                out.append((f"{type_name}.{spec.name}", edit_arm(blob, arm, lambda b, e=wrong: with_fields(b, x=e))))
    return out


def _verdicts(blobs, cases: list[tuple[str, bytes]]) -> list[str | None]:
    return decode_cases([(key, "physical", data) for key, data in cases], blobs["tmp"])


def test_field_names_are_the_ones_datafusion_names(blobs) -> None:
    cases = _flips(blobs)
    assert {k for k, _ in cases} == {f"{t}.{s.name}" for t in TYPES for s in MESSAGES[t].values()}
    for (key, data), theirs in zip(cases, _verdicts(blobs, cases), strict=True):
        ours = prost_error(data, "PhysicalPlanNode")
        assert theirs is not None and PREFIX in theirs and f"{key}: " in theirs, (key, theirs)
        assert ours is not None and ours in theirs.replace('\\"', '"'), (key, ours, theirs)


def test_numbers_not_in_the_tables_are_no_fields(blobs) -> None:
    """Every wire type at every free number up to 19 is skipped by datafusion (a field there would refuse all but
    one of them)."""
    cases = []
    for type_name, arm in TYPES.items():
        blob = blobs["blobs"]["join_partitioned.run"]
        for number in sorted(set(range(1, 20)) - set(MESSAGES[type_name])):
            for wire, payload in ((0, encode_varint(7)), (1, bytes(8)), (2, encode_len_field(1, b"")[1:]),
                                  (5, bytes(4))):  # fmt: skip
                extra = encode_varint(number << 3 | wire) + payload
                cases.append((f"{type_name}.{number}/{wire}", edit_arm(blob, arm, lambda b, e=extra: with_fields(b, x=e))))
    refused = [(key, said) for (key, _d), said in zip(cases, _verdicts(blobs, cases), strict=True) if said is not None]
    assert not refused, refused[:3]
    assert len(cases) == 4 * (19 - len(MESSAGES["PhysicalDynamicFilterNode"]) + 19 - len(MESSAGES["PhysicalHashExprNode"]))
