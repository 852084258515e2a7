"""Next-token logits over a text, chunk by chunk, the way `llama-perplexity` evaluates it.

The text is tokenized whole (a BOS only where the model's vocabulary asks for one, special
tokens not parsed), cut into chunks of `ctx` tokens, and each chunk is evaluated from an empty
KV cache; only the second half of a chunk is scored, so every scored token has at least ctx/2
tokens of context. The KV cache is F16 and flash attention is on for the reference and every
quant alike, as llama-perplexity runs on a CPU by default, so the two are compared like for like.

Like llama-perplexity, a chunk is decoded through llama.cpp's batch API asking for logits only at
the scored positions: the output layer (vocabulary × hidden, a sixth of VibeThinker-1.5B's
weights) then runs on half the tokens, and llama.cpp's logits buffer holds the scored rows only.
`Llama.eval` would compute every position's logits and copy them into `Llama.scores` too: for a
152k vocabulary that is 300 MB twice over.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidRequestError

GGML_TYPE_F16 = 1  # llama_cpp.GGML_TYPE_F16; the KV cache type of every pass


@dataclass(frozen=True)
class Chunks:
    """The tokens to evaluate: `n_chunks` chunks of `ctx` tokens from the start of `tokens`."""

    tokens: np.ndarray  # int32, the whole tokenized text
    ctx: int
    n_chunks: int
    bos: int | None  # replaces each chunk's first token, when the vocabulary adds a BOS
    vocab: int  # tokens in the model's vocabulary: the width of every logits row

    @property
    def first(self) -> int:
        """Index of the first position whose logits are scored (ctx/2)."""
        return self.ctx // 2

    @property
    def scored_per_chunk(self) -> int:
        return self.ctx - 1 - self.first

    @property
    def scored_tokens(self) -> int:
        return self.n_chunks * self.scored_per_chunk

    def chunk(self, index: int) -> np.ndarray:
        start = index * self.ctx
        tokens = self.tokens[start:start + self.ctx].copy()
        if self.bos is not None:
            tokens[0] = self.bos
        return tokens


def open_for_logits(path: Path, ctx: int, *, threads: int | None = None,
                    gpu_layers: int = 0, vocab_only: bool = False) -> Any:
    """A llama.cpp context that keeps the logits of every position of a `ctx`-token chunk.

    Raises:
        InvalidModelError: llama.cpp could not load the file.
    """
    from ..backend import open_llama
    from ..hardware import default_threads
    from ..selftest import repack_allowed

    if vocab_only:
        return open_llama(path, vocab_only=True)
    threads = threads or default_threads()
    return open_llama(path, repack=repack_allowed(), n_ctx=ctx, n_batch=ctx,
                      n_ubatch=min(ctx, 512), n_threads=threads, n_threads_batch=threads,
                      type_k=GGML_TYPE_F16, type_v=GGML_TYPE_F16, flash_attn=True,
                      n_gpu_layers=gpu_layers)


def make_chunks(path: Path, text: str, ctx: int, chunks: int | None) -> Chunks:
    """Tokenize `text` with the model at `path` and choose the chunks to evaluate.

    Raises:
        InvalidRequestError: ctx too small, or the text too short for one chunk.
    """
    if ctx < 8:
        raise InvalidRequestError(f"--ctx {ctx} is too small; use at least 8 (default 512)")
    llm = open_for_logits(path, ctx, vocab_only=True)
    try:
        bos = llm.tokenize(b"", add_bos=True, special=False)  # [BOS] only if the vocab adds one
        vocab = llm.n_vocab()
        tokens = np.array(llm.tokenize(text.encode("utf-8"), add_bos=True, special=False),
                          dtype=np.int32)
    finally:
        llm.close()
    available = len(tokens) // ctx
    if available < 1:
        raise InvalidRequestError(
            f"the corpus is {len(tokens):,} tokens long; one chunk of --ctx {ctx} needs at "
            f"least {ctx:,} tokens (give a longer text or a smaller --ctx)")
    if chunks is not None and chunks < 1:
        raise InvalidRequestError("--chunks must be at least 1")
    n_chunks = available if chunks is None else min(chunks, available)
    return Chunks(tokens, ctx, n_chunks, bos[0] if bos else None, vocab)


def scored_logits(llm: Any, chunks: Chunks) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For each chunk: the logits of its scored positions [ctx/2 - 1, vocab] and their next tokens.

    The logits array is a view into llama.cpp's buffer: use it before asking for the next chunk.

    Raises:
        InvalidModelError: llama.cpp could not evaluate a chunk.
    """
    import llama_cpp

    first, ctx, vocab = chunks.first, chunks.ctx, llm.n_vocab()
    batch = llama_cpp.llama_batch_init(ctx, 0, 1)
    try:
        _fill_positions(batch, ctx, first)
        tokens_in = np.ctypeslib.as_array(batch.token, shape=(ctx,))
        for index in range(chunks.n_chunks):
            tokens = chunks.chunk(index)
            tokens_in[:] = tokens
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
            if llama_cpp.llama_decode(llm.ctx, batch) != 0:
                from ..errors import InvalidModelError

                raise InvalidModelError(f"llama.cpp could not evaluate chunk {index + 1} of "
                                        f"{ctx} tokens (llama_decode failed)")
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx),
                                           shape=(chunks.scored_per_chunk, vocab))
            yield logits, tokens[first + 1:ctx]
    finally:
        llama_cpp.llama_batch_free(batch)


def _fill_positions(batch: Any, ctx: int, first: int) -> None:
    """One sequence at positions 0..ctx-1, logits wanted at the scored ones [first, ctx - 1)."""
    batch.n_tokens = ctx
    for i in range(ctx):
        batch.pos[i] = i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = first <= i < ctx - 1
