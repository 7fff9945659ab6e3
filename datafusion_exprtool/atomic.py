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


class AtomicFile:
    """A file written under a temporary name beside ``path`` and moved into place by ``commit`` only.

    For output written piece by piece (a result streamed batch by batch): write to ``handle``, then
    ``commit`` (flush, fsync, move into place; without ``force`` never over a file that appeared meanwhile)
    or ``abort`` (the temporary file is removed). ``temp`` names the temporary file when the caller must know
    it beforehand (to clean up after a process that died); it is created exclusively.
    """

    def __init__(self, path: str | os.PathLike[str], force: bool = False, temp: str | None = None):
        self.path = os.fspath(path)
        self.force = force
        if os.path.isdir(self.path):
            raise OutputIsDirectory(self.path)
        if temp is None:
            directory = os.path.dirname(os.path.abspath(self.path))
            fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.", suffix=".tmp", dir=directory)
        else:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.temp = temp
        self.handle = os.fdopen(fd, "wb")
        self.done = False

    def commit(self) -> None:
        """Flush and fsync the data, then move it into place; on any failure nothing is left behind."""
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            publish(self.temp, self.path, self.force)
            self.done = True
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop what was written (a no-op after a commit)."""
        if self.done:
            return
        self.done = True
        try:
            self.handle.close()
        finally:
            try:
                os.unlink(self.temp)
            except FileNotFoundError:
                pass


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
    out = AtomicFile(target, force)
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            out.handle.write(data)
        else:
            for chunk in data:
                out.handle.write(chunk)
    except BaseException:
        out.abort()
        raise
    out.commit()


def publish(tmp: str, target: str, force: bool) -> None:
    """Move the complete file ``tmp`` to ``target`` (same directory): over it with ``force``, else only
    where no file is. Its mode becomes what a new file gets (``tmp`` may have been created private)."""
    os.chmod(tmp, _default_mode())
    if force:
        os.replace(tmp, target)
    else:
        _link_no_clobber(tmp, target)


def publish_written(tmp: str, target: str, force: bool) -> None:
    """``publish`` a file another writer produced (datafusion's own Parquet writer): fsync it first."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    publish(tmp, target, force)


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


class AtomicDirectory:
    """A directory of files (``eval --workers N -o DIR/``: one Parquet part per worker task) written under a
    temporary name beside ``path`` and renamed into place whole at the end, or removed on failure.

    The same contract as ``AtomicFile``: a reader sees the old directory or the whole new one, never an
    existing one replaced without ``force``, nothing left behind by a failure.
    """

    def __init__(self, path: str | os.PathLike[str], force: bool = False, temp: str | None = None):
        self.path = os.path.abspath(os.fspath(path))
        self.force = force
        parent = os.path.dirname(self.path)
        if not os.path.isdir(parent):
            raise OutputDirectoryMissing(self.path, parent)
        if not force and os.path.lexists(self.path):
            raise OutputExists(self.path)
        if os.path.lexists(self.path) and not os.path.isdir(self.path):
            raise FileExistsError(errno.EEXIST, f"{self.path} exists and is not a directory", self.path)
        name = os.path.basename(self.path)
        self.temp = temp or tempfile.mkdtemp(prefix=f".{name}.", suffix=".parts", dir=parent)
        os.makedirs(self.temp, exist_ok=True)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.temp, 0o777 & ~umask)  # mkdtemp's 0700 is for the temporary name only

    def commit(self) -> None:
        """Move the directory into place (replacing an existing one only with ``force``)."""
        for name in os.listdir(self.temp):
            fd = os.open(os.path.join(self.temp, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        old = None
        if os.path.lexists(self.path):
            if not self.force:
                self.abort()
                raise OutputExists(self.path)
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(self.path)}.", suffix=".old",
                                   dir=os.path.dirname(self.path))  # fmt: skip
            os.rename(self.path, os.path.join(old, "previous"))
        os.rename(self.temp, self.path)
        if old is not None:
            import shutil

            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        import shutil

        shutil.rmtree(self.temp, ignore_errors=True)


def append_whole(path: str | os.PathLike[str], data: bytes) -> None:
    """Append ``data`` to ``path`` (created if missing) in one ``O_APPEND`` write, then fsync.

    For a file other writers append to as well, which a rename would replace: GitHub's job summary
    (``$GITHUB_STEP_SUMMARY``), where every step of a job adds its own section. One write of the whole
    section keeps it in one piece beside theirs; nothing already in the file is touched.
    """
    target = os.fspath(path)
    if os.path.isdir(target):
        raise OutputIsDirectory(target)
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
