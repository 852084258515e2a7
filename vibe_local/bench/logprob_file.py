"""The reference's next-token log-probabilities over the whole vocabulary, 16 bits each, on disk.

An exact KL divergence needs every log-probability of the reference at every scored token: for
VibeThinker's 151,936-token vocabulary that is 1.2 MB per token in float64, too much to hold for
a whole text. So the reference pass streams them to a file, chunk by chunk, and each quant pass
reads back one block of rows at a time: memory stays at a block, whatever the text's length.

Each row is kept much as `llama-perplexity --kl-divergence-base` keeps it, as 16-bit codes on a
linear scale per row (a code is at most half a step, WINDOW / 65,534 / 2 ≈ 0.00024 nats, from
the true log-prob), with three differences that make the KLD exact to well under 0.1 %:
- the window is WINDOW nats below the row's most likely token (llama.cpp keeps 16); tokens
  below it (each under e^-32 of the top token's probability, less than 2e-9 of the mass over
  the whole vocabulary) read back as probability 0;
- the EXACT most likely tokens of each row keep their float64 log-probs: in a peaked
  distribution they carry nearly all of the KLD, and rounding them would not average out;
- the next token's log-prob and the argmax are stored exactly, so PPL(base), Δp and "same top"
  carry no rounding at all. Decoded rows are renormalized into a proper distribution.

Layout: two NumPy `.npy` arrays back to back in one file (numpy's own header, so numpy documents
the format): the codes, uint16 [tokens, vocab], written as they come, then one record per token
(lo, step, next_logp, argmax, the exact tokens' ids and log-probs), small, at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

from .kld_stats import log_softmax

WINDOW = 32.0  # nats below the top log-prob that are kept; below reads back as probability 0
EXACT = 64  # most likely tokens per row whose log-probs are kept exactly
_LEVELS = 65534  # codes 1..65535 span the window; 0 means "below the window"


def row_dtype(vocab: int) -> np.dtype:
    """The per-token record of a file for a `vocab`-token vocabulary."""
    exact = min(EXACT, vocab)
    return np.dtype([("lo", "<f8"), ("step", "<f8"), ("next_logp", "<f8"), ("argmax", "<i4"),
                     ("exact_ids", "<i4", (exact,)), ("exact_logp", "<f8", (exact,))])


def encode(logp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """16-bit codes [n, vocab] of log-probs [n, vocab], and each row's lo and step."""
    top = logp.max(axis=1)
    lo = np.maximum(logp.min(axis=1), top - WINDOW)
    step = (top - lo) / _LEVELS
    scaled = logp - lo[:, None]
    scaled /= np.where(step > 0, step, 1.0)[:, None]
    below = scaled < -0.5  # under the window: not even rounded up to its lowest code
    np.rint(scaled, out=scaled)
    scaled += 1
    scaled[below] = 0
    return scaled.astype(np.uint16), lo, step


def decode(codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Log-probs [n, vocab] from codes and records, renormalized; -inf below the window."""
    logp = codes.astype(np.float64)
    logp -= 1
    logp *= rows["step"][:, None]
    logp += rows["lo"][:, None]
    logp[codes == 0] = -np.inf
    np.put_along_axis(logp, rows["exact_ids"].astype(np.intp), rows["exact_logp"], axis=1)
    top = logp.max(axis=1, keepdims=True)
    logp -= top + np.log(np.exp(logp - top).sum(axis=1, keepdims=True))
    return logp


class LogProbWriter:
    """Streams rows into an open binary file: `add` per block of scored tokens, then `finish`."""

    def __init__(self, out: BinaryIO, n_tokens: int, vocab: int):
        self.out, self.n_tokens, self.vocab = out, n_tokens, vocab
        self.rows = np.zeros(n_tokens, dtype=row_dtype(vocab))
        self.written = 0
        np.lib.format.write_array_header_1_0(out, {"descr": "<u2", "fortran_order": False,
                                                   "shape": (n_tokens, vocab)})

    def add(self, logits: np.ndarray, next_tokens: np.ndarray) -> None:
        """Write the rows of `logits` [n, vocab] (the tokens that follow: `next_tokens`)."""
        logp = log_softmax(logits)
        done, n = self.written, len(logp)
        if done + n > self.n_tokens:
            raise ValueError(f"more than the {self.n_tokens} rows announced")
        block = self.rows[done:done + n]
        exact = block.dtype["exact_ids"].shape[0]
        ids = np.argpartition(logp, -exact, axis=1)[:, -exact:] if exact < self.vocab \
            else np.broadcast_to(np.arange(exact), (n, exact))
        block["exact_ids"] = ids
        block["exact_logp"] = np.take_along_axis(logp, ids, axis=1)
        block["next_logp"] = logp[np.arange(n), np.asarray(next_tokens)]
        block["argmax"] = logp.argmax(axis=1)
        codes, block["lo"], block["step"] = encode(logp)
        self.out.write(codes.tobytes())
        self.written += n

    def finish(self) -> None:
        if self.written != self.n_tokens:
            raise ValueError(f"{self.written} rows written of the {self.n_tokens} announced")
        np.save(self.out, self.rows)


class LogProbFile:
    """A finished file, read back a block of rows at a time.

    Raises:
        ValueError: not a complete file of this layout.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb") as f:
            if np.lib.format.read_magic(f) != (1, 0):
                raise ValueError(f"{path}: not a log-prob file")
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            if fortran or dtype != np.uint16 or len(shape) != 2:
                raise ValueError(f"{path}: not a log-prob file")
            self.offset = f.tell()
            self.n_tokens, self.vocab = shape
            f.seek(self.offset + 2 * self.n_tokens * self.vocab)
            rows = np.load(f)
        if rows.dtype != row_dtype(self.vocab) or len(rows) != self.n_tokens:
            raise ValueError(f"{path}: its per-token records do not match its rows")
        self.rows = rows

    @property
    def next_logp(self) -> np.ndarray:
        return self.rows["next_logp"]

    @property
    def argmax(self) -> np.ndarray:
        return self.rows["argmax"]

    def logp(self, start: int, stop: int) -> np.ndarray:
        """Log-probs of scored tokens start..stop-1 over the whole vocabulary, float64."""
        count = (stop - start) * self.vocab
        codes = np.fromfile(self.path, dtype=np.uint16, count=count,
                            offset=self.offset + 2 * start * self.vocab)
        if len(codes) != count:
            raise ValueError(f"{self.path}: shorter than its header says")
        return decode(codes.reshape(stop - start, self.vocab), self.rows[start:stop])
