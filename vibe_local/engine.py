"""Model: chat and stream with a loaded GGUF model, thinking kept apart from the answer.

Generation runs token by token (sampler.py: VibeThinker's sampling order, an exact nucleus
read from llama.cpp's logits in place; decoded with `Llama.eval`), so the engine can close the
thinking itself: after the thinking budget, or when the loop guard sees degenerate repetition,
it appends a short wrap-up cue ending in `</think>` and generation continues from there
(llama.cpp reuses the cached prefix, so only the cue is evaluated) — an answer still comes.

Context-full policy: a prompt that does not fit raises ContextFullError before anything runs;
a reply that reaches the end of the context stops there with finish_reason "context_full",
keeping what was generated.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .chat_template import ChatTemplate
from .errors import ContextFullError, InvalidRequestError
from .generation import Done, GenerationStats, Generator, Sampling
from .reasoning import AnswerDelta, ThinkingDelta
from .sampling_rules import validate_sampling

Event = ThinkingDelta | AnswerDelta | Done
Messages = str | list[dict[str, str]]

DEFAULT_SAMPLING = Sampling()  # VibeThinker's recommended sampling (see Sampling)


@dataclass
class Reply:
    """A finished reply: the thinking, the answer and how it went."""

    thinking: str
    answer: str
    stats: GenerationStats

    def __str__(self) -> str:
        return self.answer


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded, and how."""

    path: Path
    quant: str
    ctx: int
    n_gpu_layers: int
    kv_type: str
    repack: bool
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


class Model:
    """A loaded model. One generation at a time; `stop()` may be called from any thread."""

    def __init__(self, llm: Any, info: ModelInfo, sampling: Sampling = DEFAULT_SAMPLING,
                 on_stats: Callable[[GenerationStats], None] | None = None):
        """`on_stats` sees every finished generation's stats (the loader records speed)."""
        self._llm = llm
        self._on_stats = on_stats
        self.info = info
        self.sampling = sampling
        self.template = ChatTemplate.from_llama(llm)
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def stream(self, messages: Messages, *, raw: bool = False,
               **overrides: Any) -> Iterator[Event]:
        """Generate a reply, yielding ThinkingDelta / AnswerDelta events, then one Done.

        Args:
            messages: a prompt string or a list of {"role", "content"} messages.
            raw: `messages` is a finished prompt (a string) to continue as it is, without the
                chat template (for clients that apply the template themselves).
            **overrides: sampling overrides for this call: temperature, top_p, top_k, min_p,
                max_tokens (caps the whole completion, thinking included), think_budget, seed.

        Raises:
            InvalidRequestError: empty prompt or unknown sampling option.
            ContextFullError: the prompt alone does not fit the context window.
        """
        sampling = self._sampling(overrides)
        prompt_text, tokens = self.encode(messages, raw=raw)
        with self._lock:
            self._stop.clear()
            starts_in_thinking = self.template.opens_thinking(prompt_text)
            generator = Generator(self._llm, tokens, sampling, self._stop, self.info.ctx,
                                  starts_in_thinking)
            for event in generator.run():
                if isinstance(event, Done) and self._on_stats is not None:
                    self._on_stats(event.stats)
                yield event

    def encode(self, messages: Messages, *, raw: bool = False) -> tuple[str, list[int]]:
        """The prompt text and its tokens, checked against the context window.

        Safe to call while another thread generates (tokenizing reads only the vocabulary),
        so a server can refuse an oversized prompt before queueing it.

        Raises:
            InvalidRequestError: empty prompt, or a message list with `raw`.
            ContextFullError: the prompt alone does not fit the context window.
        """
        if self._llm is None:
            raise InvalidRequestError("this model has been closed; load it again")
        if raw:
            if not isinstance(messages, str) or not messages.strip():
                raise InvalidRequestError("a raw prompt must be a non-empty string")
            prompt_text = unicodedata.normalize("NFC", messages)  # as Qwen2's tokenizer does
        else:
            prompt_text = self.template.render(_as_messages(messages))
        tokens = self._llm.tokenize(prompt_text.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= self.info.ctx:
            raise ContextFullError(
                f"the prompt is {len(tokens):,} tokens but the context holds {self.info.ctx:,}; "
                "start a new chat or load the model with a larger context (--ctx)"
            )
        return prompt_text, tokens

    def chat(self, messages: Messages, **overrides: Any) -> Reply:
        """Generate a whole reply (see `stream` for arguments)."""
        thinking: list[str] = []
        answer: list[str] = []
        stats = GenerationStats()
        for event in self.stream(messages, **overrides):
            if isinstance(event, ThinkingDelta):
                thinking.append(event.text)
            elif isinstance(event, AnswerDelta):
                answer.append(event.text)
            else:
                stats = event.stats
        return Reply("".join(thinking), "".join(answer), stats)

    def stop(self) -> None:
        """Ask the running generation to stop after the current token; what came is kept."""
        self._stop.set()

    def close(self) -> None:
        """Free the model's memory. The Model cannot be used afterwards."""
        self._stop.set()
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sampling(self, overrides: dict[str, Any]) -> Sampling:
        if self._llm is None:
            raise InvalidRequestError("this model has been closed; load it again")
        unknown = set(overrides) - set(Sampling.__dataclass_fields__)
        if unknown:
            raise InvalidRequestError(
                f"unknown option(s) {', '.join(sorted(unknown))}; valid: "
                f"{', '.join(Sampling.__dataclass_fields__)}"
            )
        given = {k: v for k, v in overrides.items() if v is not None}
        return validate_sampling(replace(self.sampling, **given))


def _as_messages(messages: Messages) -> list[dict[str, str]]:
    """Normalize input to chat messages, NFC-normalized as Qwen2's tokenizer expects."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if not messages or not any(m.get("content", "").strip() for m in messages):
        raise InvalidRequestError("the prompt is empty; type a question")
    return [{**m, "content": unicodedata.normalize("NFC", m.get("content", ""))}
            for m in messages]
