"""A stored chat as Markdown, written atomically; and the automatic title for a new chat.

Kept apart from the database code: export reads only the dataclasses history.py returns, so it
works the same on a chat loaded from disk or one still being built in memory.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import HistoryError

if TYPE_CHECKING:
    from .history import ChatSummary, StoredMessage

TITLE_CHARS = 50
_SPEAKERS = {"user": "You", "assistant": "Assistant"}


def default_title(first_user_message: str) -> str:
    """A chat title from its first message: the first non-blank line, cut near 50 characters
    at a word boundary (with an ellipsis), or "New chat" when there is no text."""
    line = next((ln.strip() for ln in first_user_message.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    if not line:
        return "New chat"
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[:TITLE_CHARS]
    if " " in cut[TITLE_CHARS // 2 :]:  # prefer a word boundary when it is not too early
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"


def export_filename(chat: ChatSummary) -> str:
    """A safe file name for a chat's export, e.g. "17-what-is-17-23.md"."""
    slug = re.sub(r"[^a-z0-9]+", "-", chat.title.lower()).strip("-")[:40].strip("-")
    return f"{chat.id}-{slug or 'chat'}.md"


def export_markdown(
    chat: ChatSummary, messages: list[StoredMessage], *, include_thinking: bool = True
) -> str:
    """The chat as a Markdown document: a header (title, model, date, system prompt), then
    each turn. Thinking goes in a collapsed <details> block; a stopped reply says "(stopped)";
    an assistant reply with stats ends with a line of tokens and tokens per second."""
    parts = [_header(chat)]
    for message in messages:
        parts.append(_turn(message, include_thinking))
    return "\n\n".join(parts) + "\n"


def write_export(path: Path, text: str) -> Path:
    """Write `text` to `path` atomically (temporary name, then rename); returns the path.

    An existing file is replaced only once the new one is complete.

    Raises:
        HistoryError: the file cannot be written (no permission, not a folder, ...).
        DiskFullError: the disk filled up; nothing was left behind.
    """
    from quantize.atomic import atomic_output
    from quantize.errors import DiskFullError

    path = Path(path).expanduser()
    try:
        with atomic_output(path) as temp:
            temp.write_text(text, encoding="utf-8")
    except DiskFullError:
        raise
    except OSError as exc:
        raise HistoryError(
            f"cannot write the export to {path} ({exc.strerror or exc}); choose another path"
        ) from None
    return path


def _header(chat: ChatSummary) -> str:
    started = datetime.fromtimestamp(chat.created).strftime("%Y-%m-%d %H:%M")
    lines = [f"# {chat.title}", "", f"- Model: `{chat.model}`", f"- Started: {started}"]
    if chat.system:
        lines += ["", "## System prompt", "", _quote(chat.system)]
    return "\n".join(lines)


def _turn(message: StoredMessage, include_thinking: bool) -> str:
    speaker = _SPEAKERS.get(message.role, message.role.title())
    heading = f"## {speaker}" + (" (stopped)" if message.partial else "")
    blocks = [heading]
    if include_thinking and message.thinking.strip():
        blocks.append(
            "<details>\n<summary>Thinking</summary>\n\n"
            f"{message.thinking.strip()}\n\n</details>"
        )
    blocks.append(message.content.strip() or "*(no answer)*")
    if message.role == "assistant" and message.stats:
        blocks.append(_stats_line(message.stats))
    return "\n\n".join(blocks)


def _stats_line(stats: dict) -> str:
    """Stats are read with defaults: a row written by an older version may lack newer keys."""
    tokens = int(stats.get("completion_tokens", 0))
    thinking = int(stats.get("thinking_tokens", 0))
    rate = float(stats.get("generation_tokens_per_s", 0.0))
    bits = [f"{tokens} tokens" + (f" ({thinking} thinking)" if thinking else ""),
            f"{rate:.1f} tok/s"]
    finish = stats.get("finish_reason")
    if finish and finish != "stop":
        bits.append(f"finish: {finish}")
    return "*" + " · ".join(bits) + "*"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.strip().splitlines())
