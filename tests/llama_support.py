"""Helpers that run GGUF files through real llama.cpp for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vibe_local.backend import open_llama

GGML_TYPE_F32 = 0


def llama_logits(path: Path, token_ids: list[int], *, f32_cache: bool = True) -> np.ndarray:
    """Logits for every position of `token_ids` as llama.cpp computes them, [n, n_vocab].

    An F32 KV cache keeps the comparison at float precision (the default F16 cache alone
    adds ~1e-4 relative error).
    """
    cache = {"type_k": GGML_TYPE_F32, "type_v": GGML_TYPE_F32} if f32_cache else {}
    llm = open_llama(path, n_ctx=max(64, len(token_ids) + 8), n_batch=512, logits_all=True,
                     n_threads=2, **cache)
    try:
        llm.eval(token_ids)
        return np.array(llm.scores[: len(token_ids)], dtype=np.float64)
    finally:
        llm.close()


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def mean_kld(reference: np.ndarray, other: np.ndarray) -> float:
    """Mean over positions of KL(reference || other) of next-token distributions."""
    p_log, q_log = log_softmax(reference), log_softmax(other)
    return float((np.exp(p_log) * (p_log - q_log)).sum(axis=-1).mean())
