"""Reading a TOML file on every supported Python: tomllib from 3.11, its backport tomli on 3.10."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def read_toml(path: Path) -> dict[str, Any]:
    """The file's tables as dicts.

    Raises:
        OSError: the file cannot be read. ValueError (TOMLDecodeError): it is not valid TOML.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    with open(path, "rb") as f:
        return tomllib.load(f)
