"""The engine through real llama.cpp: thinking split, budget, loop guard, stop, limits, stats.

Most tests use a scripted model (tests/fixtures/scripted_model.py): a real GGUF whose next token
is a fixed function of the current one. The chat template's last token picks the behaviour.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from fixtures.qwen2_checkpoint import TinyCheckpoint
from fixtures.scripted_model import (
    RAMBLE,
    ScriptedModel,
    chatml_ending_with,
    open_scripted,
    use_behaviour,
)
from vibe_local.backend import open_llama
from vibe_local.chat_template import ChatTemplate
from vibe_local.engine import Model, ModelInfo
from vibe_local.errors import ContextFullError, InvalidRequestError
from vibe_local.reasoning import AnswerDelta, ThinkingDelta


@pytest.fixture
def model(scripted: ScriptedModel) -> Model:
    with open_scripted(scripted) as loaded:
        yield loaded


def test_model_thinks_then_answers(model: Model) -> None:
    reply = use_behaviour(model, "solve").chat("What is 1 + 1?")
    assert reply.thinking == " think about the problem"
    assert reply.answer == "answer two"
    stats = reply.stats
    assert stats.finish_reason == "stop" and stats.thinking_closed_by is None
    assert stats.completion_tokens == 9  # <think> 4 words </think> newline 2 words
    assert stats.thinking_tokens == 5  # <think> and the 4 words inside
    assert stats.prompt_tokens > 0 and stats.prompt_tokens_per_s > 0
    assert stats.generation_tokens_per_s > 0 and stats.time_to_first_token_s > 0


def test_stream_yields_typed_events_in_order(model: Model) -> None:
    events = list(use_behaviour(model, "solve").stream("What is 1 + 1?"))
    kinds = [type(e).__name__ for e in events]
    assert kinds[-1] == "Done" and kinds.count("Done") == 1
    first_answer = kinds.index("AnswerDelta")
    assert all(k == "ThinkingDelta" for k in kinds[:first_answer])
    assert all(k == "AnswerDelta" for k in kinds[first_answer:-1])


def test_template_that_opens_the_thinking(model: Model) -> None:
    model.template = ChatTemplate(chatml_ending_with("<think>"))
    reply = model.chat("What is 1 + 1?")
    assert reply.thinking == " think about the problem" and reply.answer == "answer two"


def test_reply_without_thinking(model: Model) -> None:
    reply = use_behaviour(model, "direct").chat("hi")
    assert reply.thinking == "" and reply.answer == "answer two"
    assert reply.stats.thinking_tokens == 0


def test_thinking_budget_closes_thinking_and_an_answer_follows(model: Model) -> None:
    reply = use_behaviour(model, "ramble", opened=True).chat("Explain.", think_budget=12)
    assert reply.stats.thinking_closed_by == "budget"
    assert reply.stats.thinking_tokens == 12
    assert reply.thinking.startswith(" " + " ".join(RAMBLE[:12]))
    assert "time to give the final answer" in reply.thinking
    assert reply.answer == "answer two"
    assert reply.stats.finish_reason == "stop"


def test_loop_guard_ends_degenerate_thinking(model: Model) -> None:
    reply = use_behaviour(model, "loop", opened=True).chat("Explain.")
    stats = reply.stats
    assert stats.thinking_closed_by == "loop" and "repeat" in stats.loop_reason
    assert reply.thinking.count(" but") == 200
    assert reply.answer == "answer two"


def test_loop_guard_does_not_fire_on_long_varied_thinking(model: Model) -> None:
    reply = use_behaviour(model, "ramble", opened=True).chat("Explain.", max_tokens=400)
    assert reply.stats.thinking_closed_by is None and reply.stats.finish_reason == "length"
    assert reply.stats.completion_tokens == 400


def test_repetitive_answer_is_cut_short(model: Model) -> None:
    reply = use_behaviour(model, "answer_loop").chat("hi")
    assert reply.stats.finish_reason == "repetition"
    assert reply.answer.count("prime") == 200


def test_stop_from_another_thread_keeps_what_came(model: Model) -> None:
    use_behaviour(model, "ramble", opened=True)
    seen: list[str] = []
    for event in model.stream("Explain."):
        if isinstance(event, ThinkingDelta):
            seen.append(event.text)
            if len(seen) == 20:
                threading.Thread(target=model.stop).start()
        elif not isinstance(event, AnswerDelta):
            stats = event.stats
    assert stats.finish_reason == "cancelled"
    assert 20 <= len(seen) < 200 and stats.completion_tokens == len(seen)


def test_one_generation_at_a_time(model: Model) -> None:
    """A second caller waits for the first; both replies come out whole."""
    use_behaviour(model, "solve")
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(model.chat("1 + 1?")))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.answer for r in replies] == ["answer two"] * 3


def test_reply_that_fills_the_context_stops_cleanly(scripted: ScriptedModel) -> None:
    llm = open_llama(scripted.gguf, n_ctx=64, n_threads=2)
    with Model(llm, ModelInfo(scripted.gguf, "F32", 64, 0, "f16", False)) as small:
        reply = use_behaviour(small, "ramble", opened=True).chat("Go.")
        assert reply.stats.finish_reason == "context_full"
        assert reply.stats.prompt_tokens + reply.stats.completion_tokens == 63
        with pytest.raises(ContextFullError, match="context"):
            small.chat("word " * 100)


def test_bad_requests(model: Model) -> None:
    with pytest.raises(InvalidRequestError, match="empty"):
        model.chat("   ")
    with pytest.raises(InvalidRequestError, match="temprature"):
        model.chat("hi", temprature=0.2)
    with pytest.raises(InvalidRequestError, match="max_tokens"):
        model.chat("hi", max_tokens=0)


def test_seed_makes_sampling_reproducible(tiny_f16_gguf: Path,
                                          tiny_checkpoint: TinyCheckpoint) -> None:
    """On random weights every token is a real draw; the same seed gives the same reply."""
    llm = open_llama(tiny_f16_gguf, n_ctx=256, n_threads=2)
    with Model(llm, ModelInfo(tiny_f16_gguf, "F16", 256, 0, "f16", False)) as loaded:
        first = loaded.chat("Tell me something.", seed=7, max_tokens=24, temperature=1.0)
        again = loaded.chat("Tell me something.", seed=7, max_tokens=24, temperature=1.0)
        other = loaded.chat("Tell me something.", seed=8, max_tokens=24, temperature=1.0)
    text = first.thinking + first.answer
    assert text == again.thinking + again.answer and first.stats.seed == 7
    assert text != other.thinking + other.answer


def test_temperature_zero_is_greedy_whatever_the_seed(tiny_f16_gguf: Path) -> None:
    llm = open_llama(tiny_f16_gguf, n_ctx=256, n_threads=2)
    with Model(llm, ModelInfo(tiny_f16_gguf, "F16", 256, 0, "f16", False)) as loaded:
        replies = {loaded.chat("Tell me something.", seed=seed, max_tokens=16,
                               temperature=0).answer for seed in (1, 2, 3)}
    assert len(replies) == 1
