"""Token sampling and decoding with llama.cpp, in VibeThinker's recommended order.

VibeThinker's settings (temperature 0.6, top_p 0.95) come from Hugging Face / vLLM, where the
temperature is applied first and the nucleus is taken from the tempered distribution
(llama-cpp-python's `Llama.generate` does it the other way round). We sample ourselves, reading
the logits in place: temperature -> top_k -> top_p -> min_p -> one draw, or greedy at
temperature 0 (nucleus.py; llama.cpp's own top-p sorts the whole vocabulary, milliseconds per
token). The decode loop runs on `Llama.eval`, reusing the cached prompt prefix as
`Llama.generate` does.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from typing import Any

import numpy as np

from .nucleus import Nucleus


class TokenSampler:
    """Draws each token from a context's logits with one random number (none when greedy), so
    sampling the positions of a verified draft one by one gives the tokens plain decoding gives
    with the same seed."""

    def __init__(self, temperature: float, top_p: float, top_k: int, min_p: float, seed: int):
        self.greedy = temperature <= 0
        self._settings = (temperature, top_p, top_k, min_p)
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._uniforms: list[float] = []  # drawn ahead, used in order: the same sequence
        self._nucleus: Nucleus | None = None  # sized by the first context's vocabulary
        self._views: dict[int, np.ndarray] = {}  # logits rows already wrapped, by address

    def sample(self, ctx: Any, idx: int = -1) -> int:
        """The next token from the logits of batch position `idx` (-1: the last) of `ctx`, a
        llama-cpp-python LlamaContext."""
        logits = self._logits(ctx, idx)
        if self.greedy:
            return int(np.argmax(logits))
        if self._nucleus is None or self._nucleus.n != logits.size:
            self._nucleus = Nucleus(logits.size, *self._settings)
        return self._nucleus.pick(logits, self._next_uniform())

    def _next_uniform(self) -> float:
        """The generator's next number. Drawn 256 at a time (numpy gives the same sequence
        either way): a call into the generator between two decode steps, with its code out of
        the cache, costs a tenth of a draw."""
        if not self._uniforms:
            self._uniforms = self._rng.random(256).tolist()[::-1]
        return self._uniforms.pop()

    def _logits(self, ctx: Any, idx: int) -> np.ndarray:
        """`logits_view`, reusing the array made for the same address: llama.cpp keeps its
        logits buffer between decodes, and wrapping a pointer anew costs a tenth of a draw."""
        pointer = _logits_pointer(ctx, idx)
        address = ctypes.addressof(pointer.contents)
        view = self._views.get(address)
        if view is None:
            if len(self._views) > 64:  # the buffer moved: forget the old rows
                self._views.clear()
            view = self._views[address] = _wrap(pointer, ctx)
        return view


def logits_view(ctx: Any, idx: int) -> np.ndarray:
    """The logits of batch position `idx` as a read-only array over llama.cpp's own buffer (no
    copy: valid until the next decode)."""
    return _wrap(_logits_pointer(ctx, idx), ctx)


def _logits_pointer(ctx: Any, idx: int) -> Any:
    import llama_cpp  # late: importing this module must not load llama.cpp

    pointer = llama_cpp.llama_get_logits_ith(ctx.ctx, idx)
    if not pointer:
        raise IndexError(f"llama.cpp holds no logits for batch position {idx}")
    return pointer


def _wrap(pointer: Any, ctx: Any) -> np.ndarray:
    view = np.ctypeslib.as_array(pointer, shape=(ctx.model.n_vocab(),))
    view.flags.writeable = False
    return view


def build_sampler(temperature: float, top_p: float, top_k: int, min_p: float,
                  seed: int) -> TokenSampler:
    """The sampler for one reply (see TokenSampler)."""
    return TokenSampler(temperature, top_p, top_k, min_p, seed)


def decode_tokens(llm: Any, tokens: list[int], sampler) -> Iterator[int]:
    """Evaluate `tokens` (reusing the cached prefix), then yield sampled tokens one by one.

    The prompt's last token is always evaluated on its own: the first token's logits then come
    from the same single-token pass whether the rest of the prompt was cached or not. A batched
    pass rounds differently (other kernels, other summation order, e.g. with weight repacking),
    and on a flat distribution that is enough for the same seed to draw another token.
    Each yielded token is evaluated when the next one is requested; stop iterating to stop.
    """
    evaluate_prompt(llm, tokens)
    while True:
        token = sampler.sample(llm._ctx, -1)
        yield token
        llm.eval([token])


def evaluate_prompt(llm: Any, tokens: list[int]) -> None:
    """Evaluate `tokens`, reusing the cached prefix, the last token on its own (see
    `decode_tokens`): afterwards the logits at index -1 are the next token's."""
    reuse = cached_prefix(llm, tokens)
    if reuse == 0:
        llm.reset()
    llm.n_tokens = reuse  # eval() drops the cache beyond n_tokens before decoding
    if reuse < len(tokens) - 1:
        llm.eval(tokens[reuse:-1])
    llm.eval(tokens[-1:])


def cached_prefix(llm: Any, tokens: list[int]) -> int:
    """How many leading tokens llama.cpp already holds; at least one token is re-evaluated so
    the logits are fresh."""
    cached = llm._input_ids[: llm.n_tokens]
    shared = 0
    for a, b in zip(cached, tokens):
        if a != b:
            break
        shared += 1
    return min(shared, len(tokens) - 1)
