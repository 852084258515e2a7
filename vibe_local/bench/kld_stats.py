"""How far a quant's next-token distributions are from the 16-bit model's, per token and overall.

The definitions are those of llama.cpp's `llama-perplexity --kl-divergence` (KL divergence,
Δp, "same top p", PPL(Q)/PPL(base) with their uncertainties and percentiles), so the numbers can
be read the way people already read them. Two ways to hold the reference:
- the whole vocabulary (`score_full`, with the log-probs the reference pass wrote to disk,
  logprob_file.py): the KLD is exact; the default;
- only its top K per scored token plus the mass of the rest as one bucket (`ReferenceTopK`,
  `score_tokens`; `--top-k K`). Merging outcomes never increases a KL divergence (log-sum
  inequality), so the bucketed KLD is exact when the vocabulary has at most K tokens and a lower
  bound otherwise; the gap is at most what the reference puts outside its top K, which
  `ReferenceTopK.max_tail_mass` reports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

KLD_PERCENTILES = (99.9, 99.0, 95.0, 90.0, 10.0, 5.0, 1.0, 0.1)
DP_PERCENTILES = (99.9, 99.0, 95.0, 90.0, 75.0, 25.0, 10.0, 5.0, 1.0, 0.1)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-probabilities in float64."""
    x = np.asarray(logits, dtype=np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _logsumexp_outside(logp: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """log of the probability mass of each row outside the columns `ids` (-inf when none)."""
    if ids.shape[1] >= logp.shape[1]:
        return np.full(logp.shape[0], -np.inf)
    rest = logp.copy()
    np.put_along_axis(rest, ids, -np.inf, axis=1)
    top = rest.max(axis=1)
    with np.errstate(invalid="ignore"):
        mass = np.exp(rest - top[:, None]).sum(axis=1)
    return np.where(np.isfinite(top), top + np.log(mass), -np.inf)


@dataclass
class ReferenceTopK:
    """The reference model's distribution at each scored token, kept compactly.

    ids/logp: the K most likely tokens and their log-probabilities, [n, K]; tail_logp: log of
    the mass outside them, [n] (-inf when the vocabulary has at most K tokens); next_logp: the
    log-probability of the token that actually follows; argmax: the most likely token.
    """

    ids: np.ndarray
    logp: np.ndarray
    tail_logp: np.ndarray
    next_logp: np.ndarray
    argmax: np.ndarray

    @classmethod
    def from_logits(cls, logits: np.ndarray, next_tokens: np.ndarray, k: int) -> ReferenceTopK:
        """Compact full reference logits [n, vocab] to the top `k` per row."""
        logp = log_softmax(logits)
        n, vocab = logp.shape
        if k >= vocab:
            ids = np.broadcast_to(np.arange(vocab, dtype=np.int32), (n, vocab)).copy()
        else:
            ids = np.argpartition(-logp, k - 1, axis=1)[:, :k].astype(np.int32)
        rows = np.arange(n)
        return cls(ids=ids, logp=np.take_along_axis(logp, ids, axis=1).astype(np.float32),
                   tail_logp=_logsumexp_outside(logp, ids),
                   next_logp=logp[rows, np.asarray(next_tokens)],
                   argmax=logp.argmax(axis=1).astype(np.int32))

    @classmethod
    def concat(cls, parts: list[ReferenceTopK]) -> ReferenceTopK:
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in cls.__dataclass_fields__))

    def rows(self, start: int, stop: int) -> ReferenceTopK:
        return ReferenceTopK(*(getattr(self, name)[start:stop]
                               for name in self.__dataclass_fields__))

    def __len__(self) -> int:
        return len(self.next_logp)

    @property
    def max_tail_mass(self) -> float:
        """The most probability the reference put outside its top K at any token (0: exact)."""
        return float(np.exp(self.tail_logp.max())) if len(self) else 0.0


@dataclass
class TokenScores:
    """Per scored token: KLD, Δp = p_Q(next) − p_base(next), both NLLs, same argmax or not."""

    kld: np.ndarray
    p_diff: np.ndarray
    nll: np.ndarray
    nll_base: np.ndarray
    same_top: np.ndarray

    @classmethod
    def concat(cls, parts: list[TokenScores]) -> TokenScores:
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in cls.__dataclass_fields__))


def score_tokens(logits: np.ndarray, ref: ReferenceTopK, next_tokens: np.ndarray) -> TokenScores:
    """Compare a quant's logits [n, vocab] at the scored tokens with the reference's top K.

    KLD = Σ_topK p (log p − log q) + p_tail log(p_tail / q_tail), q_tail being the quant's mass
    outside the reference's top K: exact for vocab ≤ K, a lower bound otherwise.
    """
    logq = log_softmax(logits)
    rows = np.arange(len(logq))
    q_top = np.take_along_axis(logq, ref.ids.astype(np.int64), axis=1)
    p_ref = np.exp(ref.logp.astype(np.float64))
    kld = (p_ref * (ref.logp - q_top)).sum(axis=1)
    has_tail = np.isfinite(ref.tail_logp)
    if has_tail.any():
        q_tail = _logsumexp_outside(logq, ref.ids)
        with np.errstate(invalid="ignore"):
            tail = np.exp(ref.tail_logp) * (ref.tail_logp - q_tail)
        kld = kld + np.where(has_tail, tail, 0.0)
    nll = -logq[rows, np.asarray(next_tokens)]
    nll_base = -np.asarray(ref.next_logp, dtype=np.float64)
    return TokenScores(kld=kld, p_diff=np.exp(-nll) - np.exp(-nll_base), nll=nll,
                       nll_base=nll_base, same_top=logq.argmax(axis=1) == ref.argmax)


def score_full(logits: np.ndarray, ref_logp: np.ndarray, ref_next_logp: np.ndarray,
               ref_argmax: np.ndarray, next_tokens: np.ndarray) -> TokenScores:
    """Compare a quant's logits [n, vocab] with the reference's log-probs over the whole vocabulary.

    KLD = Σ p (log p − log q) over every token the reference gives a probability (exact).
    """
    logq = log_softmax(logits)
    rows = np.arange(len(logq))
    p_ref = np.exp(ref_logp)
    gap = np.subtract(ref_logp, logq, out=np.zeros_like(logq), where=p_ref > 0)
    kld = np.einsum("ij,ij->i", p_ref, gap)
    nll = -logq[rows, np.asarray(next_tokens)]
    nll_base = -np.asarray(ref_next_logp, dtype=np.float64)
    return TokenScores(kld=kld, p_diff=np.exp(-nll) - np.exp(-nll_base), nll=nll,
                       nll_base=nll_base, same_top=logq.argmax(axis=1) == ref_argmax)


def mean_and_error(values: np.ndarray) -> tuple[float, float]:
    """Mean and its standard error as llama.cpp computes them (0 error for ≤ 10 values)."""
    n = len(values)
    if n < 1:
        return 0.0, 0.0
    mean = float(values.sum() / n)
    var = float((values * values).sum() / n - mean * mean)
    return mean, (float(np.sqrt(var / (n - 1))) if var > 0 and n > 10 else 0.0)


def _covariance_of_means(a: np.ndarray, b: np.ndarray) -> float:
    n = len(a)
    if n < 10:
        return 0.0
    return float(((a * b).sum() / n - (a.sum() / n) * (b.sum() / n)) / (n - 1))


def percentiles(values: np.ndarray, which: tuple[float, ...]) -> dict[str, float]:
    """Max, the given percentiles (linear interpolation, as llama.cpp), median and min."""
    out = {"max": float(values.max())}
    out.update({f"p{q:g}": float(np.percentile(values, q)) for q in which if q > 50})
    out["median"] = float(np.median(values))
    out.update({f"p{q:g}": float(np.percentile(values, q)) for q in which if q < 50})
    out["min"] = float(values.min())
    return out


@dataclass
class FidelityStats:
    """llama-perplexity's KL-divergence report, as numbers (probabilities as fractions)."""

    tokens: int
    kld_mean: float
    kld_err: float
    kld: dict[str, float]
    ppl: float
    ppl_err: float
    ppl_base: float
    ppl_base_err: float
    ppl_correlation: float
    ln_ppl_ratio: float
    ln_ppl_ratio_err: float
    ppl_ratio: float
    ppl_ratio_err: float
    ppl_diff: float
    ppl_diff_err: float
    dp_mean: float
    dp_err: float
    dp: dict[str, float]
    dp_rms: float
    dp_rms_err: float
    same_top: float
    same_top_err: float
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(scores: TokenScores) -> FidelityStats:
    """Aggregate per-token scores into llama.cpp's statistics."""
    n = len(scores.kld)
    if n == 0:
        raise ValueError("no scored tokens")
    ln_q, ln_q_err = mean_and_error(scores.nll)
    ln_b, ln_b_err = mean_and_error(scores.nll_base)
    cov = _covariance_of_means(scores.nll, scores.nll_base)
    ppl, ppl_base = float(np.exp(ln_q)), float(np.exp(ln_b))
    ratio_err = float(np.sqrt(max(ln_q_err**2 + ln_b_err**2 - 2 * cov, 0.0)))
    ppl_err, ppl_base_err = ppl * ln_q_err, ppl_base * ln_b_err
    diff_err = np.sqrt(max(ppl_err**2 + ppl_base_err**2 - 2 * ppl * ppl_base * cov, 0.0))
    mse, mse_err = mean_and_error(scores.p_diff**2)
    rms = float(np.sqrt(mse))
    same = float(scores.same_top.mean())
    kld_mean, kld_err = mean_and_error(scores.kld)
    dp_mean, dp_err = mean_and_error(scores.p_diff)
    correlation = cov / (ln_q_err * ln_b_err) if ln_q_err and ln_b_err else 0.0
    return FidelityStats(
        tokens=n, kld_mean=kld_mean, kld_err=kld_err,
        kld=percentiles(scores.kld, KLD_PERCENTILES),
        ppl=ppl, ppl_err=ppl_err, ppl_base=ppl_base, ppl_base_err=ppl_base_err,
        ppl_correlation=float(correlation),
        ln_ppl_ratio=ln_q - ln_b, ln_ppl_ratio_err=ratio_err,
        ppl_ratio=float(np.exp(ln_q - ln_b)), ppl_ratio_err=float(np.exp(ln_q - ln_b)) * ratio_err,
        ppl_diff=ppl - ppl_base, ppl_diff_err=float(diff_err),
        dp_mean=dp_mean, dp_err=dp_err, dp=percentiles(scores.p_diff, DP_PERCENTILES),
        dp_rms=rms, dp_rms_err=0.5 / rms * mse_err if rms > 0 else 0.0,
        same_top=same,
        same_top_err=float(np.sqrt(same * (1 - same) / (n - 1))) if n > 1 else 0.0,
    )
