"""Token sampling and decoding with llama.cpp, in VibeThinker's recommended order.

VibeThinker's settings (temperature 0.6, top_p 0.95) come from Hugging Face / vLLM, where the
temperature is applied first and the nucleus is taken from the tempered distribution.
llama-cpp-python's `Llama.generate` applies top_p before the temperature, which keeps a larger,
flatter nucleus than the model was evaluated with. So we build llama.cpp's sampler chain
ourselves: temperature -> top_k -> top_p -> min_p -> draw (or greedy at temperature 0), and run
the decode loop with `Llama.eval`, reusing the cached prompt prefix as `Llama.generate` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def build_sampler(temperature: float, top_p: float, top_k: int, min_p: float, seed: int):
    """A llama.cpp sampler chain (llama-cpp-python's LlamaSampler wrapper)."""
    from llama_cpp._internals import LlamaSampler

    sampler = LlamaSampler()
    if temperature <= 0:
        sampler.add_greedy()
        return sampler
    sampler.add_temp(temperature)
    if top_k > 0:
        sampler.add_top_k(top_k)
    if top_p < 1.0:
        sampler.add_top_p(top_p, 1)
    if min_p > 0:
        sampler.add_min_p(min_p, 1)
    sampler.add_dist(seed)
    return sampler


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
