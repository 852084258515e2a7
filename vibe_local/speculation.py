"""Self-speculative decoding by prompt lookup: draft from the context, verify in one batch.

Reasoning traces repeat themselves (the problem restated, numbers and expressions carried
forward, the thinking's result rewritten in the answer). So the next few tokens are often a copy
of what followed the last few tokens the previous time they occurred. We propose that copy as a
draft, evaluate the current token and the draft in ONE llama_decode (on a memory-bound machine
that costs little more than one token, the weights are read once), and sample every position in
order with the reply's own sampler: while the sampled token equals the draft, the next position's
logits are already there. The first sampled token that differs is kept and the rest of the draft
is dropped from the KV cache.

Exactness: each position is sampled from the model's distribution with one draw of the sampler,
lazily, only when the generation loop asks for the next token, so the random stream advances
exactly as in plain decoding and the same seed gives the same tokens. What can differ is the
floating-point rounding of batched vs single-token evaluation (tests/benchmarks/speculation.py
measures how often that flips a token).

Hand-written: llama-cpp-python's own `LlamaPromptLookupDecoding` needs `logits_all` (a
vocabulary-sized row per context position) and drives its own sampling; llama.cpp's C++ lookup
decoding is not exposed by the Python bindings.
"""

from __future__ import annotations

import statistics
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from .sampler import evaluate_prompt

MAX_DRAFT = 8  # longer drafts rarely survive (acceptance falls geometrically with length)
NGRAM_SIZES = (3, 2)  # longest match first; a single shared token predicts too little


class DraftIndex:
    """Where each n-gram of the context last occurred, kept up to date as the context grows.

    `propose` looks up the context's last n-gram (longest first) and returns what followed its
    most recent earlier occurrence. The index holds every n-gram but the trailing one, so the
    lookup never finds the tail itself; indexing is O(1) per new token.
    """

    def __init__(self, sizes: tuple[int, ...] = NGRAM_SIZES) -> None:
        self.sizes = sizes
        self._ends: dict[tuple[int, ...], int] = {}  # n-gram -> position just after it
        self._indexed = 0  # n-grams ending before this position are in _ends

    def propose(self, context: list[int], length: int) -> list[int]:
        """Up to `length` tokens that may follow `context`; [] when its tail never occurred."""
        self._catch_up(context)
        for n in self.sizes:
            if len(context) <= n:
                continue
            end = self._ends.get(tuple(context[-n:]))
            if end is not None:
                return _continuation(context, end, length)
        return []

    def _catch_up(self, context: list[int]) -> None:
        for stop in range(self._indexed + 1, len(context)):  # all but the n-grams ending last
            for n in self.sizes:
                if stop >= n:
                    self._ends[tuple(context[stop - n:stop])] = stop
        self._indexed = max(self._indexed, len(context) - 1)


def _continuation(context: list[int], start: int, length: int) -> list[int]:
    """`length` tokens from `start`, continuing into the draft itself past the end of the
    context (a repeating block keeps repeating)."""
    draft: list[int] = []
    for i in range(start, start + length):
        draft.append(context[i] if i < len(context) else draft[i - len(context)])
    return draft


class DraftLength:
    """How many tokens to draft next: the length that maximises expected tokens per unit of time.

    Two running estimates, both measured while generating, so the choice fits this machine and
    this text: `acceptance`, the chance that the next drafted token is the one sampled (an
    exponential moving average over drafted positions, with a short memory because repetition
    comes in bursts), and `extra_cost`, what each drafted token adds to a decode step, as a
    share of a single-token step (timed, the median of the last 16 drafts against the median of
    the last 16 single steps, so a stall caused by another process does not swing it: on a
    memory-bound machine it is small, on a compute-bound one it approaches 1). With per-position
    acceptance a, a k-token draft yields 1 + a + ... + a^k tokens for 1 + extra_cost * k steps'
    time; k = 0 (plain decoding) yields 1. When no length beats plain decoding, drafting is off;
    drafts are still looked up and checked against the token that came ("shadow" drafts, free),
    so it comes back when the text starts repeating itself. `timed=False` keeps `extra_cost` as
    given (for tests: then the lengths do not depend on how busy the machine is).
    """

    def __init__(self, most: int = MAX_DRAFT, extra_cost: float = 0.2, memory: float = 0.15,
                 timed: bool = True):
        self.most, self.extra_cost, self.memory, self.timed = most, extra_cost, memory, timed
        self.acceptance = 0.5
        self._steps: deque[float] = deque(maxlen=16)  # seconds of single-token decodes
        self._extras: deque[float] = deque([extra_cost], maxlen=16)

    def next(self) -> int:
        """The length of the next draft; 0: decode one token plainly."""
        best, best_rate, expected, term = 0, 1.0, 1.0, 1.0
        for k in range(1, self.most + 1):
            term *= self.acceptance
            expected += term
            rate = expected / (1 + self.extra_cost * k)
            if rate > best_rate:
                best, best_rate = k, rate
        return best

    def single(self, seconds: float) -> None:
        """A plain single-token decode took `seconds`."""
        self._steps.append(seconds)

    def verified(self, drafted: int, accepted: int, seconds: float) -> None:
        """A `drafted`-token draft, `accepted` of it taken, was verified in `seconds`."""
        for hit in [True] * accepted + [False] * (accepted < drafted):
            self.shadow(hit)
        if self.timed and self._steps:
            extra = (seconds / statistics.median(self._steps) - 1) / drafted
            self._extras.append(min(max(extra, 0.0), 1.5))
            self.extra_cost = statistics.median(self._extras)

    def shadow(self, hit: bool) -> None:
        """A drafted token was (or, not verified, would have been) the one sampled, or not."""
        self.acceptance += self.memory * (float(hit) - self.acceptance)


_LEARNT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def policy_for(llm: Any) -> DraftLength:
    """The draft-length estimates of this loaded model, kept from one reply to the next: what a
    decode step costs is a property of the model on this machine, not of one reply."""
    if llm not in _LEARNT:
        _LEARNT[llm] = DraftLength()
    return _LEARNT[llm]


def speculative_tokens(llm: Any, tokens: list[int], sampler, n_ctx: int,
                       on_step: Callable[[int, int], None] = lambda drafted, accepted: None
                       ) -> Iterator[int]:
    """Like `sampler.decode_tokens`, but each step verifies a prompt-lookup draft in one batch.

    Yields the same tokens as plain decoding for the same sampler state (see the module
    docstring). Stop iterating to stop: the Llama's token record (`n_tokens`, `input_ids`) and KV
    cache then hold the context up to at least the last yielded token's predecessor, possibly with
    draft tokens after it; `sampler.cached_prefix` reuses what matches the next prompt and
    `Llama.eval` drops the rest from the cache. `on_step(drafted, accepted)` after each draft.
    """
    evaluate_prompt(llm, tokens)
    context, index, lengths = list(tokens), DraftIndex(), policy_for(llm)
    token = sampler.sample(llm._ctx, -1)
    while True:
        yield token
        context.append(token)
        room = min(n_ctx - len(context) - 1, llm.n_batch - 1)  # positions left in the cache
        length = min(lengths.next(), room)
        draft = index.propose(context, max(length, 1)) if room > 0 else []
        started = time.perf_counter()
        if length == 0 or not draft:
            llm.eval([token])
            lengths.single(time.perf_counter() - started)
            token = sampler.sample(llm._ctx, -1)
            if draft:
                lengths.shadow(token == draft[0])
            continue
        _evaluate_with_logits(llm, [token, *draft])
        seconds = time.perf_counter() - started
        accepted = 0
        for i, proposed in enumerate(draft):
            token = sampler.sample(llm._ctx, i)
            if token != proposed:
                break
            accepted += 1
            yield token
            context.append(token)
        else:
            token = sampler.sample(llm._ctx, len(draft))
        lengths.verified(len(draft), accepted, seconds)
        on_step(len(draft), accepted)
        _forget_after(llm, len(context))


def _evaluate_with_logits(llm: Any, batch: list[int]) -> None:
    """One llama_decode of `batch` after the cached context, with logits at every position (each
    is a verified position: logits at i sample the token after batch[i])."""
    n_past = llm.n_tokens
    llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
    llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=True)
    llm._ctx.decode(llm._batch)
    llm.input_ids[n_past:n_past + len(batch)] = batch
    llm.n_tokens = n_past + len(batch)


def _forget_after(llm: Any, kept: int) -> None:
    """Drop the rejected draft positions: the cache holds the context's first `kept` tokens."""
    if llm.n_tokens > kept:
        llm._ctx.kv_cache_seq_rm(-1, kept, -1)
        llm.n_tokens = kept
