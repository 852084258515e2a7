"""Fidelity of a quant to the 16-bit reference: one pass of the reference, one pass per quant.

By default the reference pass streams its log-probs over the whole vocabulary to a file
(logprob_file.py: 16-bit codes, about 2 bytes × vocabulary per scored token, 300 KB for
VibeThinker), and each quant pass reads it back a block of rows at a time, so the KLD is exact
and memory stays at one model plus a block, however long the text. `k` asks instead for the
reference's top K per token plus a tail bucket (kld_stats.ReferenceTopK), kept in memory and in
a small .npz: a lower bound on the KLD, for when the disk cannot take the full file.

Either form is cached under home_dir()/bench/, keyed by the reference file, the text, the
context and the form, so a second bench of the same model skips the reference pass. Only the
newest KEEP full files are kept: each is hundreds of megabytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidModelError, InvalidRequestError
from ..paths import home_dir
from .kld_stats import (
    FidelityStats,
    ReferenceTopK,
    TokenScores,
    score_full,
    score_tokens,
    summarize,
)
from .logit_pass import Chunks, open_for_logits, scored_logits
from .logprob_file import LogProbFile, LogProbWriter, row_dtype

_BLOCK_ENTRIES = 1 << 17  # rows × vocabulary scored at once: float64 copies that stay in cache
KEEP = 2  # full-vocabulary reference files kept in the cache (newest used first)
_SPARE = 256 << 20  # free disk left over after the full-vocabulary file
_FORMAT = "logp16-v1"  # bump when logprob_file's layout changes

Progress = Callable[[str], None]


@dataclass
class ReferencePass:
    """The reference's distributions over the scored tokens, and how they were obtained.

    Exactly one of `log_probs` (the whole vocabulary, on disk) and `top` (top K, in memory).
    """

    vocab: int
    seconds: float  # 0 when it came from the cache
    cache_file: Path
    log_probs: LogProbFile | None = None
    top: ReferenceTopK | None = None

    @property
    def exact(self) -> bool:
        """Whether the KLD is exact (the whole vocabulary) rather than a top-K lower bound."""
        return self.top is None

    @property
    def k(self) -> int | None:
        """Log-probs kept per token in the top-K form; None for the whole vocabulary."""
        return None if self.top is None else int(self.top.ids.shape[1])

    @property
    def next_logp(self) -> np.ndarray:
        return self.top.next_logp if self.top is not None else self.log_probs.next_logp

    @property
    def max_tail_mass(self) -> float:
        """The most probability left out of the comparison at any token (0: none)."""
        return self.top.max_tail_mass if self.top is not None else 0.0

    def score(self, logits: np.ndarray, start: int, next_tokens: np.ndarray) -> TokenScores:
        """Scores of a quant's logits for scored tokens start, start + 1, …"""
        stop = start + len(next_tokens)
        if self.top is not None:
            return score_tokens(logits, self.top.rows(start, stop), next_tokens)
        ref = self.log_probs
        return score_full(logits, ref.logp(start, stop), ref.next_logp[start:stop],
                          ref.argmax[start:stop], next_tokens)


def file_identity(path: Path) -> str:
    """Name, size and modification time: cheap, and changes whenever the file is rebuilt."""
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _cache_file(reference: Path, chunks: Chunks, k: int | None) -> Path:
    text = hashlib.sha256(chunks.tokens[: chunks.n_chunks * chunks.ctx].tobytes()).hexdigest()
    form = _FORMAT if k is None else k
    key = json.dumps([file_identity(reference), chunks.ctx, chunks.n_chunks, form, text, "f16kv"])
    name = f"reference-{hashlib.sha256(key.encode()).hexdigest()[:20]}"
    return home_dir() / "bench" / (f"{name}.logp" if k is None else f"{name}.npz")


def reference_pass(reference: Path, chunks: Chunks, *, k: int | None = None,
                   threads: int | None = None, gpu_layers: int = 0,
                   progress: Progress | None = None) -> ReferencePass:
    """The reference's distributions over `chunks`, from the cache or one pass.

    Args:
        k: keep only the top K log-probs per token (a lower bound on the KLD when K is
            smaller than the vocabulary); None (default): the whole vocabulary, exact.

    Raises:
        InvalidRequestError: not enough free disk for the full-vocabulary file.
        InvalidModelError: llama.cpp could not load or evaluate the reference.
    """
    if k is not None and k >= chunks.vocab:
        k = None  # the top K is the whole vocabulary: the exact form costs no more
    file = _cache_file(reference, chunks, k)
    cached = _load(file, chunks.vocab) if file.is_file() else None
    if cached is not None:
        os.utime(file)  # most recently used: kept by the eviction below
        _say(progress, f"reference: cached ({file.name})")
        return cached
    if k is None:
        _check_disk(file, chunks)
    start = time.perf_counter()
    llm = open_for_logits(reference, chunks.ctx, threads=threads, gpu_layers=gpu_layers)
    try:
        passes = _top_k_pass(llm, chunks, k, file, progress) if k is not None \
            else _full_pass(llm, chunks, file, progress)
    finally:
        llm.close()
    if k is None:
        _evict_old(file)
    passes.seconds = time.perf_counter() - start
    return passes


def _full_pass(llm, chunks: Chunks, file: Path, progress: Progress | None) -> ReferencePass:
    """Stream every scored token's log-probs over the whole vocabulary to `file`."""
    from quantize.atomic import atomic_output

    with atomic_output(file) as temp, open(temp, "wb") as out:
        writer = LogProbWriter(out, chunks.scored_tokens, chunks.vocab)
        for index, (logits, next_tokens) in enumerate(scored_logits(llm, chunks)):
            for rows in _blocks(len(next_tokens), chunks.vocab):
                writer.add(logits[rows], next_tokens[rows])
            _say(progress, f"reference: chunk {index + 1}/{chunks.n_chunks}")
        writer.finish()
    return ReferencePass(chunks.vocab, 0.0, file, log_probs=LogProbFile(file))


def _top_k_pass(llm, chunks: Chunks, k: int, file: Path,
                progress: Progress | None) -> ReferencePass:
    """Keep each scored token's top `k` log-probs and tail mass, in memory and in `file`."""
    from quantize.atomic import atomic_output

    parts = []
    for index, (logits, next_tokens) in enumerate(scored_logits(llm, chunks)):
        parts.extend(ReferenceTopK.from_logits(logits[rows], next_tokens[rows], k)
                     for rows in _blocks(len(next_tokens), chunks.vocab))
        _say(progress, f"reference: chunk {index + 1}/{chunks.n_chunks}")
    top = ReferenceTopK.concat(parts)
    with atomic_output(file) as temp, open(temp, "wb") as out:
        np.savez(out, vocab=np.int64(chunks.vocab),
                 **{name: getattr(top, name) for name in ReferenceTopK.__dataclass_fields__})
    return ReferencePass(chunks.vocab, 0.0, file, top=top)


def _load(file: Path, vocab: int) -> ReferencePass | None:
    """A cached reference, or None when it is unreadable (it is then computed again)."""
    try:
        if file.suffix == ".logp":
            return ReferencePass(vocab, 0.0, file, log_probs=LogProbFile(file))
        with np.load(file) as data:
            top = ReferenceTopK(*(data[name] for name in ReferenceTopK.__dataclass_fields__))
        return ReferencePass(vocab, 0.0, file, top=top)
    except (OSError, KeyError, ValueError, EOFError):
        return None


def _check_disk(file: Path, chunks: Chunks) -> None:
    """Refuse, before the pass, a full-vocabulary file that the disk cannot take."""
    import shutil

    from quantize.display import format_bytes

    need = chunks.scored_tokens * (2 * chunks.vocab + row_dtype(chunks.vocab).itemsize)
    where = file.parent
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    if free < need + _SPARE:
        raise InvalidRequestError(
            f"the reference's log-probs over the whole vocabulary need {format_bytes(need)} in "
            f"{file.parent} ({chunks.scored_tokens:,} tokens × {chunks.vocab:,}) with "
            f"{format_bytes(_SPARE)} to spare, and {format_bytes(free)} is free: free some "
            "space, use fewer --chunks, or --top-k 1024 for a lower bound on the KLD kept in "
            "memory")


def _evict_old(keep: Path) -> None:
    """Remove all but the newest KEEP full-vocabulary reference files (`keep` among them)."""
    files = sorted(keep.parent.glob("reference-*.logp"), key=lambda f: f.stat().st_mtime,
                   reverse=True)
    for old in [f for f in files if f != keep][KEEP - 1:]:
        old.unlink(missing_ok=True)


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
            raise InvalidModelError(f"{path.name} has a {llm.n_vocab()}-token vocabulary but "
                                    f"the reference has {reference.vocab}; not the same model")
        parts = []
        per_chunk = chunks.scored_per_chunk
        for index, (logits, next_tokens) in enumerate(scored_logits(llm, chunks)):
            parts.extend(reference.score(logits[rows], index * per_chunk + rows.start,
                                         next_tokens[rows])
                         for rows in _blocks(per_chunk, chunks.vocab))
            _say(progress, f"{label or path.name}: chunk {index + 1}/{chunks.n_chunks}")
    finally:
        llm.close()
    stats = summarize(TokenScores.concat(parts))
    stats.extra.update(seconds=time.perf_counter() - start,
                       reference_max_tail_mass=reference.max_tail_mass)
    return stats


def _blocks(n_rows: int, vocab: int) -> Iterator[slice]:
    """Row ranges of about _BLOCK_ENTRIES entries: for a 152k vocabulary one row at a time,
    measured 3x faster than 32 (each float64 temporary stays in the CPU's cache)."""
    step = max(1, _BLOCK_ENTRIES // vocab)
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _say(progress: Progress | None, line: str) -> None:
    if progress is not None:
        progress(line)
