"""Run a GGUF model over calibration tokens, chunk by chunk, with the collector attached.

This is the one place in `quantize/` that evaluates a model: an importance matrix is an input to
llama.cpp's quantizer, and `vibe-quantize ladder --imatrix auto` makes one, so it belongs with
quantization, not in `vibe_local` (which `quantize` must not import). It uses llama.cpp's
low-level API because the high-level `Llama` class cannot take an eval callback; it samples
nothing. Chunks follow llama-imatrix: the text's tokens cut into `n_ctx`-token pieces, a fresh
KV cache per piece, the first token replaced by BOS when the model adds one, and logits asked
for at every position so that the last layer computes all rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import llama_log
from ..errors import QuantizeError
from ..llama_params import set_fields
from .collector import Collector
from .imatrix_file import Imatrix

ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class RunOptions:
    """How to evaluate: context per chunk, how many chunks, threads, extra context fields."""

    n_ctx: int = 512
    chunks: int | None = None  # None: every whole chunk the text has
    threads: int | None = None
    context_fields: dict[str, Any] | None = None  # e.g. an F32 KV cache for exact tests
    verbose: bool = False


class Loaded:
    """A model and context opened through the low-level API, freed on close."""

    def __init__(self, path: Path, options: RunOptions, callback: Any = None) -> None:
        import llama_cpp

        llama_log.install(options.verbose)
        llama_cpp.llama_backend_init()
        self.api = llama_cpp
        model_params = llama_cpp.llama_model_default_params()
        # no weight repacking: the statistic does not depend on it, and it avoids the AMX
        # kernels that crash some virtual machines (DESIGN.md)
        set_fields(model_params, {"use_extra_bufts": False})
        llama_log.clear()
        self.model = llama_cpp.llama_model_load_from_file(os.fsencode(path), model_params)
        if not self.model:
            raise QuantizeError(f"llama.cpp could not load {path}: "
                                f"{llama_log.recent_errors() or 'no reason given'}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.ctx = llama_cpp.llama_init_from_model(self.model, self._context_params(
            options, callback))
        if not self.ctx:
            llama_cpp.llama_model_free(self.model)
            raise QuantizeError(f"llama.cpp could not create a context for {path}: "
                                f"{llama_log.recent_errors() or 'no reason given'}")

    def _context_params(self, options: RunOptions, callback: Any) -> Any:
        params = self.api.llama_context_default_params()
        threads = options.threads or os.cpu_count() or 1
        fields = {"n_ctx": options.n_ctx, "n_batch": options.n_ctx,
                  "n_ubatch": min(options.n_ctx, 512), "n_seq_max": 1,
                  "n_threads": threads, "n_threads_batch": threads,
                  **(options.context_fields or {})}
        if callback is not None:
            fields.update(cb_eval=callback, cb_eval_user_data=None)
        set_fields(params, fields)
        return params

    def tokenize(self, text: str) -> list[int]:
        """The text's tokens as llama-imatrix makes them (BOS if the model adds one; special
        tokens such as <|im_start|> parsed, since calibration text is in the chat format)."""
        data = text.encode("utf-8")
        size = len(data) + 16
        buffer = (self.api.llama_token * size)()
        count = self.api.llama_tokenize(self.vocab, data, len(data), buffer, size, True, True)
        if count < 0:
            raise QuantizeError("the calibration text could not be tokenized")
        return list(buffer[:count])

    def decode(self, tokens: Sequence[int], *, start: int, all_logits: bool) -> int:
        """Evaluate tokens at positions start.. of sequence 0; llama_decode's status."""
        api = self.api
        batch = api.llama_batch_init(len(tokens), 0, 1)
        try:
            batch.n_tokens = len(tokens)
            for i, token in enumerate(tokens):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, start + i, 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = all_logits or i == len(tokens) - 1
            return int(api.llama_decode(self.ctx, batch))
        finally:
            api.llama_batch_free(batch)

    def close(self) -> None:
        self.api.llama_free(self.ctx)
        self.api.llama_model_free(self.model)


def collect_imatrix(model: str | Path, text: str | Sequence[int], *, dataset: str,
                    options: RunOptions = RunOptions(),
                    on_chunk: ProgressFn = lambda done, total, label: None) -> Imatrix:
    """Evaluate `model` on the calibration text (or tokens) and return the importance matrix.

    Raises:
        QuantizeError: the model cannot be loaded, or the text is shorter than one chunk.
    """
    collector = Collector()
    loaded = Loaded(Path(model), options, collector.callback)
    try:
        tokens = loaded.tokenize(text) if isinstance(text, str) else list(text)
        n_chunks = _chunk_count(len(tokens), options)
        started = time.perf_counter()
        for index in range(n_chunks):
            _eval_chunk(loaded, collector, tokens[index * options.n_ctx:
                                                  (index + 1) * options.n_ctx])
            rate = (index + 1) * options.n_ctx / (time.perf_counter() - started)
            on_chunk(index + 1, n_chunks, f"{rate:,.0f} tok/s")
    finally:
        loaded.close()
    return Imatrix(entries=collector.entries(), datasets=[dataset], chunk_count=n_chunks,
                   chunk_size=options.n_ctx)


def _chunk_count(n_tokens: int, options: RunOptions) -> int:
    available = n_tokens // options.n_ctx
    if available < 1:
        raise QuantizeError(f"the calibration text has {n_tokens} tokens, fewer than one chunk "
                            f"of {options.n_ctx}; give a longer text or a smaller --ctx")
    return available if options.chunks is None else min(options.chunks, available)


def _eval_chunk(loaded: Loaded, collector: Collector, chunk: list[int]) -> None:
    """One chunk from an empty cache, every position an output (as llama-imatrix asks)."""
    api = loaded.api
    api.llama_memory_clear(api.llama_get_memory(loaded.ctx), True)
    if api.llama_vocab_get_add_bos(loaded.vocab):
        chunk = [api.llama_vocab_bos(loaded.vocab)] + chunk[1:]
    status = loaded.decode(chunk, start=0, all_logits=True)
    collector.raise_pending()
    if status != 0:
        raise QuantizeError(f"llama.cpp failed to evaluate a chunk (status {status}): "
                            f"{llama_log.recent_errors() or 'no reason given'}")
