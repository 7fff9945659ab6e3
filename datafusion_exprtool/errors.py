"""The one exception type of the library: a layer that cannot be decoded, and where."""

from __future__ import annotations


class DecodeError(Exception):
    """Input that cannot be decoded (exit status 3).

    ``layer`` is one of: container, pickle, protobuf, dfpy, cloudpickle, arrow-ipc.
    ``offset`` is the absolute byte offset in the decoded input (after base64/hex), or None.
    """

    def __init__(self, layer: str, offset: int | None, message: str, hint: str | None = None):
        super().__init__(message)
        self.layer = layer
        self.offset = offset
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        where = f" at byte {self.offset}" if self.offset is not None else ""
        text = f"{self.layer} layer{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text
