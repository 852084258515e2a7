"""Hand-off of a reply from the generation thread to the UI, coalesced per frame.

The model produces tokens faster than a terminal can repaint. Posting one UI message per token
would queue work behind the screen and slow generation to the UI's pace; instead the thread
appends to this buffer and wakes the UI only when the buffer was empty. The UI drains whatever
piled up in one go, so it does one Markdown append per kind per frame however fast tokens come.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

THINKING, ANSWER = "thinking", "answer"


@dataclass
class Batch:
    """What arrived since the last drain: text runs in order, and the end if it came."""

    chunks: list[tuple[str, str]] = field(default_factory=list)  # (THINKING|ANSWER, text)
    thinking_events: int = 0
    done: bool = False
    stats: Any = None
    error: BaseException | None = None


class ReplyBuffer:
    """Thread-safe: `push`/`finish` from the generation thread, `drain` from the UI."""

    def __init__(self, wake: Callable[[], None]):
        self._wake = wake
        self._lock = threading.Lock()
        self._batch = Batch()
        self._woken = False

    def push(self, kind: str, text: str) -> None:
        """Add a piece of thinking or answer."""
        with self._lock:
            chunks = self._batch.chunks
            if chunks and chunks[-1][0] == kind:
                chunks[-1] = (kind, chunks[-1][1] + text)
            else:
                chunks.append((kind, text))
            if kind == THINKING:
                self._batch.thinking_events += 1
            self._wake_once()

    def finish(self, stats: Any = None, error: BaseException | None = None) -> None:
        """The stream ended, normally (stats) or with an error."""
        with self._lock:
            self._batch.done, self._batch.stats, self._batch.error = True, stats, error
            self._wake_once()

    @property
    def pending(self) -> bool:
        """Whether the UI has been woken and not yet taken what is waiting."""
        return self._woken

    def drain(self) -> Batch:
        """Everything since the last drain; the next push wakes the UI again."""
        with self._lock:
            batch, self._batch, self._woken = self._batch, Batch(), False
            return batch

    def _wake_once(self) -> None:
        if not self._woken:
            self._woken = True
            self._wake()


def pump(events: Any, buffer: ReplyBuffer) -> None:
    """Copy a Model.stream() iterator into `buffer`; errors end the reply instead of escaping.

    Runs in the generation thread. Unexpected exceptions are delivered too, so the UI can show
    them as an error message (and log the traceback) rather than crash.
    """
    from ..generation import Done
    from ..reasoning import ThinkingDelta

    try:
        for event in events:
            if isinstance(event, Done):
                buffer.finish(stats=event.stats)
                return
            buffer.push(THINKING if isinstance(event, ThinkingDelta) else ANSWER, event.text)
        buffer.finish()
    except Exception as exc:  # noqa: BLE001 - shown in the UI, never a traceback on screen
        buffer.finish(error=exc)
