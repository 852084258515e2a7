"""Engine events -> OpenAI's fields: reasoning apart from content, stop strings, usage.

Thinking goes to `reasoning_content` and, mirrored, `reasoning` (the two names clients read:
llama-server / LM Studio / older vLLM, and Ollama / newer vLLM); `content` holds only the answer.
With `reasoning_format: "none"` (and on /v1/completions) the reply is the raw text, tags and all.

Stop strings end the reply where they first appear and are not part of it (OpenAI's rule). They
apply to `content` only: a reasoning model's thinking is full of blank lines and drafts, and a
stop meant for the answer must not cut the thinking short. Text that could be the start of a
stop string is held back until the next piece shows whether it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..chat_template import THINK_CLOSE, THINK_OPEN
from ..generation import GenerationStats
from ..reasoning import AnswerDelta, ThinkingDelta, partial_suffix


@dataclass(frozen=True)
class Piece:
    """A new piece of the reply: kind is "reasoning" or "content"."""

    kind: str
    text: str


class StopMatcher:
    """Finds the first of several stop strings in streamed text."""

    def __init__(self, stops: tuple[str, ...]):
        self.stops = stops
        self._held = ""
        self.hit = False

    def feed(self, text: str) -> str:
        """The text that is safe to emit; after a hit, nothing more."""
        if self.hit or not self.stops:
            return "" if self.hit else text
        data = self._held + text
        cuts = [i for i in (data.find(s) for s in self.stops) if i >= 0]
        if cuts:
            self.hit, self._held = True, ""
            return data[: min(cuts)]
        keep = max(partial_suffix(data, s) for s in self.stops)
        self._held = data[len(data) - keep:]
        return data[: len(data) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return "" if self.hit else held


class Shaper:
    """Turns one reply's events into pieces, keeping the whole reply for non-streamed answers.

    Args:
        split: thinking as reasoning pieces; False: raw text with `<think>` tags as content.
        stops: stop strings (see the module's docstring).
        prompt_opened_thinking: the prompt ends inside `<think>` (raw text must not repeat it).
    """

    def __init__(self, split: bool, stops: tuple[str, ...], prompt_opened_thinking: bool):
        self.split = split
        self.matcher = StopMatcher(stops)
        self._in_thinking = prompt_opened_thinking
        self.reasoning: list[str] = []
        self.content: list[str] = []

    @property
    def stopped(self) -> bool:
        """True once a stop string was found: the rest of the reply is to be dropped."""
        return self.matcher.hit

    def feed(self, event: ThinkingDelta | AnswerDelta) -> list[Piece]:
        if self.split and isinstance(event, ThinkingDelta):
            return self._piece("reasoning", event.text)
        return self._piece("content", self.matcher.feed(self._raw(event)))

    def flush(self) -> list[Piece]:
        return self._piece("content", self.matcher.flush())

    def _raw(self, event: ThinkingDelta | AnswerDelta) -> str:
        """The event's text, with tags where the thinking opens and closes (raw mode)."""
        if self.split:
            return event.text
        thinking = isinstance(event, ThinkingDelta)
        if thinking and not self._in_thinking:
            self._in_thinking = True
            return THINK_OPEN + event.text
        if not thinking and self._in_thinking:
            self._in_thinking = False
            return THINK_CLOSE + "\n\n" + event.text
        return event.text

    def _piece(self, kind: str, text: str) -> list[Piece]:
        if not text:
            return []
        (self.reasoning if kind == "reasoning" else self.content).append(text)
        return [Piece(kind, text)]


def finish_reason(stats: GenerationStats, stopped: bool) -> str:
    """OpenAI's finish_reason: "length" when a token limit ended the reply (max_tokens, or the
    context window), else "stop". The engine's own reason is in `details`."""
    if stopped:
        return "stop"
    return "length" if stats.finish_reason in ("length", "context_full") else "stop"


def usage(stats: GenerationStats) -> dict[str, Any]:
    """OpenAI's usage object, with the thinking counted as reasoning tokens."""
    return {"prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.completion_tokens,
            "total_tokens": stats.prompt_tokens + stats.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": stats.cached_prompt_tokens},
            "completion_tokens_details": {"reasoning_tokens": stats.thinking_tokens}}


def details(stats: GenerationStats, stopped: bool) -> dict[str, Any]:
    """The `vibe_local` field of a choice: how the reply ended and how fast it came.

    finish_reason: the engine's (stop, length, context_full, repetition, cancelled, or
    stop_string); thinking_closed_by: "budget" or "loop" when the engine closed the thinking
    itself (loop_reason says what repeated); seed: the seed used, to reproduce the reply;
    draft_tokens / accepted_draft_tokens: self-speculative decoding's drafts and how many held.
    """
    return {"finish_reason": "stop_string" if stopped else stats.finish_reason,
            "thinking_closed_by": stats.thinking_closed_by, "loop_reason": stats.loop_reason,
            "seed": stats.seed, "time_to_first_token_s": round(stats.time_to_first_token_s, 4),
            "generation_tokens_per_s": round(stats.generation_tokens_per_s, 2),
            "draft_tokens": stats.draft_tokens,
            "accepted_draft_tokens": stats.accepted_draft_tokens}


def message(shaper: Shaper) -> dict[str, Any]:
    """The assistant message of a non-streamed chat completion."""
    out: dict[str, Any] = {"role": "assistant", "content": "".join(shaper.content)}
    if shaper.reasoning:
        reasoning = "".join(shaper.reasoning)
        out["reasoning_content"] = out["reasoning"] = reasoning
    return out


def chat_delta(piece: Piece) -> dict[str, str]:
    """A streamed chunk's delta for one piece."""
    if piece.kind == "reasoning":
        return {"reasoning_content": piece.text, "reasoning": piece.text}
    return {"content": piece.text}
