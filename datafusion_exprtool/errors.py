"""The library's exit codes and errors: input that cannot be decoded, and a failure of a stage of a run.

``ExitCode`` is the one table of exit statuses every command returns. ``DecodeError`` is a layer that cannot
be decoded, and where. A failed stage of a run is ``sandbox.failure.EvalFailure`` (kept out of this module:
every start-up imports it, and the inspection path never needs a run's failure).
"""

from __future__ import annotations


class ExitCode:
    """The exit statuses every command uses (plain ints: read on every start-up, an Enum costs its import)."""

    OK = 0
    FINDINGS = 1  # findings (check, inspect --fail-on, diff, eval --expect), or a suspicious blob refused
    USAGE = 2  # the caller's mistake: an option, a path, a --worker-ctx that cannot be loaded
    UNDECODABLE = 3  # input that cannot be decoded (also an internal error: the input could not be processed)
    EVAL_FAILED = 4  # datafusion failed to decode, plan, execute or encode
    INTERRUPTED = 130  # 128 + SIGINT
    #: the reader closed stdout early (`| head`): 128 + SIGPIPE, as for tools SIGPIPE kills. Never 0: the run
    #: did not finish, and `check BLOB | head` under `set -o pipefail` must not read as a pass
    CLOSED_PIPE = 141


#: DecodeError kinds: what broke, for callers that tell failures apart (never the message's wording)
TRUNCATED = "truncated"  # the bytes end inside a value: a varint, a length prefix, a pickle opcode's argument
UNDERFLOW = "underflow"  # a declared length or fixed-width value runs past the end of what holds it
NO_STOP = "no-stop"  # a pickle stream ends without its STOP opcode
INVALID_LOAD_KEY = "invalid-load-key"  # a byte that is no pickle opcode
MISSING_FIELD = "missing-field"  # a required field is absent (an empty top-level expression)
EMPTY_PLAN = "empty-plan"  # a top-level plan node sets no plan type (datafusion: "Unsupported ... plan")
CORRUPT = "corrupt"  # bytes no encoder writes
INVALID_UTF8 = "invalid-utf8"  # a protobuf string field whose bytes are not UTF-8 (prost refuses it)
EMPTY_INPUT = "empty-input"  # a file (or stdin) with no bytes at all: nothing was written, or it was lost


class DecodeError(Exception):
    """Input that cannot be decoded (exit status 3).

    ``layer`` is one of: container, pickle, protobuf, dfpy, cloudpickle, arrow-ipc.
    ``offset`` is the absolute byte offset in the decoded input (after base64/hex), or None.
    ``kind`` says what broke (``TRUNCATED``, ``UNDERFLOW``, ``NO_STOP``, ``INVALID_LOAD_KEY``,
    ``MISSING_FIELD``, ``EMPTY_PLAN``, ``CORRUPT``, ``INVALID_UTF8``, ``EMPTY_INPUT``) where the raiser knows it, else None. ``path`` (protobuf): the messages
    read from the root down to the break, as (message type, field) pairs; the field of the last is None when
    its key itself could not be read. ``opcode`` (pickle): the opcode being read when it broke.
    """

    def __init__(
        self,
        layer: str,
        offset: int | None,
        message: str,
        hint: str | None = None,
        *,
        kind: str | None = None,
        path: tuple[tuple[str, str | None], ...] = (),
        opcode: str | None = None,
    ):
        super().__init__(message)
        self.layer = layer
        self.offset = offset
        self.message = message
        self.hint = hint
        self.kind = kind
        self.path = path
        self.opcode = opcode

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
