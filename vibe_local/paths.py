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
