"""Errors, auth and the queue of `vibe-local serve`: every refusal in OpenAI's schema, with the
status clients expect, on a real server over HTTP."""

from __future__ import annotations

import json
import threading

import pytest

pytest.importorskip("starlette")

from fixtures.scripted_model import ScriptedModel  # noqa: E402
from fixtures.server import call, chat_body, scripted_engine, use  # noqa: E402
from vibe_local.engine import Model  # noqa: E402
from vibe_local.server.app import ServerConfig  # noqa: E402
from vibe_local.server.runner import BackgroundServer  # noqa: E402

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def model(scripted: ScriptedModel):
    with scripted_engine(scripted.gguf) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def server(model: Model):
    with BackgroundServer(model, ServerConfig(model_id="scripted", max_body_bytes=2**16)) as s:
        yield s


@pytest.fixture(autouse=True)
def _solve(model: Model) -> None:
    use(model, "solve")


def _error(response) -> dict:
    status, _, body = response
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": []}, "messages"),
    ({"messages": "hi"}, "messages"),
    (chat_body(temperature=-1), "temperature"),
    (chat_body(temperature=float("nan")), None),  # NaN is not JSON: Python sends it anyway
    (chat_body(top_p=0), "top_p"),
    (chat_body(top_k=1.5), "top_k"),
    (chat_body(max_tokens=0), "max_tokens"),
    (chat_body(max_tokens=True), "max_tokens"),
    (chat_body(seed="seven"), "seed"),
    (chat_body(seed=-1), "seed"),
    (chat_body(thinking_budget_tokens=-5), "think_budget"),
    (chat_body(stop=["a", "b", "c", "d", "e"]), "stop"),
    (chat_body(stop=[""]), "stop"),
    (chat_body(n=2), "n"),
    (chat_body(tools=[{"type": "function", "function": {"name": "f"}}]), "tools"),
    (chat_body(logprobs=True), "logprobs"),
    (chat_body(presence_penalty=0.5), "presence_penalty"),
    (chat_body(response_format={"type": "json_object"}), "response_format"),
    (chat_body(reasoning_format="weird"), "reasoning_format"),
    (chat_body(speculate="no"), "speculate"),
    (chat_body(temprature=0.5), "temprature"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
     "messages[0].content"),
    ({"messages": [{"role": "user", "content": "   "}]}, None),
])
def test_bad_parameters_are_400(server, body, param) -> None:
    response = call(server.url, "POST", CHAT, json.dumps(body, allow_nan=True))
    error = _error(response)
    assert response[0] == 400 and error["type"] == "invalid_request_error"
    if param:
        assert error["param"] == param


def test_accepted_client_extras(server) -> None:
    """What clients send that changes nothing here is accepted: n 1, zero penalties, text
    format, a user label, content parts of type text, developer messages."""
    body = {"model": "scripted", "n": 1, "presence_penalty": 0, "frequency_penalty": 0.0,
            "response_format": {"type": "text"}, "user": "me", "stream_options": None,
            "messages": [{"role": "developer", "content": "Be brief."},
                         {"role": "user", "content": [{"type": "text", "text": "1 + 1?"}]}]}
    status, _, reply = call(server.url, "POST", CHAT, body)
    assert status == 200 and reply["choices"][0]["message"]["content"] == "answer two"


def test_malformed_json_is_400(server) -> None:
    for raw in ("{bad", "[1, 2]", "\xff"):
        response = call(server.url, "POST", CHAT, raw)
        assert response[0] == 400 and _error(response)["code"] == "invalid_json"


def test_prompt_longer_than_the_context(server) -> None:
    response = call(server.url, "POST", CHAT, chat_body("word " * 1500))
    assert response[0] == 400
    assert _error(response)["code"] == "context_length_exceeded"


def test_unknown_model_and_route_are_404(server) -> None:
    response = call(server.url, "POST", CHAT, {**chat_body(), "model": "gpt-4"})
    assert response[0] == 404 and _error(response)["code"] == "model_not_found"
    response = call(server.url, "GET", "/v1/nothing")
    assert response[0] == 404 and _error(response)["code"] == "not_found"
    response = call(server.url, "GET", CHAT)
    assert response[0] == 405 and _error(response)


def test_the_model_answers_to_its_file_name_too(server) -> None:
    status, _, reply = call(server.url, "POST", CHAT, {**chat_body(), "model": "scripted-F32"})
    assert status == 200 and reply["model"] == "scripted"


def test_oversized_body_is_413(server) -> None:
    response = call(server.url, "POST", CHAT, chat_body("x" * 2**17))
    assert response[0] == 413 and _error(response)["code"] == "request_too_large"


def test_auth(model) -> None:
    config = ServerConfig(model_id="scripted", api_key="s3cret")
    with BackgroundServer(model, config) as server:
        missing = call(server.url, "POST", CHAT, chat_body())
        bad = call(server.url, "GET", "/v1/models", headers={"Authorization": "Bearer nope"})
        good = call(server.url, "POST", CHAT, chat_body(),
                    headers={"Authorization": "Bearer s3cret"})
        health = call(server.url, "GET", "/health")
    assert missing[0] == 401 and "missing" in _error(missing)["message"]
    assert bad[0] == 401 and _error(bad)["code"] == "invalid_api_key"
    assert "s3cret" not in json.dumps(bad[2])
    assert good[0] == 200 and good[2]["choices"][0]["message"]["content"] == "answer two"
    assert health[0] == 200 and health[2]["status"] == "ok"


def test_full_queue_answers_503_at_once_and_keeps_order(model) -> None:
    """With the model busy (its lock held here) and one request waiting, the next is refused
    at once with Retry-After; the two admitted ones then complete, first come first served."""
    done: list[str] = []
    with BackgroundServer(model, ServerConfig(model_id="scripted", max_queue=1)) as server:
        def ask(tag: str) -> None:
            status, _, reply = call(server.url, "POST", CHAT, chat_body(f"{tag}?"))
            done.append(f"{tag}:{status}")

        with model._lock:  # the worker blocks inside Model.stream: the model is busy
            first = threading.Thread(target=ask, args=("first",))
            first.start()
            _wait(lambda: call(server.url, "GET", "/health")[2]["queue"]["running"] == 1)
            second = threading.Thread(target=ask, args=("second",))
            second.start()
            _wait(lambda: call(server.url, "GET", "/health")[2]["queue"]["waiting"] == 1)
            refused = call(server.url, "POST", CHAT, chat_body())
        first.join(30)
        second.join(30)
    assert refused[0] == 503 and _error(refused)["code"] == "queue_full"
    assert int(refused[1]["retry-after"]) > 0
    assert done == ["first:200", "second:200"]


def _wait(condition, timeout: float = 10.0) -> None:
    """Poll until `condition()` holds (ordering, not timing: fails only if it never does)."""
    event = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("condition never held")
