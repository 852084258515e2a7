"""Atomic file output: write to a temporary name beside the target, rename when complete.

A crash, Ctrl+C or full disk therefore never leaves a file under the final name that looks
complete; the temporary file is removed on any error we live through.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import DiskFullError

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def partial_name(target: Path) -> Path:
    """The temporary name used while `target` is being written (hidden, same directory)."""
    return target.with_name(f".{target.name}.partial-{os.getpid()}")


@contextmanager
def atomic_output(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it atomically replaces `target`.

    Raises:
        DiskFullError: the disk (or quota) filled up while writing; nothing is left behind.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = partial_name(target)
    try:
        yield temp
        _fsync(temp)
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        if exc.errno in _DISK_FULL:
            raise DiskFullError(
                f"not enough disk space to write {target} ({exc.strerror}); "
                "free some space or choose another output directory"
            ) from None
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    """Flush file contents to disk before the rename makes them visible."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
