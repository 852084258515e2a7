"""Reasoning output: keep `<think>` apart from the answer while streaming, and catch thinking loops.

VibeThinker writes `<think>…</think>` itself (its chat template does not open the tag), while
DeepSeek-R1 style templates end the prompt with `<think>\\n`, so generation starts inside the
thinking. One incremental splitter serves both. Small reasoning models also fall into verbatim
loops ("but but but …") that never reach an answer; `LoopGuard` spots them so the engine can close
the thinking with `THINKING_WRAP_UP` instead of spending the whole token budget.

Hand-written: llama-cpp-python has no streaming reasoning parser (llama.cpp's lives in its C++
server), and no library offers a cheap per-token repetition detector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["pending", "thinking", "answer"]

# What the engine appends when it closes the thinking itself (budget spent or loop detected).
# A template, so models with other tags can use it; the close tag makes the model answer next.
THINKING_WRAP_UP = "\n\nI have thought enough; time to give the final answer.\n{close_tag}\n\n"


def wrap_up_cue(close_tag: str = "</think>") -> str:
    """`THINKING_WRAP_UP` filled in; fed through the splitter, it closes the thinking there too."""
    return THINKING_WRAP_UP.format(close_tag=close_tag)


@dataclass(frozen=True)
class ThinkingDelta:
    """A new piece of the model's thinking."""

    text: str


@dataclass(frozen=True)
class AnswerDelta:
    """A new piece of the model's answer."""

    text: str


Event = ThinkingDelta | AnswerDelta


def partial_suffix(data: str, tag: str) -> int:
    """Length of the longest end of `data` that could still grow into `tag` (0 if none)."""
    for size in range(min(len(data), len(tag) - 1), 0, -1):
        if data.endswith(tag[:size]):
            return size
    return 0


class ReasoningSplitter:
    """Split streamed model text into thinking and answer, piece by piece.

    Rules:
    - `starts_in_thinking` (the prompt opened the tag): everything is thinking until `close_tag`.
    - Otherwise the state is "pending" until the first non-whitespace text. If it is `open_tag`,
      the thinking starts; anything else makes the whole reply an answer, and a later `open_tag`
      is answer text.
    - Leading whitespace of the answer (and before `open_tag`) is dropped.
    - Thinking never closed stays thinking: `thinking_closed` is False.

    Stray close tags: a `close_tag` as the very first text means the prompt opened the thinking
    and the model closed it at once, so the tag is dropped and an empty thinking counts as closed
    (runtimes that show raw tags are a reported annoyance). Anywhere else in the answer — after a
    real close, or after answer text was already streamed — it is kept as answer text: streamed
    text cannot be taken back. Engines should pass `starts_in_thinking` when the template opens
    the thinking, so this guess is rarely needed.

    Each `feed` costs O(len(text)): only a possible partial tag (under len(tag) characters) is
    held back between pieces, never the accumulated text.
    """

    def __init__(
        self,
        *,
        starts_in_thinking: bool = False,
        open_tag: str = "<think>",
        close_tag: str = "</think>",
    ) -> None:
        if not open_tag or not close_tag:
            raise ValueError("open_tag and close_tag must be non-empty strings")
        self._open, self._close = open_tag, close_tag
        self._state: State = "thinking" if starts_in_thinking else "pending"
        self._saw_thinking = starts_in_thinking
        self._closed = False
        self._held = ""
        self._strip_answer = True  # the answer's leading whitespace is still to be dropped
        self._thinking: list[str] = []
        self._answer: list[str] = []

    @property
    def state(self) -> State:
        """Where the stream is: "pending" (no non-whitespace text yet), "thinking" or "answer"."""
        return self._state

    @property
    def thinking_closed(self) -> bool:
        """True once the close tag was seen (so an answer may follow)."""
        return self._closed

    @property
    def saw_thinking(self) -> bool:
        """True if the reply has a thinking section (opened by the prompt or the model)."""
        return self._saw_thinking

    @property
    def thinking_text(self) -> str:
        """All thinking emitted so far (held-back partial tags excluded)."""
        return _joined(self._thinking)

    @property
    def answer_text(self) -> str:
        """All answer emitted so far."""
        return _joined(self._answer)

    def feed(self, text: str) -> list[Event]:
        """Take the next piece of generated text; return the deltas it completes, in order."""
        events: list[Event] = []
        if self._state == "pending":
            text = self._leave_pending(text)
        if self._state == "thinking":
            text = self._think(text, events)
        if self._state == "answer":
            self._emit_answer(text, events)
        return events

    def flush(self) -> list[Event]:
        """End of stream: release held-back text; an unfinished tag is ordinary text."""
        held, self._held = self._held, ""
        events: list[Event] = []
        if self._state == "thinking":
            self._emit_thinking(held, events)
        elif held:
            self._state = "answer"
            self._emit_answer(held, events)
        return events

    def _leave_pending(self, text: str) -> str:
        """Decide between thinking and answer once the first non-whitespace text is in."""
        data = self._held + text if self._held else text.lstrip()
        self._held = ""
        if data.startswith(self._open):
            self._state, self._saw_thinking = "thinking", True
            return data[len(self._open) :]
        if data.startswith(self._close):
            self._state, self._saw_thinking, self._closed = "answer", True, True
            return data[len(self._close) :]
        if self._open.startswith(data) or self._close.startswith(data):
            self._held = data  # still could be a tag (or is empty)
            return ""
        self._state = "answer"
        return data

    def _think(self, text: str, events: list[Event]) -> str:
        """Emit thinking up to the close tag; return what follows it (the answer's start)."""
        data = self._held + text
        cut = data.find(self._close)
        if cut >= 0:
            self._held = ""
            self._emit_thinking(data[:cut], events)
            self._state, self._closed = "answer", True
            return data[cut + len(self._close) :]
        keep = partial_suffix(data, self._close)
        self._held = data[len(data) - keep :]
        self._emit_thinking(data[: len(data) - keep], events)
        return ""

    def _emit_thinking(self, text: str, events: list[Event]) -> None:
        if text:
            self._thinking.append(text)
            events.append(ThinkingDelta(text))

    def _emit_answer(self, text: str, events: list[Event]) -> None:
        if self._strip_answer:
            text = text.lstrip()
            self._strip_answer = not text
        if text:
            self._answer.append(text)
            events.append(AnswerDelta(text))


def _joined(parts: list[str]) -> str:
    """Join and keep the result, so repeated reads stay cheap while the stream grows."""
    if len(parts) > 1:
        parts[:] = ["".join(parts)]
    return parts[0] if parts else ""


class LoopGuard:
    """Detect degenerate verbatim repetition in a stream of token ids.

    Fires when the latest tokens are one block of at most `max_period` tokens copied back to back
    at least `min_repeats` times, covering at least `min_span` tokens. For each period p it keeps
    the run length of positions where token[i] == token[i - p]; a run of r means the last r + p
    tokens have period p. O(max_period) per token, memory O(max_period).

    Defaults and why:
    - `max_period=128`: looping sentences are ~10-60 tokens; twice that leaves room for short
      paragraphs, and 128 comparisons are microseconds against milliseconds per generated token.
    - `min_span=200`: short periods need 200 tokens ("but" x200, a 6-token phrase x33). Legit
      runs of one token (digits of "1000000000", indentation, a table rule) are far shorter.
    - `min_repeats=4`: long blocks need 4 verbatim copies. Numbers, calculations, tables and code
      change at least one token per line, which resets the run; an identical 40-token sentence
      4 times in a row is not reasoning. Loops, once entered, go on for thousands of tokens, so
      waiting a few hundred costs little, while a false alarm cuts a good answer short.
    Loops with a period above `max_period`, or that vary slightly, are left to the thinking budget.
    """

    def __init__(self, *, max_period: int = 128, min_span: int = 200, min_repeats: int = 4) -> None:
        if max_period < 1 or min_span < 1 or min_repeats < 2:
            raise ValueError("need max_period >= 1, min_span >= 1 and min_repeats >= 2")
        self.max_period = max_period
        self.min_span = min_span
        self.min_repeats = min_repeats
        # span a period-p repetition must reach before it counts; index 0 unused
        self._need = [0] + [max(min_span, min_repeats * p) for p in range(1, max_period + 1)]
        self.reset()

    def reset(self) -> None:
        """Forget everything, e.g. before guarding the answer after a forced close."""
        self._recent: list[int] = []
        self._runs = [0] * (self.max_period + 1)
        self._reason: str | None = None
        self._pattern: tuple[int, ...] | None = None

    @property
    def triggered(self) -> bool:
        """True once a loop was detected (until `reset`)."""
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """Why it fired, for logs and the UI; None while not triggered."""
        return self._reason

    @property
    def pattern(self) -> tuple[int, ...] | None:
        """One copy of the repeated block (detokenize it to show the loop), or None."""
        return self._pattern

    def feed(self, token_id: int) -> bool:
        """Record one generated token; True only on the call that first detects a loop."""
        if self._reason is not None:
            return False
        recent, runs, need = self._recent, self._runs, self._need
        found = 0
        for p in range(1, min(len(recent), self.max_period) + 1):
            if recent[-p] == token_id:
                runs[p] += 1
                if not found and runs[p] + p >= need[p]:
                    found = p
            else:
                runs[p] = 0
        recent.append(token_id)
        if len(recent) > 2 * self.max_period:
            del recent[: -self.max_period]  # amortized O(1): trim only every max_period tokens
        if found:
            self._trip(found)
        return bool(found)

    def _trip(self, period: int) -> None:
        """Record what repeats, so the engine can log it and the UI can show the loop."""
        span = self._runs[period] + period
        self._pattern = tuple(self._recent[-period:])
        self._reason = (
            f"the last {span} tokens repeat a {period}-token pattern {span // period} times"
        )
