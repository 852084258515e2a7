"""`--calibration self`: the model writes its own calibration tokens.

Each shipped problem (calibration.problem_prompts) is put to the model in VibeThinker's chat
format, and what it thinks and answers is kept, token for token: calibration on the text the
model will actually produce. Sampling is VibeThinker's recommended temperature 0.6, top-p 0.95
(vibe_local.generation.Sampling holds the same numbers; `quantize` cannot import it), with a
fixed seed so a run can be repeated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import QuantizeError
from .calibration import problem_prompts
from .run import Loaded, RunOptions

TEMPERATURE, TOP_P, SEED = 0.6, 0.95, 1234
MAX_REPLY = 1024  # tokens per problem: more problems, rather than one endless trace
_CONTEXT = 2048

ProgressFn = Callable[[int, int, str], None]


def self_tokens(model: str | Path, n_tokens: int, *, options: RunOptions | None = None,
                on_progress: ProgressFn = lambda done, total, label: None) -> list[int]:
    """At least `n_tokens` tokens of prompts and the model's own replies, problem after problem.

    Raises:
        QuantizeError: the model cannot be loaded or fails to evaluate.
    """
    options = options or RunOptions()
    loaded = Loaded(Path(model), RunOptions(n_ctx=_CONTEXT, threads=options.threads,
                                            verbose=options.verbose))
    sampler = _sampler(loaded.api)
    tokens: list[int] = []
    try:
        for prompt in problem_prompts(max(1, n_tokens // 64)):
            tokens += _reply(loaded, sampler, loaded.tokenize(prompt))
            on_progress(min(len(tokens), n_tokens), n_tokens, "writing its own calibration")
            if len(tokens) >= n_tokens:
                return tokens
    finally:
        loaded.api.llama_sampler_free(sampler)
        loaded.close()
    return tokens


def _sampler(api):
    chain = api.llama_sampler_chain_init(api.llama_sampler_chain_default_params())
    api.llama_sampler_chain_add(chain, api.llama_sampler_init_top_p(TOP_P, 1))
    api.llama_sampler_chain_add(chain, api.llama_sampler_init_temp(TEMPERATURE))
    api.llama_sampler_chain_add(chain, api.llama_sampler_init_dist(SEED))
    return chain


def _reply(loaded: Loaded, sampler, prompt: list[int]) -> list[int]:
    """The prompt followed by the model's reply, ended by its end-of-turn token."""
    api = loaded.api
    api.llama_memory_clear(api.llama_get_memory(loaded.ctx), True)
    out = list(prompt)
    pending = list(prompt)
    for _ in range(min(MAX_REPLY, _CONTEXT - len(prompt) - 1)):
        if loaded.decode(pending, start=len(out) - len(pending), all_logits=False) != 0:
            raise QuantizeError("llama.cpp failed while the model wrote its calibration text")
        token = api.llama_sampler_sample(sampler, loaded.ctx, -1)
        out.append(token)
        if api.llama_vocab_is_eog(loaded.vocab, token):
            break
        pending = [token]
    return out
