"""One assistant reply on screen: live thinking in a fold, the answer as streamed Markdown.

Streaming cost must not grow with the reply, so text goes into a StreamedMarkdown (Textual's
MarkdownStream over a chain of bounded segments); when the reply ends the answer gets a full
render, so a fenced code block that was still open while streaming is drawn properly.
Math is shown rendered (LaTeX as Unicode, see vibe_local.render) unless `math` is off; the
reply keeps the raw text, which is what copy, export and history use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Collapsible, Static

from .pump import THINKING, Batch, ReplyBuffer
from .streamed_markdown import StreamedMarkdown

FINISH_NOTES = {"cancelled": "stopped", "length": "max_tokens reached",
                "context_full": "context full", "repetition": "stopped a repeating answer"}


@dataclass
class Outcome:
    """How a reply ended, for the app to save and report."""

    thinking: str
    answer: str
    stats: Any
    error: BaseException | None
    thinking_s: float

    @property
    def partial(self) -> bool:
        stopped = self.stats is not None and self.stats.finish_reason == "cancelled"
        return stopped or self.error is not None


def thinking_title(seconds: float | None, tokens: int, live: bool = False) -> str:
    """`Thinking … 120 tokens` while it runs, `Thought for 12.3 s · 812 tokens` after."""
    if live:
        return f"Thinking … {tokens:,} tokens"
    took = f"Thought for {seconds:.1f} s · " if seconds is not None else "Thought · "
    return f"{took}{tokens:,} tokens"


def footer_text(stats: dict, partial: bool) -> str:
    """`9 tokens · 41.2 tok/s`, plus why it ended when that was not the model's choice."""
    parts = [f"{stats.get('completion_tokens', 0):,} tokens"]
    if stats.get("generation_tokens_per_s"):
        parts.append(f"{stats['generation_tokens_per_s']:.1f} tok/s")
    note = FINISH_NOTES.get(stats.get("finish_reason", "stop"))
    if stats.get("thinking_closed_by") == "budget":
        parts.append("thinking budget reached")
    if note or partial:
        parts.append(note or "partial")
    return " · ".join(parts)


class AssistantMessage(Vertical):
    """A reply: streamed live (see `buffer`) or shown finished (from history)."""

    class Flush(Message):
        """The generation thread put something in the buffer."""

    class Finished(Message):
        """The reply ended; the app takes its outcome (once), saves it, updates the status."""

        def __init__(self, reply: AssistantMessage):
            super().__init__()
            self.reply = reply

    def __init__(self, *, clock: Callable[[], float], thinking: str = "", answer: str = "",
                 stats: dict | None = None, partial: bool = False, math: bool = True):
        super().__init__(classes="reply")
        self.math = math
        self._clock = clock
        self._thinking, self._answer = [thinking] if thinking else [], [answer] if answer else []
        self._stored = stats
        self._partial = partial
        self._streaming: set[str] = set()
        self._thinking_events = 0
        self._think_started: float | None = None
        self._thinking_s: float | None = None
        self.done = stats is not None or bool(answer)
        self._outcome_ready: Outcome | None = None

    def compose(self) -> ComposeResult:
        stats = self._stored or {}
        title = thinking_title(stats.get("thinking_s"), stats.get("thinking_tokens", 0))
        fold = Collapsible(StreamedMarkdown(self.thinking, classes="thinking-text",
                                            math=self.math),
                           title=title, collapsed=True, classes="thinking")
        fold.set_class(not self._thinking, "-empty")  # shown when thinking arrives
        yield fold
        yield StreamedMarkdown(self.answer, classes="answer", math=self.math)
        footer = footer_text(stats, self._partial) if self._stored is not None else ""
        yield Static(footer, classes="reply-footer", markup=False)

    @property
    def thinking(self) -> str:
        return "".join(self._thinking)

    @property
    def answer(self) -> str:
        return "".join(self._answer)

    @property
    def fold(self) -> Collapsible:
        return self.query_one(Collapsible)

    @property
    def pending(self) -> bool:
        """Whether streamed text is waiting for the screen to take it (backpressure probe)."""
        return self._buffer.pending

    def buffer(self) -> ReplyBuffer:
        """A buffer for the generation thread; it wakes this widget, which drains it."""
        self._buffer = ReplyBuffer(lambda: self.post_message(self.Flush()))
        return self._buffer

    async def on_assistant_message_flush(self, event: Flush) -> None:
        event.stop()
        if not self.done:
            await self.apply(self._buffer.drain())

    async def apply(self, batch: Batch) -> Outcome | None:
        """Take a drained batch, then show it; when it ends the reply, return the outcome.

        The text and the outcome are recorded before any await, so a quit that comes while
        this is redrawing still finds the whole reply (see `drain_now`).
        """
        self._record(batch)
        for kind, text in batch.chunks:
            if kind == THINKING:
                await self._show_thinking(text)
            else:
                await self._show_answer(text)
        if not batch.done:
            return None
        outcome = self._outcome_ready
        await self._show_end(outcome)
        self.post_message(self.Finished(self))
        return outcome

    async def unshelve(self) -> None:
        """Bring back text put away while streaming (the user scrolled up to read it)."""
        for text in self.query(StreamedMarkdown):
            await text.unshelve()

    async def show_math(self, rendered: bool) -> None:
        """Show this (finished) reply with its math rendered, or as the raw text."""
        if rendered == self.math or not self.done:
            return
        self.math = rendered
        for kind, text in ((THINKING, self.thinking), ("answer", self.answer)):
            old = self._text(kind)
            await old.parent.mount(StreamedMarkdown(text, classes=" ".join(old.classes),
                                                    math=rendered), before=old)
            await old.remove()

    def take_outcome(self) -> Outcome | None:
        """How the reply ended, handed out once (so it is saved once, whoever asks first)."""
        outcome, self._outcome_ready = self._outcome_ready, None
        return outcome

    def drain_now(self) -> None:
        """Record whatever the (ended) generation thread left, without redrawing; used when
        quitting, when the screen is about to go."""
        if not self.done:
            self._record(self._buffer.drain())

    def _record(self, batch: Batch) -> None:
        self._thinking_events += batch.thinking_events
        for kind, text in batch.chunks:
            if kind == THINKING:
                if self._think_started is None:
                    self._think_started = self._clock()
                self._thinking.append(text)
            else:
                self._stop_thinking_clock()
                self._answer.append(text)
        if batch.done:
            self.done = True
            self._stop_thinking_clock()
            self._outcome_ready = Outcome(self.thinking, self.answer, batch.stats, batch.error,
                                          self._thinking_s or 0.0)

    def _stop_thinking_clock(self) -> None:
        if self._think_started is not None and self._thinking_s is None:
            self._thinking_s = self._clock() - self._think_started

    async def _show_thinking(self, text: str) -> None:
        if THINKING not in self._streaming:
            self._streaming.add(THINKING)
            self.fold.remove_class("-empty")
            self.fold.collapsed = False
        self.fold.title = thinking_title(None, self._thinking_events, live=True)
        await self._text(THINKING).write(text)

    async def _show_answer(self, text: str) -> None:
        await self._fold_thinking()
        await self._text("answer").write(text)

    async def _fold_thinking(self) -> None:
        if THINKING in self._streaming:
            self.fold.collapsed = True
            self.fold.title = thinking_title(self._thinking_s, self._thinking_events)
            await self._end_stream(THINKING)

    async def _show_end(self, outcome: Outcome) -> None:
        await self._fold_thinking()
        await self._end_stream("answer")
        if outcome.stats is not None:
            self.fold.title = thinking_title(outcome.thinking_s, outcome.stats.thinking_tokens)
            stats = asdict(outcome.stats)
            self.query_one(".reply-footer", Static).update(footer_text(stats, outcome.partial))

    def _text(self, kind: str) -> StreamedMarkdown:
        return self.query_one(".thinking-text" if kind == THINKING else ".answer",
                              StreamedMarkdown)

    async def _end_stream(self, kind: str) -> None:
        """Render the whole (last segment of the) text once; closes open code fences."""
        self._streaming.discard(kind)
        await self._text(kind).finish()
