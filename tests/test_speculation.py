"""Self-speculative decoding: the drafts, and the same replies as plain decoding.

The equality tests run each reply twice through the real engine (llama.cpp), speculation on and
off, and compare everything the user sees: thinking, answer, finish reason, token counts. The
scripted model (tests/fixtures/scripted_model.py) covers the loop's rules (budget, loop guard,
stop, context full); the demo model and a random-weight model cover real sampling, where every
token is a draw from a spread-out distribution.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from fixtures.scripted_model import ScriptedModel, open_scripted, use_behaviour
from vibe_local.backend import open_llama
from vibe_local.engine import Model, ModelInfo, Reply
from vibe_local.reasoning import ThinkingDelta
from vibe_local.speculation import MAX_DRAFT, DraftIndex, DraftLength

NANO = Path(__file__).parent.parent / "vibe_local" / "demo" / "vibethinker-nano"


@pytest.fixture(autouse=True)
def _untimed_drafts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Draft lengths from acceptance alone, fresh for each reply: how busy the machine is must
    not decide whether a test's reply drafts at all."""
    monkeypatch.setattr("vibe_local.speculation.policy_for", lambda llm: DraftLength(timed=False))


def test_draft_is_what_followed_the_most_recent_occurrence() -> None:
    index = DraftIndex()
    context = [1, 2, 3, 10, 11, 1, 2, 3, 20, 21, 22, 5, 2, 3]
    assert index.propose(context, 2) == [20, 21]  # the later "2 3", not the first
    assert index.propose(context + [20, 21, 22, 9, 9], 3) == []  # "22 9 9": never seen


def test_draft_prefers_the_longer_match() -> None:
    context = [7, 8, 9, 40, 1, 8, 9, 50, 1, 7, 8, 9]
    assert DraftIndex().propose(context, 1) == [40]  # "7 8 9" beats the later "8 9"


def test_draft_of_a_repeating_block_keeps_repeating() -> None:
    assert DraftIndex().propose([5, 1, 2, 1, 2], 5) == [1, 2, 1, 2, 1]


def test_index_grows_with_the_context() -> None:
    index = DraftIndex()
    context = [1, 2, 3]
    assert index.propose(context, 4) == []
    context += [4, 1, 2, 3]
    assert index.propose(context, 4) == [4, 1, 2, 3]


def test_draft_length_follows_acceptance() -> None:
    lengths = DraftLength(extra_cost=0.1)
    for _ in range(30):
        lengths.verified(lengths.next() or 1, lengths.next() or 1, 0.0)
    assert lengths.next() == MAX_DRAFT and lengths.acceptance > 0.95
    lengths.verified(MAX_DRAFT, 0, 0.0)
    assert 0 < lengths.next() < MAX_DRAFT  # one miss shortens the draft
    for _ in range(30):
        lengths.verified(1, 0, 0.0)
    assert lengths.next() == 0  # drafts that miss do not pay: plain decoding


def test_shadow_drafts_switch_speculation_back_on() -> None:
    lengths = DraftLength()
    for _ in range(30):
        lengths.shadow(False)
    assert lengths.next() == 0
    for _ in range(10):
        lengths.shadow(True)
    assert lengths.next() > 0


def test_draft_length_follows_the_measured_cost() -> None:
    """Where each drafted token costs as much as a decode step, drafting never pays."""
    cheap, dear = DraftLength(), DraftLength()
    for lengths, verify_s in ((cheap, 0.11), (dear, 0.5)):
        lengths.single(0.1)
        for _ in range(20):
            lengths.verified(4, 3, verify_s)
    assert cheap.extra_cost == pytest.approx(0.025, abs=0.01) and cheap.next() >= 4
    assert dear.extra_cost == pytest.approx(1.0, abs=0.05) and dear.next() == 0


def _both(model: Model, *args, **options) -> tuple[Reply, Reply]:
    """The same request with speculation on and off."""
    on = model.chat(*args, speculate=True, **options)
    off = model.chat(*args, speculate=False, **options)
    return on, off


def _assert_same(on: Reply, off: Reply) -> None:
    assert (on.thinking, on.answer) == (off.thinking, off.answer)
    for name in ("finish_reason", "completion_tokens", "thinking_tokens", "thinking_closed_by",
                 "loop_reason", "prompt_tokens"):
        assert getattr(on.stats, name) == getattr(off.stats, name), name
    assert off.stats.draft_tokens == 0


@pytest.fixture
def scripted_model(scripted: ScriptedModel) -> Model:
    with open_scripted(scripted) as loaded:
        yield loaded


@pytest.mark.parametrize("behaviour,opened,options", [
    ("solve", False, {}),
    ("ramble", True, {"max_tokens": 400}),  # a 134-token cycle: drafts match from the 2nd round
    ("ramble", True, {"think_budget": 250}),  # budget closes the thinking mid-draft
    ("loop", True, {}),  # loop guard on thinking: the drafts make the loop cheap, still caught
    ("answer_loop", False, {}),  # loop guard on the answer
    ("ramble", True, {"max_tokens": 300, "temperature": 0}),
])
def test_scripted_replies_are_the_same(scripted_model: Model, behaviour: str, opened: bool,
                                       options: dict) -> None:
    on, off = _both(use_behaviour(scripted_model, behaviour, opened), "Explain.", seed=3, **options)
    _assert_same(on, off)
    if behaviour != "solve":  # a 3-gram once repeated is drafted from then on
        assert on.stats.accepted_draft_tokens > on.stats.completion_tokens / 3


def test_loop_guard_fires_where_it_did(scripted_model: Model) -> None:
    on, _ = _both(use_behaviour(scripted_model, "loop", opened=True), "Explain.")
    assert on.stats.thinking_closed_by == "loop" and on.thinking.count(" but") == 200
    assert on.answer == "answer two"


def test_context_full_stops_at_the_same_token(scripted: ScriptedModel) -> None:
    llm = open_llama(scripted.gguf, n_ctx=200, n_threads=2)
    with Model(llm, ModelInfo(scripted.gguf, "F32", 200, 0, "f16", False)) as small:
        on, off = _both(use_behaviour(small, "ramble", opened=True), "Go.")
    _assert_same(on, off)
    assert on.stats.finish_reason == "context_full"
    assert on.stats.prompt_tokens + on.stats.completion_tokens == 199


def test_stop_ends_a_speculating_reply(scripted_model: Model) -> None:
    use_behaviour(scripted_model, "ramble", opened=True)
    seen = 0
    for event in scripted_model.stream("Explain.", speculate=True):
        if isinstance(event, ThinkingDelta):
            seen += 1
            if seen == 300:
                threading.Thread(target=scripted_model.stop).start()
        elif not hasattr(event, "text"):
            stats = event.stats
    assert stats.finish_reason == "cancelled" and 300 <= stats.completion_tokens < 600
    assert stats.accepted_draft_tokens > 0


def test_next_turn_reuses_the_cache_after_speculation(scripted_model: Model) -> None:
    """Rejected drafts are gone from the token record, so the prefix cache still matches."""
    model = use_behaviour(scripted_model, "ramble", opened=True)
    first = model.chat("Explain.", max_tokens=300)
    again = model.chat("Explain.", max_tokens=300)
    assert again.thinking == first.thinking
    assert again.stats.cached_prompt_tokens == again.stats.prompt_tokens - 1


@pytest.fixture(scope="module")
def nano(tmp_path_factory: pytest.TempPathFactory) -> Model:
    from quantize.convert import convert

    gguf = convert(NANO, tmp_path_factory.mktemp("nano") / "nano-BF16.gguf", "bf16").path
    llm = open_llama(gguf, n_ctx=512, n_threads=2)
    with Model(llm, ModelInfo(gguf, "BF16", 512, 0, "f16", False)) as loaded:
        yield loaded


@pytest.mark.parametrize("temperature", [0.0, 0.6, 1.0])
def test_demo_model_replies_are_the_same(nano: Model, temperature: float) -> None:
    """The demo model's traces restate the digits they work on, so its drafts get accepted."""
    drafted = accepted = 0
    for seed, question in enumerate(("What is 482 + 379?", "What is 6 * 734?")):
        on, off = _both(nano, question, seed=seed, temperature=temperature, max_tokens=200)
        _assert_same(on, off)
        drafted += on.stats.draft_tokens
        accepted += on.stats.accepted_draft_tokens
    assert drafted > 0 and accepted > 0


def test_random_weights_replies_are_the_same(tiny_f16_gguf: Path) -> None:
    """Every token a real draw from a flat distribution: drafts mostly fail and are dropped."""
    llm = open_llama(tiny_f16_gguf, n_ctx=256, n_threads=2)
    with Model(llm, ModelInfo(tiny_f16_gguf, "F16", 256, 0, "f16", False)) as loaded:
        for seed in (1, 2):
            _assert_same(*_both(loaded, "Tell me something. Tell me something.", seed=seed,
                                temperature=1.0, max_tokens=64))
