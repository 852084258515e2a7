"""Exact temperature / top-k / top-p / min-p sampling over a full vocabulary, without a full sort.

Hand-written because llama.cpp's top-p sorts all 151,936 logits whenever the nucleus spans more
than its 256-candidate fast path (2.5-30 ms per token, up to a fifth of a token's time), and no
library samples an exact nucleus any cheaper.

The definition, in the order VibeThinker was evaluated with (Hugging Face / vLLM): tokens ranked
by logit, highest first, equal logits by token id; weight w = exp((logit - max) / temperature),
so the top token weighs 1; keep the first `top_k`; then the shortest prefix whose weight reaches
`top_p` of what is kept; then the tokens with w >= `min_p`; draw one in proportion to w.
Temperature 0 is greedy (the first highest logit). tests/test_nucleus.py checks this module
against that definition computed with a full sort.

Why no sort is needed: every filter keeps a prefix of the ranking, and the tokens of weight at
least t form a prefix for any t. Peaked logits: the tokens within a factor 2**10 of the top one
usually hold the mass; they are few, and sorted. Otherwise two thresholds estimated from every
64th weight bracket the cut (3 standard errors either side): every token above the upper one is
kept whole (its weights stay in place for the draw), and the band between the two, a few
thousand tokens, is narrowed by a 256-bucket histogram of the weights' float bits until a few
hundred remain, which are sorted. A bracket that misses the cut is widened, then the whole
vocabulary is sorted, so the result is always exact; only the time varies.

`pick` does not build the set at all when it can help it (top_k off): it draws a token from the
whole tempered distribution (the weights lie in a square grid: walk the row sums, then one row)
and keeps it if the filters would (its weight reaches min_p, and the tokens ranked before it
hold less than top_p of the weight: one compare and one sum over the vocabulary, none for a
token heavy enough to be kept wherever it ranks), else draws again. Conditioned on being kept,
a token drawn in proportion to its weight is drawn in proportion to its weight among the kept
ones, so this is the same distribution; with VibeThinker's top_p 0.95 the first draw is kept
95 % of the time. After a few misses (a small top_p, a strict min_p) the set is built as above.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

SMALL = 2048  # sets up to this size are sorted outright
HEAD = np.float32(2.0**-10)  # weight of the candidates tried first (peaked logits)
STRIDE = 64  # one weight in STRIDE estimates the mass curve
Z_SCORES = (3.0, 12.0)  # bracket half-widths, in standard errors of that estimate
TINY = np.float32(np.finfo(np.float32).smallest_subnormal)  # "any positive weight"
ATTEMPTS = 4  # draws from the whole distribution before `pick` builds the kept set instead
SLACK = 1e-4  # share of the weight within which float32 row sums (error < 1e-5) defer to float64
MASK64 = (1 << 64) - 1
SMALLEST_TOTAL = 1e-12  # unshifted weights summing to less: the top one is under 1e-12, and
#   weights 1e-26 times smaller would already be subnormal floats

F64 = np.float64


class Kept:
    """The kept tokens: every token whose weight is at least a threshold (their weights in
    `grid`, zero elsewhere, one row per chunk of ids) plus an explicit list. Drawing walks the
    threshold part in id order, then the list in its order: any fixed order gives the same
    distribution, and a fixed one makes a seed reproducible. `grid` is the Nucleus's work
    buffer: a Kept is valid until the next `keep`."""

    def __init__(self, grid: np.ndarray | None, ids: np.ndarray, weights: np.ndarray,
                 rows: np.ndarray | None = None):
        self.grid = grid
        if grid is not None and rows is None:
            rows = grid.sum(axis=1, dtype=F64)
        self.row_mass = np.cumsum(rows) if grid is not None else None
        self.ids = ids
        self.list_mass = np.cumsum(weights, dtype=F64)

    def draw(self, u: float) -> int:
        """The token at fraction `u` (in [0, 1)) of the kept mass."""
        above = float(self.row_mass[-1]) if self.row_mass is not None else 0.0
        listed = float(self.list_mass[-1]) if self.list_mass.size else 0.0
        r = u * (above + listed)
        if r < above or not listed:
            return self._draw_grid(min(r, above))
        return int(self.ids[_index(self.list_mass, r - above)])

    def _draw_grid(self, r: float) -> int:
        row = _index(self.row_mass, r)
        before = float(self.row_mass[row - 1]) if row else 0.0
        return _draw_in_row(self.grid, row, (r - before) / (float(self.row_mass[row]) - before))


def _draw_by_rows(grid: np.ndarray, rows: list[float], r: float) -> int:
    """The token at mass `r` of `grid` walked in id order, given its row sums (a plain loop
    over a few hundred floats)."""
    for row, mass in enumerate(rows):
        if r < mass:
            return _draw_in_row(grid, row, r / mass)
        r -= mass
    # Rounding left r at the end: the last token of weight.
    return _draw_in_row(grid, max(i for i, mass in enumerate(rows) if mass > 0), 1.0)


def _draw_in_row(grid: np.ndarray, row: int, share: float) -> int:
    """The token at fraction `share` of row `row`'s mass (a plain loop over a few hundred
    floats). The row's own sum and the row mass it was chosen by can differ in the last bits:
    scale, do not clip."""
    cells = grid[row].tolist()
    r = share * sum(cells)
    for col, weight in enumerate(cells):
        if r < weight:
            return row * grid.shape[1] + col
        r -= weight
    return row * grid.shape[1] + max(i for i, weight in enumerate(cells) if weight > 0)


def _index(cumulative: np.ndarray, r: float) -> int:
    """First position whose cumulative mass exceeds r (the last positive one if rounding put r
    at or past the end)."""
    i = int(np.searchsorted(cumulative, r, side="right"))
    if i < cumulative.size:
        return i
    return int(np.flatnonzero(np.diff(cumulative, prepend=0.0))[-1])


class Nucleus:
    """Truncated sampling for one reply, with its work buffers (allocated once per vocabulary)."""

    def __init__(self, n_vocab: int, temperature: float, top_p: float = 1.0, top_k: int = 0,
                 min_p: float = 0.0):
        self.n, self.top_p, self.top_k = n_vocab, float(top_p), int(top_k)
        self.min_p = np.float32(min_p)
        self.inv_t = np.float32(1.0 / temperature)
        rows = math.isqrt(n_vocab - 1) + 1  # as many rows as columns: both draw loops short
        self._w_grid = np.zeros((rows, -(-n_vocab // rows)), np.float32)  # zero past the end
        self.w = self._w_grid.reshape(-1)[:n_vocab]
        self._above = np.empty(n_vocab, bool)
        self._band = np.empty(n_vocab, bool)
        self._mask_grid = np.zeros(self._w_grid.shape, bool)  # a compare's result, by row
        self._floor = self.min_p  # min_p in the weights' scale

    def pick(self, logits: np.ndarray, u: float) -> int:
        """The token drawn at `u` (uniform in [0, 1)) from the truncated distribution: drawn
        from the whole distribution until the filters keep one (further uniform numbers derived
        from `u`), or after ATTEMPTS misses from the kept set built outright. Few and plain
        numpy calls: between two decode steps the caches hold llama.cpp's weights, and each
        distinct call pays for bringing its code back."""
        uniforms = _uniforms(u)
        if self.top_k > 0:
            return self.keep(logits).draw(next(uniforms))
        rows, total = self._weigh_for_drawing(logits)
        for _, v in zip(range(ATTEMPTS), uniforms):
            token = _draw_by_rows(self._w_grid, rows, v * total)
            if self._admits(logits, token, total):
                return token
        return self.keep(logits).draw(next(uniforms))

    def _weigh_for_drawing(self, logits: np.ndarray) -> tuple[list[float], float]:
        """exp(logit / temperature) into the work buffer, with its row sums and total. The
        peak is not subtracted (two passes fewer): a common factor changes no probability, and
        min_p is scaled to match. Only where a weight overflows, or the weights are so small
        that some that count could be subnormal floats, is the peak subtracted."""
        w = self.w
        with np.errstate(over="ignore"):
            np.exp(logits if self.inv_t == 1 else np.multiply(logits, self.inv_t, out=w), out=w)
        rows, total = self._row_sums()
        if not SMALLEST_TOTAL < total < math.inf:
            self._weigh(logits, logits.max())
            rows, total = self._row_sums()
        self._floor = self.min_p * w.max() if self.min_p > 0 else self.min_p
        return rows, total

    def _row_sums(self) -> tuple[list[float], float]:
        rows = np.einsum("ij->i", self._w_grid).tolist()
        return rows, math.fsum(rows)

    def _admits(self, logits: np.ndarray, token: int, total: float) -> bool:
        """Whether the filters keep `token` (weighed by `_weigh_for_drawing`): weight at least
        min_p of the top one, and less than top_p of `total` ranked before it. Weights are
        monotone in the logit, so the weight at least the token's (itself excluded) bounds what
        is ranked before it from above and the weight above it from below; these sums run per
        row in float32 over the weights, which are hot in the cache. Within SLACK of the cut,
        or between the bounds, float64 decides."""
        weight = self.w[token]
        if weight < self._floor:
            return False
        if self.top_p >= 1:
            return True
        target, slack = self.top_p * total, SLACK * total
        if total - float(weight) < target - slack:  # a heavy token: kept wherever it ranks
            return True
        if self._mass(np.greater_equal, weight) - float(weight) < target - slack:
            return True
        if self._mass(np.greater, weight) >= target + slack:
            return False
        return self._admits_exactly(logits, token)

    def _mass(self, compare, weight: np.float32) -> float:
        """The total of the weights that compare true against `weight` (positive)."""
        compare(self._w_grid, weight, out=self._mask_grid)
        return math.fsum(np.einsum("ij,ij->i", self._w_grid, self._mask_grid).tolist())

    def _admits_exactly(self, logits: np.ndarray, token: int) -> bool:
        """`_admits` in float64, ties ranked by token id, as the definition sums."""
        w, level = self.w, logits[token]
        before = float(w[logits > level].sum(dtype=F64))
        tied = np.flatnonzero(logits == level)
        before += float(w[tied[tied < token]].sum(dtype=F64))
        return before < self.top_p * float(w.sum(dtype=F64))

    def keep(self, logits: np.ndarray) -> Kept:
        """Which tokens the filters keep, with their weights."""
        peak = logits.max()
        if self.top_k > 0:
            return self._keep_top_k(logits, peak)
        w = self._weigh(logits, peak)
        total = float(self._w_grid.sum(dtype=F64))
        target = self.top_p * total if self.top_p < 1 else None
        if self.min_p > 0:
            ids = np.flatnonzero(w >= self.min_p)
            weights = w[ids]
            if target is None or float(weights.sum(dtype=F64)) < target:
                return self._at_least(self.min_p) if ids.size > SMALL else Kept(None, ids, weights)
            if ids.size <= SMALL:  # the nucleus lies within the min-p set
                return Kept(None, *_prefix(logits, ids, weights, target))
        if target is None:
            return Kept(self._w_grid, np.empty(0, np.intp), np.empty(0, np.float32))
        return self._nucleus(logits, target, total)

    def _weigh(self, logits: np.ndarray, peak: np.float32) -> np.ndarray:
        """The weights exp((logit - peak) / temperature), into the work buffer."""
        w = self.w
        np.subtract(logits, peak, out=w)
        np.multiply(w, self.inv_t, out=w)
        return np.exp(w, out=w)

    def _keep_top_k(self, logits: np.ndarray, peak: np.float32) -> Kept:
        """The top_k best logits (found by a threshold, then sorted), then top-p of their weight
        and min-p."""
        ids = _best(logits, peak, min(self.top_k, self.n))
        weights = np.exp((logits[ids] - peak) * self.inv_t)
        if self.top_p < 1:
            mass = np.cumsum(weights, dtype=F64)
            end = min(int(np.searchsorted(mass, self.top_p * mass[-1], side="left")) + 1, ids.size)
            ids, weights = ids[:end], weights[:end]
        if self.min_p > 0:
            end = int(np.count_nonzero(weights >= self.min_p))
            ids, weights = ids[:end], weights[:end]
        return Kept(None, ids, weights)

    def _at_least(self, threshold: np.float32) -> Kept:
        """Every token of weight >= threshold, as the threshold part of a Kept."""
        np.multiply(self.w, self.w >= threshold, out=self.w)
        return Kept(self._w_grid, np.empty(0, np.intp), np.empty(0, np.float32))

    def _nucleus(self, logits: np.ndarray, target: float, total: float) -> Kept:
        """The shortest prefix of the ranking holding `target` weight."""
        w, base = self.w, None
        sample = w[::STRIDE]
        if np.count_nonzero(sample >= HEAD) * STRIDE <= 2 * SMALL:  # likely a small head
            head = np.flatnonzero(np.greater_equal(w, HEAD, out=self._above))
            head_w = w[head]
            base = float(head_w.sum(dtype=F64))
            if base >= target:
                return Kept(None, *_prefix(logits, head, head_w, target))
        sample = np.sort(sample)[::-1]
        for z in Z_SCORES:
            hi, lo = _bracket(sample, STRIDE, target, total, z, base)
            kept = self._split(logits, hi, lo, target)
            if kept is not None:
                return kept
            self._weigh(logits, logits.max())  # _split zeroed part of the weights
        return Kept(None, *_prefix(logits, np.arange(self.n), w.copy(), target))

    def _split(self, logits: np.ndarray, hi: np.float32, lo: np.float32,
               target: float) -> Kept | None:
        """Keep every token of weight >= hi whole and search the band [lo, hi) for the rest;
        None when the bracket does not hold the cut. The weights below hi are zeroed in place:
        what remains is the threshold part of the Kept (one array less to stream through)."""
        w = self.w
        above = np.greater_equal(w, hi, out=self._above)
        band = np.flatnonzero(np.greater(np.greater_equal(w, lo, out=self._band), above,
                                         out=self._band))
        band_w = w[band]
        np.multiply(w, above, out=w)
        rows = self._w_grid.sum(axis=1, dtype=F64)
        mass_above = float(rows.sum())
        if not mass_above < target <= mass_above + float(band_w.sum(dtype=F64)):
            return None
        return Kept(self._w_grid, *_prefix(logits, band, band_w, target - mass_above), rows=rows)


def _best(logits: np.ndarray, peak: np.float32, k: int) -> np.ndarray:
    """The k best tokens in ranking order: a threshold below the peak is widened until it holds
    k tokens (and narrowed while it holds far more), then only those are sorted."""
    lo_gap, hi_gap = np.float32(0), np.float32(1)
    while np.count_nonzero(logits >= peak - hi_gap) < k and np.isfinite(hi_gap):
        lo_gap, hi_gap = hi_gap, hi_gap * 2 if hi_gap < 1e30 else np.float32(np.inf)
    for _ in range(24):  # bisect while the threshold holds many more than k
        if np.count_nonzero(logits >= peak - hi_gap) <= max(4 * k, SMALL):
            break
        mid = np.float32((lo_gap + hi_gap) / 2)
        if mid in (lo_gap, hi_gap):
            break
        if np.count_nonzero(logits >= peak - mid) >= k:
            hi_gap = mid
        else:
            lo_gap = mid
    ids = np.flatnonzero(logits >= peak - hi_gap)
    return ids[np.argsort(-logits[ids], kind="stable")[:k]]


def _prefix(logits: np.ndarray, ids: np.ndarray, weights: np.ndarray,
            target: float) -> tuple[np.ndarray, np.ndarray]:
    """The shortest prefix (in ranking order) of the tokens `ids` holding `target` of their
    weight, as (ids, weights). Large sets are first narrowed to one bucket of a 256-bucket
    histogram of the weights' float bits (monotone in the weight), which sorts nothing."""
    if ids.size <= SMALL // 4:
        return _sorted_prefix(logits, ids, weights, target)
    bits = weights.view(np.int32)
    low = int(bits.min())
    shift = max(0, (int(bits.max()) - low).bit_length() - 8)
    key = (bits - low) >> shift
    mass = np.cumsum(np.bincount(key, weights=weights)[::-1])  # heaviest bucket first
    reach = min(int(np.searchsorted(mass, target, side="left")), mass.size - 1)
    bucket = mass.size - 1 - reach
    above = float(mass[reach - 1]) if reach else 0.0
    inside = key == bucket
    if not shift or np.count_nonzero(inside) == ids.size:
        return _sorted_prefix(logits, ids, weights, target)
    heavier = key > bucket
    sub_ids, sub_w = _prefix(logits, ids[inside], weights[inside], target - above)
    return np.concatenate([ids[heavier], sub_ids]), np.concatenate([weights[heavier], sub_w])


def _sorted_prefix(logits: np.ndarray, ids: np.ndarray, weights: np.ndarray,
                   target: float) -> tuple[np.ndarray, np.ndarray]:
    """`_prefix` by sorting. Sorting the weights is enough: they grow with the logit, so sorted
    they are the ranking's sequence of weights; only tokens whose weight equals the one at the
    cut (rounding can merge close logits) are ranked by logit, then id."""
    ranked = np.sort(weights)[::-1]
    mass = np.cumsum(ranked, dtype=F64)
    end = min(int(np.searchsorted(mass, target, side="left")) + 1, ids.size)
    cut = ranked[end - 1]
    keep = weights > cut
    tied = np.flatnonzero(weights == cut)
    wanted = end - int(np.count_nonzero(keep))
    if wanted < tied.size:
        tied = tied[np.argsort(-logits[ids[tied]], kind="stable")[:wanted]]
    keep[tied] = True
    return ids[keep], weights[keep]


def _bracket(sample: np.ndarray, stride: int, target: float, total: float, z: float,
             base: float | None) -> tuple[np.float32, np.float32]:
    """Thresholds (hi, lo) whose kept masses should fall below and reach `target`, from a
    descending sample of one weight in `stride` of a set of mass `total`, `z` standard errors
    either side. The mass at or above a sample is estimated from the samples above it or, when
    that is less precise at the cut, from `total` less the samples below it (a light tail
    estimates tightly). `base`: the exact mass at or above HEAD, which the sample then only
    extends (None: no such head)."""
    if base is not None:
        sample = sample[int(np.count_nonzero(sample >= HEAD)):]
    if not sample.size:
        return (HEAD if base is not None else np.float32(np.inf)), TINY
    top = np.cumsum(sample, dtype=F64)
    square = np.cumsum(np.square(sample, dtype=F64))
    from_top = (base or 0.0) + stride * top
    from_bottom = total - stride * (top[-1] - top)
    cut_top = min(int(np.searchsorted(from_top, target)), sample.size - 1)
    cut_bottom = min(int(np.searchsorted(from_bottom, target)), sample.size - 1)
    floor = float(sample[cut_bottom]) ** 2  # the tokens next to the cut are unsampled too
    var_top, var_bottom = float(square[cut_top]), float(square[-1] - square[cut_bottom]) + floor
    est, variance = (from_top, var_top) if var_top < var_bottom else (from_bottom, var_bottom)
    spread = z * stride * variance ** 0.5
    below = int(np.searchsorted(est, target - spread, side="left"))
    reach = int(np.searchsorted(est, target + spread, side="left"))
    hi = sample[below - 1] if below else (HEAD if base is not None else np.float32(np.inf))
    lo = sample[reach] if reach < sample.size else TINY
    return np.float32(hi), np.float32(max(lo, TINY))


def _uniforms(u: float) -> Iterator[float]:
    """`u`, then uniform numbers derived from it (SplitMix64 seeded by its 53 bits): a draw
    may need several, yet each position takes exactly one number from the reply's generator, so
    speculating and plain decoding stay in step."""
    yield u
    state = int(u * 2.0**53)
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield ((z ^ (z >> 31)) >> 11) / 2.0**53
