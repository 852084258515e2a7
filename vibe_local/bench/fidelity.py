"""Fidelity of a quant to the 16-bit reference: one pass of the reference, one pass per quant.

The reference's next-token distributions are kept compactly (top K log-probs per scored token,
the tail's mass, the next token's log-prob and the argmax; see kld_stats) in a small .npz under
home_dir()/bench/, keyed by the reference file, the text, the context and K, so a second bench
of the same model skips the reference pass. A full logits file (vocabulary × tokens × 4 bytes,
over a gigabyte for VibeThinker on 2,000 tokens) is never written.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..paths import home_dir
from .kld_stats import FidelityStats, ReferenceTopK, TokenScores, score_tokens, summarize
from .logit_pass import Chunks, open_for_logits, scored_logits

DEFAULT_TOP_K = 1024
_ROW_BLOCK = 32  # rows scored at once: bounds the float64 copies of a 152k vocabulary

Progress = Callable[[str], None]


@dataclass
class ReferencePass:
    """The compact reference, and how it was obtained."""

    top: ReferenceTopK
    vocab: int
    k: int
    seconds: float  # 0 when it came from the cache
    cache_file: Path

    @property
    def exact(self) -> bool:
        """Whether the top K covers the whole vocabulary, making the KLD exact."""
        return self.k >= self.vocab


def file_identity(path: Path) -> str:
    """Name, size and modification time: cheap, and changes whenever the file is rebuilt."""
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _cache_file(reference: Path, chunks: Chunks, k: int) -> Path:
    text = hashlib.sha256(chunks.tokens[: chunks.n_chunks * chunks.ctx].tobytes()).hexdigest()
    key = json.dumps([file_identity(reference), chunks.ctx, chunks.n_chunks, k, text, "f16kv"])
    return home_dir() / "bench" / f"reference-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"


def _save(top: ReferenceTopK, vocab: int, file: Path) -> None:
    from quantize.atomic import atomic_output

    with atomic_output(file) as temp, open(temp, "wb") as out:
        np.savez(out, vocab=np.int64(vocab), **{name: getattr(top, name)
                                                for name in ReferenceTopK.__dataclass_fields__})


def _load(file: Path) -> tuple[ReferenceTopK, int] | None:
    try:
        with np.load(file) as data:
            top = ReferenceTopK(*(data[name] for name in ReferenceTopK.__dataclass_fields__))
            return top, int(data["vocab"])
    except (OSError, KeyError, ValueError):
        return None


def reference_pass(reference: Path, chunks: Chunks, *, k: int = DEFAULT_TOP_K,
                   threads: int | None = None, gpu_layers: int = 0,
                   progress: Progress | None = None) -> ReferencePass:
    """The reference's compact distributions over `chunks`, from the cache or one pass."""
    file = _cache_file(reference, chunks, k)
    cached = _load(file) if file.is_file() else None
    if cached is not None:
        _say(progress, f"reference: cached ({file.name})")
        return ReferencePass(cached[0], cached[1], k, 0.0, file)
    start = time.perf_counter()
    llm = open_for_logits(reference, chunks.ctx, threads=threads, gpu_layers=gpu_layers)
    try:
        vocab = llm.n_vocab()
        parts = []
        for index, (logits, next_tokens) in enumerate(scored_logits(llm, chunks)):
            parts.extend(ReferenceTopK.from_logits(logits[i:i + _ROW_BLOCK],
                                                   next_tokens[i:i + _ROW_BLOCK], k)
                         for i in range(0, len(next_tokens), _ROW_BLOCK))
            _say(progress, f"reference: chunk {index + 1}/{chunks.n_chunks}")
    finally:
        llm.close()
    top = ReferenceTopK.concat(parts)
    _save(top, vocab, file)
    return ReferencePass(top, vocab, k, time.perf_counter() - start, file)


def quant_pass(path: Path, reference: ReferencePass, chunks: Chunks, *, label: str = "",
               threads: int | None = None, gpu_layers: int = 0,
               progress: Progress | None = None) -> FidelityStats:
    """One pass of a quant over `chunks`, scored against the reference as it goes.

    `extra` of the result holds the pass's seconds and the reference's largest tail mass.
    """
    start = time.perf_counter()
    llm = open_for_logits(path, chunks.ctx, threads=threads, gpu_layers=gpu_layers)
    try:
        if llm.n_vocab() != reference.vocab:
            from ..errors import InvalidModelError

            raise InvalidModelError(f"{path.name} has a {llm.n_vocab()}-token vocabulary but "
                                    f"the reference has {reference.vocab}; not the same model")
        parts = []
        per_chunk = chunks.scored_per_chunk
        for index, (logits, next_tokens) in enumerate(scored_logits(llm, chunks)):
            for i in range(0, per_chunk, _ROW_BLOCK):
                offset = index * per_chunk + i
                ref = reference.top.rows(offset, offset + min(_ROW_BLOCK, per_chunk - i))
                parts.append(score_tokens(logits[i:i + _ROW_BLOCK], ref,
                                          next_tokens[i:i + _ROW_BLOCK]))
            _say(progress, f"{label or path.name}: chunk {index + 1}/{chunks.n_chunks}")
    finally:
        llm.close()
    stats = summarize(TokenScores.concat(parts))
    stats.extra.update(seconds=time.perf_counter() - start,
                       reference_max_tail_mass=reference.top.max_tail_mass)
    return stats


def _say(progress: Progress | None, line: str) -> None:
    if progress is not None:
        progress(line)
