"""Where vibe-local keeps its files. Read at call time, never at import.

`VIBE_LOCAL_HOME` overrides everything (tests use it); otherwise the platform's user data
directory (platformdirs), e.g. ~/.local/share/vibe-local on Linux.
"""

from __future__ import annotations

import os
from pathlib import Path


def home_dir() -> Path:
    """The user data directory (not created here)."""
    override = os.environ.get("VIBE_LOCAL_HOME")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("vibe-local", appauthor=False))


def cache_dir() -> Path:
    """Derived files we can always rebuild (self-test model, ...)."""
    return home_dir() / "cache"


def ensure_home() -> Path:
    """Create the user data directory if missing and check that files can be written there.

    A probe file is written and removed: permission bits alone do not tell (root ignores them;
    a read-only mount or a path through a regular file does not).

    Raises:
        HomeDirError: it cannot be created or written; the message names it and the fix.
    """
    from .errors import HomeDirError

    home = home_dir()
    probe = home / f".write-test-{os.getpid()}"
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        where = "VIBE_LOCAL_HOME" if os.environ.get("VIBE_LOCAL_HOME") else "the user data folder"
        raise HomeDirError(f"cannot write to {where} {home} ({exc.strerror or exc}); make it "
                           "writable, or set VIBE_LOCAL_HOME to a folder you can write") from None
    return home
