"""The sampler on a real llama.cpp context: it reads the logits in place, draws once per token
(never when greedy), and a seed gives the same tokens again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vibe_local.backend import open_llama
from vibe_local.nucleus import Nucleus
from vibe_local.sampler import build_sampler, logits_view


@pytest.fixture
def llm(tiny_f16_gguf: Path):
    llm = open_llama(tiny_f16_gguf, n_ctx=128, n_threads=2)
    yield llm
    llm.close()


def logits_after(llm, tokens: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(tokens)
    return logits_view(llm._ctx, -1).copy()


def test_the_view_is_llama_cpps_logits_without_a_copy(llm) -> None:
    import ctypes

    import llama_cpp

    llm.eval([1, 2, 3])
    view = logits_view(llm._ctx, -1)
    assert view.size == llm.n_vocab() and not view.flags.writeable and not view.flags.owndata
    address = ctypes.cast(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), ctypes.c_void_p)
    assert view.ctypes.data == address.value


def test_greedy_takes_the_first_best_logit_and_draws_nothing(llm) -> None:
    logits = logits_after(llm, [1, 2, 3])
    sampler = build_sampler(0.0, 0.95, 0, 0.0, seed=5)
    state = sampler._rng.bit_generator.state
    assert sampler.sample(llm._ctx, -1) == int(np.argmax(logits))
    assert sampler._rng.bit_generator.state == state


def test_each_token_is_one_draw_from_the_nucleus(llm) -> None:
    """Token t of a reply is Nucleus.pick at the seed's t-th uniform number, whatever the
    logits were: sampling positions one by one (as a verified draft does) stays in step."""
    settings = (0.6, 0.95, 0, 0.0)
    sampler = build_sampler(*settings, seed=9)
    uniforms = np.random.Generator(np.random.PCG64(9)).random(6)
    nucleus = Nucleus(llm.n_vocab(), *settings)
    for step, u in enumerate(uniforms):
        logits = logits_after(llm, [1, 2 + step])
        assert sampler.sample(llm._ctx, -1) == nucleus.pick(logits, u)


def test_a_seed_gives_the_same_tokens_again(llm) -> None:
    def tokens(seed: int) -> list[int]:
        sampler = build_sampler(1.0, 0.95, 0, 0.0, seed=seed)
        llm.reset()
        llm.eval([1, 2])
        out = []
        for _ in range(12):
            out.append(sampler.sample(llm._ctx, -1))
            llm.eval([out[-1]])
        return out

    first = tokens(3)
    assert tokens(3) == first
    assert tokens(4) != first
