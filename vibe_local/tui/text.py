"""Text helpers for the chat: code blocks in an answer, export paths, short figures."""

from __future__ import annotations

from pathlib import Path


def code_blocks(markdown: str) -> list[str]:
    """The code of each block of `markdown`, in order, as the renderer sees them (so /copy code
    N and /run N count the same blocks the user sees on screen)."""
    from ..coderun import code_blocks as blocks

    return [block.code for block in blocks(markdown)]


def export_path(raw: str | None, default_name: str, cwd: Path) -> Path:
    """Where /export writes: the given path (a directory gets the default name inside it),
    or the default name (history's `export_filename`) in the current directory."""
    if raw is None:
        return cwd / default_name
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = cwd / path
    return path / default_name if path.is_dir() else path


def short_bytes(n: float) -> str:
    """1.2G / 830M: compact enough for a status bar."""
    for unit, size in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{int(n)}B"


def short_count(n: int) -> str:
    """12,288 -> 12.3k; small numbers as they are."""
    return f"{n / 1000:.1f}k" if n >= 10_000 else f"{n:,}"
