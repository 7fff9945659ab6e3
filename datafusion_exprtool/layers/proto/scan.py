"""One validating pass over a whole protobuf message tree, and detection of which message a blob is.

The walk is a linear sweep of the byte position with a stack of enclosing messages: children of a message
are contiguous in its body, so a pre-order walk never jumps. No Python recursion, no ``Msg`` per node.
It checks the wire format the way prost (datafusion's decoder) does, and refuses what prost refuses:
truncation, bad varints/tags/wire types, wrong wire types on known fields, invalid UTF-8 in strings.
Field numbers the tables do not know are skipped and recorded (prost skips them too).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from datafusion_exprtool.errors import CORRUPT, TRUNCATED, UNDERFLOW, DecodeError
from datafusion_exprtool.layers.proto.mend import text_damage
from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.layers.proto.roots import ROOT_MESSAGES, ROOT_ONEOF, unwritten_arm
from datafusion_exprtool.layers.proto.runs import LEAF, RUN_RETRY, leaf_keys, leaf_run
from datafusion_exprtool.layers.proto.scan_facts import (
    CODEC_FIELDS,
    PLACEHOLDER_FIELDS,
    SENSITIVE_FIELDS,
    SITE_NODES,
    STAT_FIELDS,
    UDAF_AS_WINDOW,
    Broken,
    finish,
    special_field,
    utf8_text,
)
from datafusion_exprtool.layers.proto.scan_result import ScanResult, UnknownField
from datafusion_exprtool.layers.proto.tables import MESSAGES
from datafusion_exprtool.layers.proto.wire import (
    EGROUP,
    I32,
    I64,
    KIND_WIRE,
    LEN,
    SGROUP,
    TRUNCATED_VARINT,
    VARINT,
    WIRE_NAMES,
    read_varint,
)

#: the largest ``ScanResult.depth`` datafusion 55 decodes (prost's recursion limit of 100 lets the root
#: plus 100 nested levels through). Verified with real datafusion at 101 (decodes) and 102 (refused).
DATAFUSION_DECODE_DEPTH_LIMIT = 101

MAX_UNKNOWN = 1000
MAX_OPAQUE = 1000

#: the fast path for runs of literal leaves (runs.py); read by scan(), so tests switch it off here
#: to compare with the generic walk
FAST_RUNS = True

# --- precomputed dispatch tables --------------------------------------------------------------------
# act per tag key (number << 3 | wire): an int code, a str (special field), or a tuple (message field)
_SKIP_VARINT, _SKIP_I64, _SKIP_LEN, _SKIP_I32, _STRING = 0, 1, 2, 5, 6
_PACKED_VARINT, _PACKED_I32, _PACKED_I64 = 10, 11, 12
_SCALAR_CODE = {VARINT: _SKIP_VARINT, I64: _SKIP_I64, I32: _SKIP_I32}
_PACKED_CODE = {VARINT: _PACKED_VARINT, I64: _PACKED_I64, I32: _PACKED_I32}
_ARM_CODES = (_SKIP_VARINT, _SKIP_I64, _SKIP_I32)  # ScalarValue arms a leaf run may hold (runs.py)

_MAP_TYPE = "map<string,string>"


_BIG, _NAME = 128, 129  # slots of a tag list after the 128 one-byte keys: {key: act} for all keys, type


def _build_tables() -> dict[str, list]:
    """Per message type a list: act of each one-byte key, then the dict of all keys, then the type name.

    An act is an int code, a str (special field) or a tuple (child tags, field name, flag, child type,
    run) for a message field; flag is None, "site", "opaque" or a statistics label; run is None or, for
    a one-byte-tagged field of a type with a literal arm, (literal keys, all arm keys, spec) with
    spec = (tag, literal keys, varint / i64 / i32 arm keys) for ``runs.leaf_run``.
    """
    dicts: dict[str, dict[int, object]] = {t: {} for t in MESSAGES}
    dicts["EmptyMessage"] = {}  # referenced, fieldless: known, so content in it is unknown, not opaque
    dicts[_MAP_TYPE] = {1 << 3 | LEN: _STRING, 2 << 3 | LEN: _STRING}
    tags = {t: [None] * 128 + [d, t] for t, d in dicts.items()}
    for type_name, fields in MESSAGES.items():
        d = dicts[type_name]
        for number, (name, kind, ref, repeated, _oneof) in fields.items():
            wire = KIND_WIRE.get(kind, VARINT)
            key = number << 3 | wire
            if kind == "message":
                flag = "site" if ref in SITE_NODES else STAT_FIELDS.get((type_name, number))
                act = (tags.get(ref), name, "opaque" if ref not in tags else flag, ref, None)
                for w in (VARINT, I64, LEN, SGROUP, EGROUP, I32) if ref.endswith("Entry") else (LEN,):
                    d[number << 3 | w] = act  # a map's entry (``<Message>.<Field>Entry``): any wire type, as prost
            elif kind == "map":  # prost reads a map entry's length whatever the wire type (0-5) says
                for w in (VARINT, I64, LEN, SGROUP, EGROUP, I32):
                    d[number << 3 | w] = (tags[_MAP_TYPE], name, None, _MAP_TYPE, None)
            elif (type_name, number) in SENSITIVE_FIELDS:
                d[key] = SENSITIVE_FIELDS[(type_name, number)]
            elif (type_name, number) in PLACEHOLDER_FIELDS:
                d[key] = PLACEHOLDER_FIELDS[(type_name, number)]
            elif (type_name, number) in CODEC_FIELDS:
                d[key] = f"codec:{type_name}.{name}"
            elif type_name in SITE_NODES and kind in ("string", "bytes"):
                _kind, names, fundef = SITE_NODES[type_name]
                if number in names:
                    d[key] = "udaf" if (type_name, number) in UDAF_AS_WINDOW else "name"
                elif number == fundef:
                    d[key] = "fundef"
                else:
                    d[key] = _STRING if kind == "string" else _SKIP_LEN
            elif kind == "string":
                d[key] = _STRING
            elif kind == "bytes":
                d[key] = _SKIP_LEN
            else:
                d[key] = _SCALAR_CODE[wire]
                if repeated:  # prost accepts packed and unpacked encodings of repeated scalars
                    d[number << 3 | LEN] = _PACKED_CODE[wire]
    for t, d in dicts.items():
        for key, act in d.items():
            if key < 128:
                tags[t][key] = act
    # second pass, now that every table exists: leaf-run shapes of one-byte-tagged message fields
    arms = tuple(bytes(k for k, a in dicts[LEAF].items() if k < 128 and a == c) for c in _ARM_CODES)
    leaves = {ref: leaf_keys(d) for ref, d in dicts.items()}
    for t, d in dicts.items():
        for key, act in d.items():
            if key < 128 and act.__class__ is tuple and act[2] is None and leaves[act[3]]:
                lits = leaves[act[3]]
                d[key] = tags[t][key] = (*act[:4], (lits, b"".join(arms), (key, lits, *arms)))
    return tags


_TAGS = _build_tables()


class LeafRun(NamedTuple):
    """A one-byte-tagged message field whose entries may be a run of literal leaves (runs.leaf_run)."""

    field: str  # the field's name
    spec: tuple  # what ``runs.leaf_run`` reads the run with


@functools.cache
def leaf_runs(type_name: str) -> tuple[LeafRun | None, ...] | None:
    """Per one-byte tag of ``type_name``: the LeafRun of that field, or None; None for a type without any.

    Built on first use: only blobs with literal runs that semantics re-reads pay for it.
    """
    tags = _TAGS.get(type_name)
    if tags is None:
        return None
    row: list[LeafRun | None] = [None] * 128
    for key in range(128):
        act = tags[key]
        if act.__class__ is tuple and act[4] is not None:  # (tags, name, flag, type, run)
            row[key] = LeafRun(act[1], act[4][2])
    return tuple(row) if any(row) else None


class _TooManyUnknown(Exception):
    pass


def _stopped(err: Broken | DecodeError) -> tuple[int, str, str]:
    """Where, why and what (an errors kind) stopped the walk. Varints are read by ``read_varint`` (the walk
    inlines only the one-byte case); its DecodeError is worded as the scan words it: a truncated or an
    invalid varint."""
    if isinstance(err, Broken):
        return err.pos, err.text, err.kind
    if err.kind == TRUNCATED:
        return err.offset or 0, TRUNCATED_VARINT, TRUNCATED
    return err.offset or 0, "invalid varint", CORRUPT


def _length(buf: bytes, pos: int, end: int, tag_pos: int, where: str) -> tuple[int, int]:
    """Read a length prefix at pos; return (payload start, payload end) or raise."""
    if pos >= end:
        raise Broken(pos, "truncated length (buffer underflow)", TRUNCATED)
    n = buf[pos]
    if n < 0x80:
        pos += 1
    else:
        n, pos = read_varint(buf, pos, end)
    if pos + n > end:
        raise Broken(tag_pos, f"length {n} runs past the end of {where} (buffer underflow)", UNDERFLOW)
    return pos, pos + n


def _skip_unknown(buf: bytes, pos: int, end: int, key: int, tag_pos: int) -> tuple[int, int]:
    """Skip one unknown field whose tag was read; return (next pos, levels prost's limit counts)."""
    wire = key & 7
    if wire == VARINT:
        return read_varint(buf, pos, end)[1], 1
    if wire == LEN:
        return _length(buf, pos, end, tag_pos, "its message")[1], 1
    if wire in (I64, I32):
        stop = pos + (8 if wire == I64 else 4)
        if stop > end:
            raise Broken(tag_pos, f"truncated {WIRE_NAMES[wire]} value (buffer underflow)", UNDERFLOW)
        return stop, 1
    if wire == EGROUP:
        raise Broken(tag_pos, "unexpected end group tag")
    if wire != SGROUP:
        raise Broken(tag_pos, f"invalid wire type value: {wire}")
    # a group: skip to its end tag; each field inside is one level deeper (prost's skip_field)
    open_groups = [key >> 3]
    levels = 1
    while open_groups:
        if pos >= end:
            raise Broken(tag_pos, "unterminated group (buffer underflow)", UNDERFLOW)
        inner_pos = pos
        k, pos = read_varint(buf, pos, end)
        if k > 0xFFFFFFFF:
            raise Broken(inner_pos, f"invalid key value: {k}")
        if k >> 3 == 0:
            raise Broken(inner_pos, "invalid tag value: 0")
        w = k & 7
        if w == EGROUP:
            if k >> 3 != open_groups.pop():
                raise Broken(inner_pos, "unexpected end group tag")
            continue
        levels = max(levels, len(open_groups) + 1)  # prost checks its limit once per field skipped
        if w == SGROUP:
            open_groups.append(k >> 3)
        else:
            pos, _ = _skip_unknown(buf, pos, end, k, inner_pos)
    return pos, levels


def _check_packed(buf: bytes, a: int, b: int, code: int) -> None:
    if code == _PACKED_VARINT:
        while a < b:
            a = a + 1 if buf[a] < 0x80 else read_varint(buf, a, b)[1]
    elif (b - a) % (4 if code == _PACKED_I32 else 8):
        raise Broken(a, "invalid packed length")


# --- the scan --------------------------------------------------------------------------------------
def scan(buf: bytes, message: str, origin: int = 0, *, max_unknown: int | None = None) -> ScanResult:
    """Validate ``buf`` as one ``message`` and collect depth, unknown fields, function sites, clear text.

    Raises DecodeError('protobuf', absolute offset, "<path>: <what broke>") where prost would refuse the
    bytes. ``max_unknown`` (for detection) gives up with DecodeError after that many unknown fields.
    """
    if not isinstance(buf, bytes):
        buf = bytes(buf)
    root_tags = _TAGS.get(message)
    if root_tags is None:
        raise ValueError(f"no field table for message type {message!r}")
    res = ScanResult(message, len(buf), 1, False, 1, Msg(message, buf, 0, len(buf), origin))
    unknown, opaque = res.unknown, res.opaque
    open_sites: list[list] = []  # [node, name, fundef start, fundef end, body start, body end, udaf]
    stats: list[tuple[str, int, int]] = []  # (label, body start, body end) of ColumnStats min/max
    stack: list[tuple] = []
    push, pop = stack.append, stack.pop
    cur_tags, cur_end, cur_via = root_tags, len(buf), ""
    depth = maxdepth = nodes = 1
    pos = tag_pos = 0
    fast, retry = FAST_RUNS, 0  # leaf runs on; no run is tried before position ``retry``
    try:
        while True:
            if pos >= cur_end:
                if depth == 1:
                    break
                cur_tags, cur_end, cur_via = pop()
                depth -= 1
                continue
            tag_pos = pos
            key = buf[pos]
            pos += 1
            if key < 0x80:
                act = cur_tags[key]
            else:
                key, pos = read_varint(buf, tag_pos, cur_end)
                if key > 0xFFFFFFFF:
                    raise Broken(tag_pos, f"invalid key value: {key}")
                act = cur_tags[_BIG].get(key)
            if act.__class__ is tuple:  # a message field: descend
                if pos >= cur_end:
                    raise Broken(pos, "truncated length (buffer underflow)", TRUNCATED)
                n = buf[pos]
                pos += 1
                if n >= 0x80:
                    n, pos = read_varint(buf, pos - 1, cur_end)
                stop = pos + n
                if stop > cur_end:
                    raise Broken(
                        tag_pos, f"length {n} runs past the end of {cur_tags[_NAME]} (buffer underflow)", UNDERFLOW
                    )
                ctags, via, flag, ctype, run = act
                if (  # a leaf (lit byte, inner length, arm byte) with a leaf twin behind it: try a run
                    run is not None
                    and 3 < n < 14
                    and buf[pos + 2] in run[1]
                    and buf[pos] in run[0]
                    and buf[pos + 1] == n - 2
                    and stop + 4 < cur_end
                    and buf[stop] == key
                    and buf[stop + 4] in run[1]
                    and tag_pos >= retry
                    and fast
                ):
                    pos, count = leaf_run(buf, tag_pos, cur_end, run[2])
                    if count:
                        nodes += 2 * count
                        if depth + 2 > maxdepth:
                            maxdepth = depth + 2
                        continue
                    pos = stop - n  # no leaf after all: the generic path reads it; retry later
                    retry = stop + RUN_RETRY
                nodes += 1
                if flag is None:
                    # optimistic: a body of varints and of varint-only messages (a literal, a column
                    # index…) is checked right here, without push/pop; anything else falls through
                    p, extra, leaves = pos, 1, 0
                    while p < stop:
                        k = buf[p]
                        if k >= 0x80:
                            break
                        a2 = ctags[k]
                        p += 1
                        if a2 == 0:
                            q = p
                            while p < stop and buf[p] >= 0x80:
                                p += 1
                            if p >= stop or p - q > 8:
                                break
                            p += 1
                            continue
                        if a2.__class__ is not tuple or a2[2] is not None or p >= stop or buf[p] >= 0x80:
                            break
                        e2 = p + 1 + buf[p]
                        if e2 > stop:
                            break
                        gtags = a2[0]
                        p += 1
                        while p < e2:
                            k = buf[p]
                            if k >= 0x80 or gtags[k] != 0:
                                break
                            p += 1
                            q = p
                            while p < e2 and buf[p] >= 0x80:
                                p += 1
                            if p >= e2 or p - q > 8:
                                break
                            p += 1
                        else:
                            extra = 2
                            leaves += 1
                            continue
                        break
                    else:
                        if depth + extra > maxdepth:
                            maxdepth = depth + extra
                        nodes += leaves
                        pos = stop
                        continue
                elif flag == "opaque":  # kept, not read
                    res.opaque_count += 1
                    if len(opaque) < MAX_OPAQUE:
                        opaque.append((ctype, origin + pos, n))
                    if depth >= maxdepth:
                        maxdepth = depth + 1
                    pos = stop
                    continue
                elif flag == "site":
                    open_sites.append([ctype, "", None, None, pos, stop, False])
                else:
                    stats.append((flag, pos, stop))
                push((cur_tags, cur_end, cur_via))
                cur_tags, cur_end, cur_via = ctags, stop, via
                depth += 1
                if depth > maxdepth:
                    maxdepth = depth
                continue
            if act == _SKIP_VARINT:
                p = pos
                while p < cur_end and buf[p] >= 0x80:
                    p += 1
                if p >= cur_end or p - pos > 8:  # truncated, or long: let the careful reader judge
                    p = read_varint(buf, pos, cur_end)[1] - 1
                pos = p + 1
            elif act is None:  # unknown number, or a known number with the wrong wire type
                cur_type = cur_tags[_NAME]
                if key & 7 > 5:
                    raise Broken(tag_pos, f"invalid wire type value: {key & 7}")
                if key >> 3 == 0:
                    raise Broken(tag_pos, "invalid tag value: 0")
                spec = MESSAGES.get(cur_type, {}).get(key >> 3)
                if spec is not None or (cur_type == _MAP_TYPE and key >> 3 in (1, 2)):
                    want = KIND_WIRE.get(spec.kind, VARINT) if spec else LEN
                    raise Broken(
                        tag_pos,
                        f"invalid wire type: {WIRE_NAMES.get(key & 7, key & 7)} (expected {WIRE_NAMES[want]})",
                    )
                pos, levels = _skip_unknown(buf, pos, cur_end, key, tag_pos)
                if depth + levels > maxdepth:
                    maxdepth = depth + levels
                res.unknown_count += 1
                if len(unknown) < MAX_UNKNOWN:
                    unknown.append(
                        UnknownField(
                            cur_type, key >> 3, key & 7, origin + tag_pos, _path(stack, cur_via, cur_type)
                        )
                    )
                if max_unknown is not None and res.unknown_count > max_unknown:
                    raise _TooManyUnknown()
            elif act == _SKIP_I32 or act == _SKIP_I64:
                pos += 4 if act == _SKIP_I32 else 8
                if pos > cur_end:
                    raise Broken(tag_pos, "truncated fixed-width value (buffer underflow)", UNDERFLOW)
            else:  # length-delimited scalars and special fields
                a, pos = _length(buf, pos, cur_end, tag_pos, cur_tags[_NAME])
                if act == _STRING:
                    if pos > a:
                        utf8_text(buf, a, pos)
                elif act.__class__ is str:
                    special_field(act, buf, a, pos, origin, open_sites, res)
                elif act != _SKIP_LEN:
                    _check_packed(buf, a, pos, act)
    except (Broken, DecodeError) as err:
        at, text, kind = _stopped(err)
        cur_type = cur_tags[_NAME]
        steps = _steps(stack, cur_via, cur_type, _field_label(buf, tag_pos, cur_end, cur_type))
        where = _path_text(steps)
        raise DecodeError("protobuf", origin + at, f"{where}: {text}", kind=kind, path=steps) from None
    except _TooManyUnknown:
        raise DecodeError(
            "protobuf", origin + tag_pos, f"more than {max_unknown} unknown fields: not a {message}", kind=CORRUPT
        ) from None
    res.depth = maxdepth
    res.exceeds_limit = maxdepth > DATAFUSION_DECODE_DEPTH_LIMIT
    res.node_count = nodes
    finish(res, buf, origin, open_sites, stats)
    return res


def _field_label(buf: bytes, tag_pos: int, end: int, type_name: str) -> str | None:
    try:
        key, _ = read_varint(buf, tag_pos, end)
    except DecodeError:
        return None
    spec = MESSAGES.get(type_name, {}).get(key >> 3)
    return spec.name if spec else f"#{key >> 3}"


def _steps(
    stack: list[tuple], cur_via: str, cur_type: str, last: str | None = None
) -> tuple[tuple[str, str | None], ...]:
    """(message type, field) from the root down to the message being read; ``last`` is its field (None:
    not known, such as a key that cannot be read)."""
    steps: list[tuple[str, str | None]] = [
        (stack[i][0][_NAME], stack[i + 1][2] if i + 1 < len(stack) else cur_via) for i in range(len(stack))
    ]
    steps.append((cur_type, last))
    return tuple(steps)


def _path_text(steps: tuple[tuple[str, str | None], ...]) -> str:
    """'LogicalExprNode.binary_expr → BinaryExprNode.operands' for ``_steps``.

    The chain repeats for deep blobs; it is abbreviated in the middle to stay short.
    """
    texts = [f"{t}.{f}" if f else t for t, f in steps]
    if len(texts) > 8:
        texts = texts[:3] + [f"… {len(texts) - 6} levels …"] + texts[-3:]
    return " → ".join(texts)


def _path(stack: list[tuple], cur_via: str, cur_type: str) -> str:
    """The path text of the message being read (where an unknown field sits)."""
    return _path_text(_steps(stack, cur_via, cur_type))


# --- detection -------------------------------------------------------------------------------------
def detect_message(buf: bytes, origin: int = 0) -> tuple[str, ScanResult]:
    """Which of LogicalExprNode / LogicalPlanNode / PhysicalPlanNode the blob is (no header says so).

    Ranking: decodes at all; then a sensible root (exactly one arm of its main oneof); then fewer unknown
    fields; then fewer nodes of a type the tables do not expand (a reading through an arm whose message
    is opaque, such as a logical DmlNode read from a physical plan, proves nothing); then no empty root arm,
    nor a root arm with an empty field, datafusion never writes (EMPTY_ARMS_NEVER_WRITTEN,
    EMPTY_FIELDS_NEVER_WRITTEN); ties go to the order of ROOT_MESSAGES (an Expr
    first: the only one that can be pickled). The first candidate with none of these flaws is taken.
    If none decodes, the error of the candidate that read furthest is raised (earliest in order on ties).
    """
    best: tuple[tuple[int, ...], str, ScanResult] | None = None
    errors: list[DecodeError] = []
    refused: list[tuple[str, DecodeError]] = []
    for rank, name in enumerate(ROOT_MESSAGES):
        limit = best[2].unknown_count if best is not None and best[2].sensible else None
        try:
            res = scan(buf, name, origin, max_unknown=limit)
        except DecodeError as err:
            errors.append(err)
            refused.append((name, err))
            continue
        arm = res.root.which(ROOT_ONEOF[name][0]) if res.sensible else None
        unwritten = arm is not None and unwritten_arm(name, *arm)
        score = (0 if res.sensible else 1, res.unknown_count, res.opaque_count, int(unwritten), rank)
        if best is None or score < best[0]:
            best = (score, name, res)
        if score[:4] == (0, 0, 0, 0):
            break
    if best is None or best[0][:4] != (0, 0, 0, 0):
        damaged = text_damage(buf, origin, refused, scan, best[2] if best else None)
        if damaged is not None:  # that type reads cleanly but for its text: what it is, damaged
            raise damaged
    if best is None:
        raise max(errors, key=lambda e: e.offset or 0)  # max() keeps the first of equal offsets
    return best[1], best[2]

