"""Atomic file writes: a reader sees the old file or the whole new one, never a half-written blob.

The data goes to a temporary file in the destination's directory (same filesystem, so the final
rename is atomic), is flushed to disk, then moved into place. Without ``force`` the move is a hard
link, which fails instead of replacing a file that appeared in the meantime. Any failure removes the
temporary file, so an interrupted write leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable

_NO_LINK = {errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


class OutputExists(FileExistsError):
    """The destination exists and ``force`` was not given."""

    def __init__(self, path: str):
        super().__init__(errno.EEXIST, f"{path} already exists (use --force to replace it)", path)
        self.path = path

    def __str__(self) -> str:
        return f"{self.path} already exists (use --force to replace it)"


class OutputIsDirectory(IsADirectoryError):
    def __init__(self, path: str):
        super().__init__(errno.EISDIR, f"{path} is a directory", path)

    def __str__(self) -> str:
        return f"{self.filename} is a directory, not an output file"


class OutputDirectoryMissing(FileNotFoundError):
    def __init__(self, path: str, directory: str):
        super().__init__(errno.ENOENT, f"directory {directory} does not exist", path)
        self.directory = directory

    def __str__(self) -> str:
        return f"cannot write {self.filename}: directory {self.directory} does not exist"


def preflight(path: str | os.PathLike[str], force: bool = False) -> None:
    """Refuse an output path before any work is done: a directory (even with ``force``: it is not replaced
    by a file), a missing parent directory, or an existing file without ``force``."""
    target = os.fspath(path)
    if os.path.isdir(target) or target.endswith(os.sep):
        raise OutputIsDirectory(target)
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise OutputDirectoryMissing(target, directory)
    if not force and os.path.lexists(target):
        raise OutputExists(target)


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike[str], data: bytes | Iterable[bytes], force: bool = False) -> None:
    """Write ``data`` (bytes or an iterable of chunks) to ``path`` atomically.

    Raises OutputExists (a FileExistsError) when ``path`` exists and ``force`` is false, and
    OutputIsDirectory when it names a directory. Other OSErrors propagate after cleanup, as does
    any exception raised by the ``data`` iterable midway.
    """
    target = os.fspath(path)
    if os.path.isdir(target):
        raise OutputIsDirectory(target)
    if not force and os.path.lexists(target):
        raise OutputExists(target)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(data, (bytes, bytearray, memoryview)):
                out.write(data)
            else:
                for chunk in data:
                    out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, _default_mode())
        if force:
            os.replace(tmp, target)
        else:
            _link_no_clobber(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _link_no_clobber(tmp: str, target: str) -> None:
    """Move ``tmp`` to ``target`` unless ``target`` exists (hard link where the filesystem allows)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputExists(target) from None
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        if os.path.lexists(target):
            raise OutputExists(target) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)
