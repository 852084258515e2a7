"""The nucleus sampler against its definition computed the slow way, with a full sort.

Exact: which tokens are kept, on hand-built distributions (ties at the cut, long tails, equal
logits everywhere) and on random full-size vocabularies of every shape. Statistical: the tokens
drawn follow the kept distribution (chi-square over many draws, small and full-size vocabularies),
and the same statistic rejects the distributions a wrong order or a missing cut would give.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vibe_local.nucleus import SMALL, Kept, Nucleus

VOCAB = 151_936  # VibeThinker's


def reference(logits: np.ndarray, temperature: float, top_p: float = 1.0, top_k: int = 0,
              min_p: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The definition, by full sort: kept token ids in ranking order and their probabilities."""
    order = np.argsort(-logits, kind="stable")  # highest logit first, equal logits by id
    weights = np.exp((logits - logits.max()) * np.float32(1.0 / temperature))
    total = weights.sum(dtype=np.float64)
    kept = weights[order]
    if top_k:
        order, kept = order[:top_k], kept[:top_k]
        total = kept.sum(dtype=np.float64)
    if top_p < 1:
        mass = np.cumsum(kept, dtype=np.float64)
        end = int(np.argmax(mass >= top_p * total)) + 1 if mass[-1] >= top_p * total else mass.size
        order, kept = order[:end], kept[:end]
    if min_p:
        end = int(np.count_nonzero(kept >= np.float32(min_p)))
        order, kept = order[:end], kept[:end]
    return order, kept / kept.sum(dtype=np.float64)


def kept_ids(kept: Kept, n: int) -> set[int]:
    ids = set(kept.ids.tolist())
    if kept.grid is not None:
        ids |= set(np.flatnonzero(kept.grid.reshape(-1)[:n] > 0).tolist())
    return ids


def assert_keeps_as_defined(logits: np.ndarray, temperature: float, top_p: float = 1.0,
                            top_k: int = 0, min_p: float = 0.0) -> set[int]:
    ids, _ = reference(logits, temperature, top_p, top_k, min_p)
    kept = Nucleus(logits.size, temperature, top_p, top_k, min_p).keep(logits)
    got = kept_ids(kept, logits.size)
    assert got == set(ids.tolist()), (len(got), ids.size)
    return got


# -- exact, hand-built --------------------------------------------------------------------------

def test_the_nucleus_is_taken_after_the_temperature() -> None:
    """Logits 0, -1, -2, -3: at temperature 1 the top two hold 88 %, so 90 % needs three; at 0.5
    the top two hold 98 % (top-p before the temperature would keep three)."""
    logits = np.array([0.0, -1.0, -2.0, -3.0], np.float32)
    assert assert_keeps_as_defined(logits, 1.0, 0.9) == {0, 1, 2}
    assert assert_keeps_as_defined(logits, 0.5, 0.9) == {0, 1}


def test_ties_at_the_cut_are_kept_by_token_id() -> None:
    """Five equal logits after a leader: the cut falls inside the tie, lowest ids first."""
    logits = np.full(VOCAB, -30.0, np.float32)
    logits[1000] = 2.0
    tied = np.array([5, 900, 40_000, 77_777, 151_000])
    logits[tied] = 1.0
    got = assert_keeps_as_defined(logits, 1.0, 0.8)
    assert 1000 in got and 5 in got and 151_000 not in got


def test_equal_logits_everywhere_keep_the_first_ids() -> None:
    logits = np.zeros(VOCAB, np.float32)
    got = assert_keeps_as_defined(logits, 0.6, 0.95)
    assert got == set(range(math.ceil(0.95 * VOCAB)))


def test_a_long_tail_is_followed_deep() -> None:
    """One strong token holding 30 % and a tail of 151,935 small ones: 95 % reaches far into
    the tail, past any fixed candidate count."""
    rng = np.random.default_rng(0)
    logits = rng.normal(-8.0, 1.0, VOCAB).astype(np.float32)
    logits[42] = 0.0
    got = assert_keeps_as_defined(logits, 1.0, 0.95)
    assert 42 in got and len(got) > 50_000


def test_a_single_dominant_token_is_kept_alone() -> None:
    logits = np.zeros(VOCAB, np.float32)
    logits[7] = 40.0
    assert assert_keeps_as_defined(logits, 0.6, 0.95) == {7}


def test_top_k_then_top_p_of_what_top_k_kept_then_min_p() -> None:
    logits = np.array([3.0, 3.0, 2.0, 1.0, 0.0, -1.0, 9.0], np.float32)
    assert assert_keeps_as_defined(logits, 1.0, 0.7, top_k=4) == {6}
    assert assert_keeps_as_defined(logits, 4.0, 0.7, top_k=4) == {6, 0}
    assert assert_keeps_as_defined(logits, 4.0, 1.0, top_k=3) == {6, 0, 1}
    assert assert_keeps_as_defined(logits, 4.0, 1.0, top_k=3, min_p=0.3) == {6}
    assert assert_keeps_as_defined(logits, 4.0, 0.99, min_p=0.1) == {0, 1, 2, 3, 4, 6}


@pytest.mark.parametrize("min_p", [0.05, 1e-3, 1e-6])
def test_min_p_after_top_p(min_p: float) -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0.0, 2.0, VOCAB).astype(np.float32)
    assert_keeps_as_defined(logits, 0.6, 0.95, min_p=min_p)
    assert_keeps_as_defined(logits, 1.0, 1.0, min_p=min_p)


# -- exact, random full-size vocabularies -------------------------------------------------------

def shaped_logits(rng: np.random.Generator, shape: str, n: int = VOCAB) -> np.ndarray:
    """Logits of a given shape: flat (Gaussian of some width), peaked (a few far above a flat
    crowd), tied (rounded to integers: many equal logits) or Zipf-like (as trained models)."""
    if shape == "flat":
        return (rng.standard_normal(n) * rng.uniform(0.3, 4.0)).astype(np.float32)
    if shape == "peaked":
        logits = (rng.standard_normal(n) * 2).astype(np.float32)
        logits[rng.integers(n, size=rng.integers(1, 6))] += rng.uniform(4, 20)
        return logits
    if shape == "tied":
        return np.round(rng.standard_normal(n) * 2).astype(np.float32)
    ranks = rng.permutation(n) + 1.0
    return (-np.log(ranks) * rng.uniform(1.0, 5.0) + rng.normal(0, 0.3, n)).astype(np.float32)


SETTINGS = [(0.6, 0.95, 0, 0.0), (1.0, 0.95, 0, 0.0), (0.6, 0.5, 0, 0.0), (1.0, 0.999, 0, 0.0),
            (0.6, 0.95, 40, 0.0), (1.3, 0.9, 0, 1e-4), (0.6, 1.0, 0, 0.0)]


@pytest.mark.parametrize("shape", ["flat", "peaked", "tied", "zipf"])
def test_random_vocabularies_keep_exactly_the_definition(shape: str) -> None:
    rng = np.random.default_rng(hash(shape) % 2**32)
    for _ in range(3):
        logits = shaped_logits(rng, shape)
        for temperature, top_p, top_k, min_p in SETTINGS:
            assert_keeps_as_defined(logits, temperature, top_p, top_k, min_p)


def test_the_bracket_fallbacks_stay_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the sample-based brackets forced wrong, the widening and the full sort still keep
    exactly the definition."""
    import vibe_local.nucleus as nucleus

    rng = np.random.default_rng(5)
    for z_scores in ((0.0,), (0.0, 0.0)):
        monkeypatch.setattr(nucleus, "Z_SCORES", z_scores)
        for shape in ("flat", "zipf"):
            assert_keeps_as_defined(shaped_logits(rng, shape), 0.6, 0.95)


# -- statistical: the draw ----------------------------------------------------------------------

def chi_square_limit(dof: int, z: float = 4.75) -> float:
    """Upper critical value of chi-square with `dof` degrees of freedom at about p = 1e-6
    (Wilson-Hilferty)."""
    a = 2.0 / (9.0 * dof)
    return dof * (1.0 - a + z * math.sqrt(a)) ** 3


def chi_square(counts: np.ndarray, probs: np.ndarray) -> tuple[float, int]:
    """Pearson's statistic, tokens grouped into bins of >= 50 expected draws."""
    draws = counts.sum()
    bins: list[list[float]] = [[0.0, 0.0]]
    for i in np.argsort(-probs, kind="stable"):
        if bins[-1][1] >= 50:
            bins.append([0.0, 0.0])
        bins[-1][0] += counts[i]
        bins[-1][1] += probs[i] * draws
    if len(bins) > 1 and bins[-1][1] < 50:  # the remainder joins the last full bin
        observed, expected = bins.pop()
        bins[-1][0] += observed
        bins[-1][1] += expected
    stat = sum((o - e) ** 2 / max(e, 1e-12) for o, e in bins)
    return stat, max(len(bins) - 1, 1)


def draw_counts(logits: np.ndarray, settings: tuple, draws: int, seed: int,
                keep_once: bool = False) -> np.ndarray:
    """Counts of `draws` tokens picked from `logits`; `keep_once`: the kept set is computed once
    and only the draws repeat (pick = keep, then draw; the kept set is tested exactly above)."""
    sampler = Nucleus(logits.size, *settings)
    pick = sampler.keep(logits).draw if keep_once else (lambda u: sampler.pick(logits, u))
    rng = np.random.default_rng(seed)
    counts = np.zeros(logits.size)
    for _ in range(draws):
        counts[pick(rng.random())] += 1
    return counts


def reference_probs(logits: np.ndarray, *settings) -> np.ndarray:
    ids, probs = reference(logits, *settings)
    full = np.zeros(logits.size)
    full[ids] = probs
    return full


def test_draws_follow_the_kept_distribution_small_vocabulary() -> None:
    rng = np.random.default_rng(11)
    logits = (rng.standard_normal(50) * 1.5).astype(np.float32)
    settings = (0.6, 0.9, 0, 0.0)
    counts = draw_counts(logits, settings, 20_000, seed=3)
    stat, dof = chi_square(counts, reference_probs(logits, *settings))
    assert stat < chi_square_limit(dof), (stat, dof)
    # The same test tells a wrong order (top-p before temperature) and a missing cut apart.
    cut_first = reference(logits, 1.0, 0.9)[0]
    wrong_order = np.zeros(logits.size)
    wrong_order[cut_first] = np.exp((logits[cut_first] - logits.max()) / 0.6)
    wrong_order /= wrong_order.sum()
    for wrong in (wrong_order, reference_probs(logits, 0.6)):
        assert chi_square(counts, wrong)[0] > 10 * chi_square_limit(dof)


@pytest.mark.parametrize("shape", ["flat", "zipf"])
def test_draws_follow_the_kept_distribution_full_vocabulary(shape: str) -> None:
    """Flat: the nucleus holds most of the vocabulary, drawn through the threshold part;
    Zipf-like: a few hundred tokens, drawn from the sorted list."""
    rng = np.random.default_rng(12)
    logits = shaped_logits(rng, shape) if shape == "zipf" else (
        rng.standard_normal(VOCAB) * 0.8).astype(np.float32)
    settings = (0.6, 0.95, 0, 0.0)
    kept = Nucleus(VOCAB, *settings).keep(logits)
    assert (kept.grid is not None) == (shape == "flat")  # both draw paths are exercised
    counts = draw_counts(logits, settings, 20_000, seed=4, keep_once=True)
    probs = reference_probs(logits, *settings)
    assert counts[probs == 0].sum() == 0
    stat, dof = chi_square(counts, probs)
    assert stat < chi_square_limit(dof), (stat, dof)
    untruncated = reference_probs(logits, 0.6)  # what drawing without the cut would give
    assert chi_square(counts, untruncated)[0] > 2 * chi_square_limit(dof)


def test_u_maps_onto_the_kept_tokens_in_proportion() -> None:
    """The draw as a function of u: each kept token owns an interval as long as its share.
    Weights 1, 1/2, 1/4, 1/8: the top two hold exactly 80 % of them, so they alone are kept."""
    logits = np.array([0.0, np.log(0.5), np.log(0.25), np.log(0.125), -40.0], np.float32)
    kept = Nucleus(5, 1.0, 0.8).keep(logits)
    grid = (np.arange(4096) + 0.5) / 4096
    shares = np.bincount([kept.draw(u) for u in grid], minlength=5) / grid.size
    np.testing.assert_allclose(shares[:2], np.array([2, 1]) / 3, atol=1e-3)
    assert shares[2:].sum() == 0


def test_large_sets_take_the_bracketed_path() -> None:
    """Guard for the tests above: the flat cases really go past the sorted small sets."""
    rng = np.random.default_rng(2)
    logits = (rng.standard_normal(VOCAB) * 1.0).astype(np.float32)
    kept = Nucleus(VOCAB, 0.6, 0.95).keep(logits)
    assert kept.grid is not None and len(kept_ids(kept, VOCAB)) > SMALL


# -- pick: drawn from the whole distribution, kept when the filters would keep it --------------

def assert_admits_as_defined(logits: np.ndarray, settings: tuple, tokens: np.ndarray) -> None:
    """`_admits` (the test `pick` applies to a drawn token) says yes exactly for the tokens the
    definition keeps."""
    nucleus = Nucleus(logits.size, *settings)
    _, total = nucleus._weigh_for_drawing(logits)
    kept = set(reference(logits, *settings)[0].tolist())
    for token in tokens.tolist():
        assert nucleus._admits(logits, token, total) == (token in kept), token


def near_the_cut(logits: np.ndarray, settings: tuple, rng: np.random.Generator) -> np.ndarray:
    """The tokens ranked within 40 of the last kept one, and 60 anywhere."""
    order = np.argsort(-logits, kind="stable")
    end = reference(logits, *settings)[0].size
    return np.concatenate([order[max(0, end - 40):end + 40],
                           rng.integers(logits.size, size=60)])


@pytest.mark.parametrize("slack", [1e-4, 1.0])  # as shipped / float64 decides every time
def test_pick_admits_exactly_the_kept_tokens(slack: float, monkeypatch: pytest.MonkeyPatch) -> None:
    import vibe_local.nucleus as nucleus

    monkeypatch.setattr(nucleus, "SLACK", slack)
    ties = np.array([3.0, 1.0, 1.0, 1.0, 1.0, 0.0, -2.0], np.float32)  # cut among equal logits
    for top_p in (0.3, 0.5, 0.6, 0.75, 0.9):
        assert_admits_as_defined(ties, (1.0, top_p, 0, 0.0), np.arange(ties.size))
    halves = np.log(np.array([1, 0.5, 0.25, 0.125, 0.125], np.float32))  # exactly 80 % at two
    assert_admits_as_defined(halves, (1.0, 0.8, 0, 0.0), np.arange(halves.size))
    rng = np.random.default_rng(21)
    for shape in ("flat", "peaked", "tied", "zipf"):
        logits = shaped_logits(rng, shape)
        for settings in [s for s in SETTINGS if not s[2]]:
            assert_admits_as_defined(logits, settings, near_the_cut(logits, settings, rng))


@pytest.mark.parametrize("settings", [(0.6, 0.9, 0, 0.0), (1.0, 0.15, 0, 0.0),
                                      (0.8, 0.95, 0, 0.2)])
@pytest.mark.parametrize("offset", [0.0, 500.0, -500.0])
def test_pick_follows_the_kept_distribution(settings: tuple, offset: float) -> None:
    """pick against the definition on a small vocabulary: VibeThinker-like settings (mostly
    one draw), and a small top_p or a strict min_p (several draws, often the built set);
    logits so high or low that unshifted weights overflow or vanish."""
    rng = np.random.default_rng(13)
    logits = (rng.standard_normal(60) * 1.2 + offset).astype(np.float32)
    counts = draw_counts(logits, settings, 20_000, seed=6)
    probs = reference_probs(logits, *settings)
    assert counts[probs == 0].sum() == 0
    stat, dof = chi_square(counts, probs)
    assert stat < chi_square_limit(dof), (stat, dof)


def test_pick_follows_the_kept_distribution_full_vocabulary() -> None:
    """A flat full-size vocabulary, where the nucleus holds some 70,000 tokens and one draw in
    twenty is redrawn."""
    rng = np.random.default_rng(14)
    logits = (rng.standard_normal(VOCAB) * 0.8).astype(np.float32)
    settings = (0.6, 0.95, 0, 0.0)
    counts = draw_counts(logits, settings, 20_000, seed=7)
    probs = reference_probs(logits, *settings)
    assert counts[probs == 0].sum() == 0
    stat, dof = chi_square(counts, probs)
    assert stat < chi_square_limit(dof), (stat, dof)
    assert chi_square(counts, reference_probs(logits, 0.6))[0] > 2 * chi_square_limit(dof)


def test_pick_is_a_function_of_u() -> None:
    """Redraws take their numbers from u itself, so the same u picks the same token: a
    position consumes one number of the reply's generator however many draws it takes."""
    rng = np.random.default_rng(15)
    logits = (rng.standard_normal(VOCAB) * 0.8).astype(np.float32)
    nucleus = Nucleus(VOCAB, 1.0, 0.3)  # most first draws miss
    us = rng.random(40)
    first = [nucleus.pick(logits, u) for u in us]
    assert first == [nucleus.pick(logits, u) for u in us]
    assert len(set(first)) > 30
