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


class InputUnreadable(DecodeError):
    """A path that cannot be read at all (missing, a directory, no permission): the caller's mistake, so the
    command line reports it as a usage error (exit status 2), not as undecodable bytes."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__("container", None, message, hint)

    def __str__(self) -> str:
        return self.message + (f" ({self.hint})" if self.hint else "")
