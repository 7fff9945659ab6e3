"""What arrow-rs does with the Arrow IPC record batches a blob carries (a nested literal's value, a memory
table's rows), predicted from their bytes alone: no pyarrow, nothing decoded.

arrow-rs slices every buffer a record batch declares, even one pyarrow never reads (a validity buffer when
the null count is 0): a buffer past the body panics there, with the text ``slice_panic`` predicts. Its
flatbuffers verifier checks bounds and alignment (``message_reads``), more leniently than pyarrow's: where
pyarrow calls a message an invalid flatbuffer, that is a verdict only when this reading fails too. The
pyarrow side (reading and validating the batches) is ``inspection/arrow_damage.py``.
"""

from __future__ import annotations

import struct

from datafusion_exprtool.errors import DecodeError
from datafusion_exprtool.layers.arrow_ipc import (
    HEADER_RECORD_BATCH,
    MESSAGE_BODY_LENGTH,
    MESSAGE_HEADER,
    MESSAGE_HEADER_TYPE,
    AlignedFlatBuffer,
    FlatBuffer,
    read_schema_message,
)

#: arrow-rs ``Buffer::slice_with_length``'s assertion: a panic that aborts the decode (PanicException)
SLICE_PANIC = "the offset of the new Buffer cannot exceed the existing length"
#: RecordBatch table fields (Message.fbs)
_RB_NODES, _RB_BUFFERS, _RB_COMPRESSION = 1, 2, 3


def _record_batch(message: bytes) -> tuple[FlatBuffer, tuple[int, int, int]] | None:
    """The reader and the RecordBatch table of ``message`` (flatbuffer, unframed); None when it holds no
    record batch. A read out of bounds raises DecodeError."""
    fb = FlatBuffer(message, 0, len(message), 0)
    msg = fb.table(fb.follow(0))
    if fb.scalar(msg, MESSAGE_HEADER_TYPE, "<B", 0) != HEADER_RECORD_BATCH:
        return None
    batch = fb.sub_table(msg, MESSAGE_HEADER)
    return None if batch is None else (fb, batch)


def slice_panic(message: bytes, body_size: int) -> str | None:
    """arrow-rs's panic text for the first buffer of a RecordBatch ``message`` (flatbuffer, unframed) that
    runs past a body of ``body_size`` bytes; None when every buffer fits (or it is no plain record batch)."""
    try:
        found = _record_batch(message)
        if found is None:
            return None
        fb, batch = found
        if fb.slot(batch, _RB_COMPRESSION) is not None:  # compressed: sliced after decoding
            return None
        for pos in fb.vector(fb.ref(batch, _RB_BUFFERS), 16):
            offset, length = (v & 0xFFFF_FFFF_FFFF_FFFF for v in struct.unpack_from("<qq", message, pos))
            if min(offset + length, 0xFFFF_FFFF_FFFF_FFFF) > body_size:  # usize, saturating_add
                return f"{SLICE_PANIC}: slice offset={offset} length={length} selflen={body_size}"
    except DecodeError:
        return None
    return None


def field_nodes(message: bytes) -> list[tuple[int, int]] | None:
    """(length, null_count) of each FieldNode of a RecordBatch ``message`` (flatbuffer, unframed), in the
    order of the schema's fields read depth first; None when it is no record batch or does not read."""
    try:
        found = _record_batch(message)
        if found is None:
            return None
        fb, batch = found
        return [struct.unpack_from("<qq", message, pos) for pos in fb.vector(fb.ref(batch, _RB_NODES), 16)]
    except DecodeError:
        return None


def message_reads(message: bytes) -> bool:
    """Does every field arrow-rs verifies of a RecordBatch ``message`` (flatbuffer, unframed) lie in bounds,
    aligned?

    pyarrow's flatbuffer verifier refuses messages arrow-rs reads (an oversized vtable that still fits):
    its "invalid flatbuffer" is a verdict only when this bounds-checked read fails too.
    """
    try:
        fb = AlignedFlatBuffer(message, 0, len(message), 0)
        msg = fb.table(fb.follow(0))
        fb.scalar(msg, 0, "<h", 0)
        fb.scalar(msg, MESSAGE_BODY_LENGTH, "<q", 0)
        fb.key_values(msg, 4)
        if fb.scalar(msg, MESSAGE_HEADER_TYPE, "<B", 0) != HEADER_RECORD_BATCH:
            return True
        batch = fb.sub_table(msg, MESSAGE_HEADER)
        if batch is None:
            return False
        fb.scalar(batch, 0, "<q", 0)
        fb.struct_vector(batch, 1, 16)
        fb.struct_vector(batch, _RB_BUFFERS, 16)
        compression = fb.sub_table(batch, _RB_COMPRESSION)
        if compression is not None:
            fb.scalar(compression, 0, "<b", 0)
            fb.scalar(compression, 1, "<b", 0)
        fb.struct_vector(batch, 4, 8)
    except DecodeError:
        return False
    return True


def stream_reads(stream: bytes) -> bool:
    """``message_reads`` for every message of an Arrow IPC stream (the schema read by arrow_ipc)."""
    try:
        read_schema_message(stream)
    except DecodeError:
        return False
    pos = 0
    while pos + 8 <= len(stream) and stream[pos : pos + 4] == b"\xff\xff\xff\xff":
        (size,) = struct.unpack_from("<i", stream, pos + 4)
        if size == 0:
            return True
        if size < 0 or pos + 8 + size > len(stream):
            return False
        meta = stream[pos + 8 : pos + 8 + size]
        if not message_reads(meta):
            return False
        try:
            body = FlatBuffer(meta, 0, size, 0)
            length = body.scalar(body.table(body.follow(0)), MESSAGE_BODY_LENGTH, "<q", 0)
        except DecodeError:
            return False
        pos += 8 + size + max(length, 0)
    return True


def stream_slice_panic(stream: bytes) -> str | None:
    """``slice_panic`` for the first record batch of an Arrow IPC stream (continuation-framed messages)."""
    pos = 0
    while pos + 8 <= len(stream) and stream[pos : pos + 4] == b"\xff\xff\xff\xff":
        (size,) = struct.unpack_from("<i", stream, pos + 4)
        if size <= 0 or pos + 8 + size > len(stream):
            return None
        meta = stream[pos + 8 : pos + 8 + size]
        try:
            fb = FlatBuffer(meta, 0, len(meta), 0)
            body = fb.scalar(fb.table(fb.follow(0)), MESSAGE_BODY_LENGTH, "<q", 0)
        except DecodeError:
            return None
        if body < 0 or pos + 8 + size + body > len(stream):
            return None
        text = slice_panic(meta, body)
        if text is not None:
            return text
        pos += 8 + size + body
    return None


def with_body_length(message: bytes, size: int) -> bytes | None:
    """``message`` with its bodyLength set to ``size``: arrow-rs reads the literal's ``arrow_data`` whatever
    the message declares, pyarrow reads bodyLength bytes. None when there is no field to set (not judged)."""
    try:
        fb = FlatBuffer(message, 0, len(message), 0)
        at = fb.slot(fb.table(fb.follow(0)), MESSAGE_BODY_LENGTH)
    except DecodeError:
        return message  # an unreadable flatbuffer: arrow-rs's verifier refuses it too
    if at is None:
        return message if size == 0 else None
    if at + 8 > len(message):
        return message
    return message[:at] + struct.pack("<q", size) + message[at + 8 :]
