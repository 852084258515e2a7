"""`vibe-local serve` through the official `openai` client: a real server on an ephemeral
127.0.0.1 port, the real engine on the scripted model (tests/fixtures/scripted_model.py) and on
a random-weight model (for seeds)."""

from __future__ import annotations

from pathlib import Path

import pytest

openai = pytest.importorskip("openai")

from fixtures.scripted_model import RAMBLE, ScriptedModel  # noqa: E402
from fixtures.server import scripted_engine, use  # noqa: E402
from vibe_local.backend import open_llama  # noqa: E402
from vibe_local.engine import Model, ModelInfo  # noqa: E402
from vibe_local.server.app import ServerConfig  # noqa: E402
from vibe_local.server.runner import BackgroundServer  # noqa: E402

THINKING, ANSWER = " think about the problem", "answer two"


@pytest.fixture(scope="module")
def model(scripted: ScriptedModel):
    with scripted_engine(scripted.gguf) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def server(model: Model):
    with BackgroundServer(model, ServerConfig(model_id="scripted")) as running:
        yield running


@pytest.fixture
def client(server: BackgroundServer, model: Model):
    use(model, "solve")
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)


def _ask(client, content: str = "What is 1 + 1?", **kwargs):
    return client.chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": content}], **kwargs)


def _details(choice) -> dict:
    return choice.model_extra["vibe_local"]


def test_chat_splits_thinking_from_the_answer(client) -> None:
    reply = _ask(client)
    choice = reply.choices[0]
    assert choice.message.content == ANSWER
    assert choice.message.model_extra["reasoning_content"] == THINKING
    assert choice.message.model_extra["reasoning"] == THINKING
    assert choice.finish_reason == "stop" and reply.object == "chat.completion"
    usage = reply.usage
    assert usage.completion_tokens == 9 and usage.completion_tokens_details.reasoning_tokens == 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens > 0 and reply.model == "scripted"


def test_streamed_chat_with_usage(client) -> None:
    chunks = list(_ask(client, stream=True, stream_options={"include_usage": True}))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    thinking = "".join(d.model_extra.get("reasoning_content") or "" for d in deltas)
    assert thinking == THINKING
    assert "".join(d.content or "" for d in deltas) == ANSWER
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == 9
    assert last.usage.completion_tokens_details.reasoning_tokens == 5
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_usage_has_no_usage_chunk(client) -> None:
    chunks = list(_ask(client, stream=True))
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)


def test_raw_reasoning_format_keeps_the_tags(client) -> None:
    reply = _ask(client, extra_body={"reasoning_format": "none"})
    message = reply.choices[0].message
    assert message.content == f"<think>{THINKING}</think>\n\n{ANSWER}"
    assert "reasoning_content" not in (message.model_extra or {})


@pytest.mark.parametrize("field", ["thinking_budget_tokens", "reasoning_budget_tokens"])
def test_thinking_budget_closes_the_thinking(client, model, field) -> None:
    use(model, "ramble", opened=True)
    reply = _ask(client, extra_body={field: 12})
    choice = reply.choices[0]
    assert _details(choice)["thinking_closed_by"] == "budget"
    assert choice.message.model_extra["reasoning_content"].startswith(
        " " + " ".join(RAMBLE[:12]))
    assert choice.message.content == ANSWER and choice.finish_reason == "stop"
    assert reply.usage.completion_tokens_details.reasoning_tokens == 12


def test_server_default_thinking_budget(model) -> None:
    use(model, "ramble", opened=True)
    config = ServerConfig(model_id="scripted", think_budget=7)
    with BackgroundServer(model, config) as other:
        client = openai.OpenAI(base_url=f"{other.url}/v1", api_key="none", max_retries=0)
        default = _ask(client)
        asked = _ask(client, extra_body={"thinking_budget_tokens": 20})
    assert default.usage.completion_tokens_details.reasoning_tokens == 7
    assert asked.usage.completion_tokens_details.reasoning_tokens == 20


def test_speculation_is_on_unless_the_request_or_the_server_turns_it_off(model,
                                                                        monkeypatch) -> None:
    from vibe_local.speculation import DraftLength

    # draft lengths from acceptance alone, fresh per reply: not from how busy the machine is
    monkeypatch.setattr("vibe_local.speculation.policy_for", lambda llm: DraftLength(timed=False))
    use(model, "ramble", opened=True)
    for server_default, asked, expect_drafts in ((True, None, True), (True, False, False),
                                                 (False, None, False), (False, True, True)):
        config = ServerConfig(model_id="scripted", speculate=server_default)
        with BackgroundServer(model, config) as running:
            client = openai.OpenAI(base_url=f"{running.url}/v1", api_key="none", max_retries=0)
            extra = {} if asked is None else {"extra_body": {"speculate": asked}}
            choice = _ask(client, max_tokens=300, seed=1, **extra).choices[0]
        assert (_details(choice)["draft_tokens"] > 0) == expect_drafts, (server_default, asked)
        assert choice.message.model_extra["reasoning_content"].startswith(
            " " + " ".join(RAMBLE[:12]))


def test_max_tokens_ending_inside_the_thinking(client, model) -> None:
    use(model, "ramble", opened=True)
    for limit in ({"max_tokens": 10}, {"max_completion_tokens": 10}):
        reply = _ask(client, **limit)
        choice = reply.choices[0]
        assert choice.finish_reason == "length" and choice.message.content == ""
        assert choice.message.model_extra["reasoning_content"].strip()
        assert reply.usage.completion_tokens == 10


def test_loop_guard_closure_is_reported(client, model) -> None:
    use(model, "loop", opened=True)
    choice = _ask(client).choices[0]
    assert _details(choice)["thinking_closed_by"] == "loop"
    assert "repeat" in _details(choice)["loop_reason"]
    assert choice.message.content == ANSWER


@pytest.mark.parametrize("stream", [False, True])
def test_stop_strings_end_the_answer(client, stream: bool) -> None:
    """A stop string spanning tokens ("wer t") cuts the answer before it; the thinking, which
    also contains a stop ("about"), is left whole."""
    reply = _ask(client, stop=["wer t", "about"], stream=stream)
    if stream:
        chunks = [c for c in reply if c.choices]
        content = "".join(c.choices[0].delta.content or "" for c in chunks)
        thinking = "".join(c.choices[0].delta.model_extra.get("reasoning_content") or ""
                           for c in chunks)
        choice = chunks[-1].choices[0]
    else:
        choice = reply.choices[0]
        content, thinking = choice.message.content, choice.message.model_extra["reasoning_content"]
    assert content == "ans" and thinking == THINKING
    assert choice.finish_reason == "stop" and _details(choice)["finish_reason"] == "stop_string"


def test_single_stop_string(client) -> None:
    assert _ask(client, stop="two").choices[0].message.content == "answer "


def test_completions_take_a_raw_prompt(client) -> None:
    prompt = "<|im_start|>user\nWhat is 1 + 1?<|im_end|>\n<|im_start|>assistant solve"
    reply = client.completions.create(model="scripted", prompt=prompt)
    assert reply.choices[0].text == f"<think>{THINKING}</think>\n\n{ANSWER}"
    assert reply.object == "text_completion" and reply.usage.completion_tokens == 9
    streamed = client.completions.create(model="scripted", prompt=prompt, stream=True,
                                         stop=["</think>"])
    assert "".join(c.choices[0].text for c in streamed) == f"<think>{THINKING}"


def test_models_lists_the_loaded_model(client) -> None:
    listed = client.models.list().data
    assert [m.id for m in listed] == ["scripted"]
    assert listed[0].model_extra["quant"] == "F32"
    assert listed[0].model_extra["context_length"] == 1024
    assert client.models.retrieve("scripted").id == "scripted"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4")


def test_follow_up_turn_reuses_the_cached_prefix(client) -> None:
    """The engine keeps the KV cache: a follow-up turn evaluates only what is new after the
    previous prompt (the template renders the earlier reply without its thinking)."""
    question = [{"role": "user", "content": "Tell me about one plus one."}]
    first = client.chat.completions.create(model="scripted", messages=question)
    turn = [*question, {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "And two?"}]
    follow_up = client.chat.completions.create(model="scripted", messages=turn)
    cached = follow_up.usage.prompt_tokens_details.cached_tokens
    assert cached >= first.usage.prompt_tokens - 1  # all but the behaviour selector
    _ask(client, "Something else entirely.")
    cold = client.chat.completions.create(model="scripted", messages=turn)
    assert cold.usage.prompt_tokens_details.cached_tokens < cached


def test_seed_makes_replies_reproducible(tiny_f16_gguf: Path) -> None:
    """Random weights: every token is a real draw, so only the seed makes two replies equal."""
    llm = open_llama(tiny_f16_gguf, n_ctx=256, n_threads=1)
    with Model(llm, ModelInfo(tiny_f16_gguf, "F16", 256, 0, "f16", False)) as loaded, \
            BackgroundServer(loaded, ServerConfig(model_id="tiny")) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)

        def text(seed: int) -> str:
            reply = client.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "Tell me something."}],
                seed=seed, temperature=1.0, max_tokens=24, extra_body={"reasoning_format": "none"})
            assert _details(reply.choices[0])["seed"] == seed
            return reply.choices[0].message.content

        first = text(7)
        assert text(7) == first and text(8) != first
