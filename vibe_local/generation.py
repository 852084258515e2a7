"""One generation: sample tokens, split thinking from answer, enforce budget and loop guard.

Kept apart from engine.py so the token loop reads top to bottom: each token is checked for
stop / end-of-generation / limits, decoded to text (UTF-8 sequences may span tokens), split into
thinking and answer, and watched for degenerate repetition.
"""

from __future__ import annotations

import codecs
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .reasoning import AnswerDelta, LoopGuard, ReasoningSplitter, ThinkingDelta, wrap_up_cue
from .sampler import build_sampler, cached_prefix, decode_tokens
from .speculation import speculative_tokens


@dataclass(frozen=True)
class Sampling:
    """Sampling settings for one reply. top_k 0 and min_p 0 mean off.

    The defaults are VibeThinker's recommended sampling (model card / paper), the one place
    they are written: greedy decoding makes reasoning models loop, so it is never the default;
    pass temperature=0 to ask for it.
    """

    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 0
    min_p: float = 0.0
    max_tokens: int = 40960
    think_budget: int | None = None
    seed: int | None = None
    speculate: bool = True  # prompt-lookup drafts verified in batches (speculation.py)


@dataclass
class GenerationStats:
    """How a reply went. Rates are wall-clock, as the user experiences them."""

    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    thinking_tokens: int = 0
    prompt_tokens_per_s: float = 0.0
    generation_tokens_per_s: float = 0.0
    time_to_first_token_s: float = 0.0
    total_s: float = 0.0
    finish_reason: str = "stop"  # stop | length | cancelled | context_full | repetition
    thinking_closed_by: str | None = None  # "budget" or "loop" when the engine closed it
    loop_reason: str | None = None
    seed: int | None = None
    draft_tokens: int = 0  # speculation: tokens drafted and verified
    accepted_draft_tokens: int = 0  # of which the sampler drew the same


@dataclass(frozen=True)
class Done:
    """Last event of a stream."""

    stats: GenerationStats


class Generator:
    """Runs one reply on a Llama whose lock the caller holds."""

    def __init__(self, llm: Any, prompt: list[int], sampling: Sampling,
                 stop: threading.Event, n_ctx: int, starts_in_thinking: bool):
        self.llm, self.sampling, self.stop, self.n_ctx = llm, sampling, stop, n_ctx
        self.history = list(prompt)
        self.splitter = ReasoningSplitter(starts_in_thinking=starts_in_thinking)
        self.guard = LoopGuard()
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        seed = sampling.seed if sampling.seed is not None else random.randrange(2**31)
        self.stats = GenerationStats(prompt_tokens=len(prompt), seed=seed,
                                     cached_prompt_tokens=cached_prefix(llm, prompt))
        s = sampling
        self.sampler = build_sampler(s.temperature, s.top_p, s.top_k, s.min_p, seed)
        import llama_cpp  # late: importing this module must not load llama.cpp

        self._is_end_of_generation = llama_cpp.llama_vocab_is_eog

    def run(self) -> Iterator[ThinkingDelta | AnswerDelta | Done]:
        started = time.perf_counter()
        first_token_at: float | None = None
        while True:
            restart = False
            for token in self._tokens():
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                finish = self._finish_reason(token)
                if finish:
                    self.stats.finish_reason = finish
                    break
                yield from self._accept(token)
                if self.stats.completion_tokens >= self.sampling.max_tokens:
                    self.stats.finish_reason = "length"  # stop before decoding a token we'd drop
                    break
                if self._should_close_thinking():
                    yield from self._close_thinking()
                    restart = True
                    break
                if self.guard.triggered and self.splitter.state == "answer":
                    self.stats.finish_reason = "repetition"
                    self.stats.loop_reason = self.guard.reason
                    break
            if not restart:
                break
        yield from self._emit(self.splitter.flush())
        self._finish_stats(started, first_token_at)
        yield Done(self.stats)

    def _tokens(self) -> Iterator[int]:
        if self.sampling.speculate:
            return speculative_tokens(self.llm, self.history, self.sampler, self.n_ctx,
                                      self._count_draft)
        return decode_tokens(self.llm, self.history, self.sampler)

    def _count_draft(self, drafted: int, accepted: int) -> None:
        self.stats.draft_tokens += drafted
        self.stats.accepted_draft_tokens += accepted

    def _finish_reason(self, token: int) -> str | None:
        if self.stop.is_set():
            return "cancelled"
        if self._is_end_of_generation(self.llm._model.vocab, token):
            return "stop"
        if len(self.history) + 1 >= self.n_ctx:  # no room to evaluate this token
            return "context_full"
        return None

    def _accept(self, token: int) -> Iterator[ThinkingDelta | AnswerDelta]:
        self.history.append(token)
        self.stats.completion_tokens += 1
        self.guard.feed(token)
        piece = self.decoder.decode(self.llm.detokenize([token], special=False))
        events = self.splitter.feed(piece)
        if self.splitter.state == "thinking" or any(isinstance(e, ThinkingDelta) for e in events):
            self.stats.thinking_tokens += 1
        yield from self._emit(events)

    def _should_close_thinking(self) -> bool:
        if self.splitter.state != "thinking" or self.stats.thinking_closed_by:
            return False
        budget = self.sampling.think_budget
        if budget is not None and self.stats.thinking_tokens >= budget:
            self.stats.thinking_closed_by = "budget"
            return True
        if self.guard.triggered:
            self.stats.thinking_closed_by, self.stats.loop_reason = "loop", self.guard.reason
            return True
        return False

    def _close_thinking(self) -> Iterator[ThinkingDelta | AnswerDelta]:
        """Append the wrap-up cue (ending in </think>) as if the model had written it."""
        cue = wrap_up_cue()
        self.history.extend(self.llm.tokenize(cue.encode("utf-8"), add_bos=False, special=True))
        self.guard = LoopGuard()  # judge the answer on its own
        yield from self._emit(self.splitter.feed(self.decoder.decode(b"", final=True) + cue))

    @staticmethod
    def _emit(events: list) -> Iterator[ThinkingDelta | AnswerDelta]:
        yield from (e for e in events if e.text)

    def _finish_stats(self, started: float, first_token_at: float | None) -> None:
        now = time.perf_counter()
        self.stats.total_s = now - started
        if first_token_at is None:
            return
        ttft = first_token_at - started
        evaluated = self.stats.prompt_tokens - self.stats.cached_prompt_tokens
        self.stats.time_to_first_token_s = ttft
        self.stats.prompt_tokens_per_s = evaluated / ttft if ttft > 0 else 0.0
        decoding = now - first_token_at
        if self.stats.completion_tokens > 1 and decoding > 0:
            self.stats.generation_tokens_per_s = (self.stats.completion_tokens - 1) / decoding

