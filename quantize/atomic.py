"""Atomic file output: write to a temporary name beside the target, rename when complete.

A crash, Ctrl+C or full disk therefore never leaves a file under the final name that looks
complete; on any error we live through, the temporary file is removed, and so are the
directories `atomic_output` created for it. `check_output_file` / `check_output_dir` let a
command refuse an unusable output location before its long work starts, not after.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import DiskFullError, OutputPathError

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR,
                 errno.EEXIST}
_ADVICE = "choose another output location"


def partial_name(target: Path) -> Path:
    """The temporary name used while `target` is being written (hidden, same directory)."""
    return target.with_name(f".{target.name}.partial-{os.getpid()}")


def check_output_file(target: str | Path, *, example: str = "output.file") -> Path:
    """`target` can be written as a file: not a directory, its directory writable (or creatable).

    Nothing is created: writability is tried with a temporary file that is removed at once.

    Args:
        example: a file name to suggest when `target` is an existing directory.

    Raises:
        OutputPathError: what is in the way, and what to do.
    """
    target = Path(target).expanduser()
    if target.is_dir():
        raise OutputPathError(f"{target} is a directory; give a file path, e.g. "
                              f"{target / example}")
    _check_writable_dir(target.parent, target)
    return target


def check_output_dir(directory: str | Path) -> Path:
    """`directory` exists as a writable directory, or can be created as one.

    Raises:
        OutputPathError: it is a file, or neither it nor the directory it would go in is writable.
    """
    directory = Path(directory).expanduser()
    if directory.exists() and not directory.is_dir():
        raise OutputPathError(f"{directory} is a file, not a directory; give a directory for "
                              "the output (it is created if missing)")
    _check_writable_dir(directory, directory)
    return directory


def _check_writable_dir(directory: Path, target: Path) -> None:
    """Try a temporary file in `directory`, or in its nearest existing ancestor if missing."""
    existing = _nearest_existing(directory)
    if not existing.is_dir():
        raise OutputPathError(f"cannot create {target}: {existing} is a file, not a directory; "
                              f"{_ADVICE}")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".vibe-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(f"cannot write to {existing} ({exc.strerror or exc}); "
                              f"{_ADVICE}") from None


def _nearest_existing(path: Path) -> Path:
    """`path` or the closest ancestor that exists (a file counts: the caller reports it)."""
    path = path.absolute()
    while not _exists(path) and path != path.parent:
        path = path.parent
    return path


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return False
        raise OutputPathError(f"cannot use {path} ({exc.strerror}); {_ADVICE}") from None
    return True


@contextmanager
def atomic_output(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it atomically replaces `target`.

    Missing directories above `target` are created, and removed again if the write fails.

    Raises:
        DiskFullError: the disk (or quota) filled up while writing; nothing is left behind.
        OutputPathError: `target` is a directory, or its location cannot be written.
    """
    target = Path(target)
    if target.is_dir():
        raise OutputPathError(f"{target} is a directory, not a file; {_ADVICE}")
    created = _make_parents(target.parent, target)
    temp = partial_name(target)
    try:
        yield temp
        _fsync(temp)
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        _remove_dirs(created)
        mapped = _output_error(exc, target, temp) if isinstance(exc, OSError) else None
        if mapped is not None:
            raise mapped from None
        raise


def _make_parents(directory: Path, target: Path) -> list[Path]:
    """Create the missing directories above `target`; returns them, deepest first."""
    missing = []
    existing = directory
    while not _exists(existing) and existing != existing.parent:
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"cannot create {target}: {existing} is a file, not a directory; "
                              f"{_ADVICE}")
    made: list[Path] = []
    try:
        for path in reversed(missing):
            path.mkdir(exist_ok=True)
            made.insert(0, path)
    except OSError as exc:
        _remove_dirs(made)
        raise OutputPathError(f"cannot create {path} ({exc.strerror}); {_ADVICE}") from None
    return made


def _remove_dirs(created: list[Path]) -> None:
    """Remove directories we created (deepest first), as long as they are empty."""
    for path in created:
        try:
            path.rmdir()
        except OSError:
            return


def _output_error(exc: OSError, target: Path, temp: Path) -> OSError | None:
    """The one-line error for a failed write, or None when `exc` is not about the output."""
    if exc.errno in _DISK_FULL:
        return DiskFullError(f"not enough disk space to write {target} ({exc.strerror}); "
                             "free some space or choose another output directory")
    ours = {None, os.fspath(temp), os.fspath(target), os.fspath(target.parent)}
    filename = os.fspath(exc.filename) if exc.filename is not None else None
    if exc.errno in _NOT_WRITABLE and filename in ours:
        error = OutputPathError(f"cannot write {target} ({exc.strerror}); {_ADVICE}")
        error.strerror = exc.strerror  # callers that quote strerror still get the cause
        return error
    return None


def _fsync(path: Path) -> None:
    """Flush file contents to disk before the rename makes them visible."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
