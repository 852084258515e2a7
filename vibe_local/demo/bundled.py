"""Catalogue models whose checkpoint ships inside the package (`source = "bundled:NAME"`).

The demo model needs no network: its Hugging Face checkpoint lies in `vibe_local/demo/NAME/`, and
"pulling" it means building its ladder into the store with the same quantizer `vibe-quantize`
uses. That takes seconds for a model this small, so the store builds it on first use without
asking, and later runs find it cached (the ladder skips files whose checksums already match).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..catalog import CatalogEntry
from ..errors import InvalidModelError

PREFIX = "bundled:"


def is_bundled(entry: CatalogEntry) -> bool:
    return entry.source.startswith(PREFIX)


def checkpoint_dir(entry: CatalogEntry) -> Path:
    """Where the entry's checkpoint lies inside the installed package.

    Raises:
        InvalidModelError: the package was installed without it (a broken install).
    """
    path = Path(__file__).resolve().parent / entry.source.removeprefix(PREFIX)
    if not (path / "config.json").is_file():
        raise InvalidModelError(f"the bundled checkpoint of {entry.id} is missing from {path}; "
                                "reinstall vibe-local")
    return path


def build_bundled(entry: CatalogEntry, target: Path,
                  report: Callable[[str], None] = lambda line: None) -> Path:
    """Build (or complete) the entry's whole ladder in `target`; return `target`."""
    from quantize.ladder import build_ladder

    build_ladder(checkpoint_dir(entry), target, list(entry.ladder), name=entry.name,
                 report=report)
    return target
