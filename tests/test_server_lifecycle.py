"""`vibe-local serve` as a process and over time: the command, disconnects, shutdown, the
demo model end to end."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading

import pytest

openai = pytest.importorskip("openai")

from fixtures.scripted_model import ScriptedModel  # noqa: E402
from fixtures.server import call, chat_body, connection, scripted_engine, use  # noqa: E402
from vibe_local.cli import main  # noqa: E402
from vibe_local.engine import Model  # noqa: E402
from vibe_local.server.app import ServerConfig  # noqa: E402
from vibe_local.server.runner import BackgroundServer  # noqa: E402

RAMBLE_PROMPT = "<|im_start|>user\nGo on.<|im_end|>\n<|im_start|>assistant<think> sentence"


@pytest.fixture(scope="module")
def model(scripted: ScriptedModel):
    with scripted_engine(scripted.gguf, ctx=4096) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def server(model: Model):
    with BackgroundServer(model, ServerConfig(model_id="scripted")) as running:
        yield running


def _queue(server) -> dict:
    return call(server.url, "GET", "/health")[2]["queue"]


def _wait(condition, timeout: float = 20.0) -> None:
    """Poll until `condition()` holds; fails only if it never does (not a timing test)."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        pause.wait(0.01)
    raise AssertionError("condition never held")


def test_disconnect_mid_stream_cancels_the_generation(server, model) -> None:
    """A client that reads a few chunks of a 4,000-token ramble and hangs up: its generation
    is cancelled (not completed), and the next request is served."""
    use(model, "ramble", opened=True)
    before = _queue(server)
    with connection(server.url) as conn:
        conn.request("POST", "/v1/chat/completions", json.dumps(chat_body(stream=True)),
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        for _ in range(5):
            assert response.readline()
    _wait(lambda: _queue(server)["running"] == 0)
    after = _queue(server)
    assert after["cancelled"] == before["cancelled"] + 1
    assert after["completed"] == before["completed"]
    use(model, "solve")
    status, _, reply = call(server.url, "POST", "/v1/chat/completions", chat_body())
    assert status == 200 and reply["choices"][0]["message"]["content"] == "answer two"


def test_streams_read_to_the_end_count_as_completed(server, model) -> None:
    use(model, "solve")
    before = _queue(server)
    for _ in range(5):
        status, _, text = call(server.url, "POST", "/v1/chat/completions",
                               chat_body(stream=True))
        assert status == 200 and text.rstrip().endswith("data: [DONE]")
    _wait(lambda: _queue(server)["completed"] == before["completed"] + 5)
    assert _queue(server)["cancelled"] == before["cancelled"]


def test_disconnect_while_waiting_for_a_whole_reply_cancels_it(server, model) -> None:
    use(model, "ramble", opened=True)
    before = _queue(server)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    body = json.dumps(chat_body()).encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        _wait(lambda: _queue(server)["running"] == 1)
    _wait(lambda: _queue(server)["running"] == 0)
    assert _queue(server)["cancelled"] == before["cancelled"] + 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_server_cleanly(backend_ready, scripted: ScriptedModel, sig) -> None:
    """Mid-stream, SIGTERM / Ctrl+C: the stream ends with [DONE] and the process exits 0."""
    process = subprocess.Popen([sys.executable, "-m", "vibe_local.cli", "serve", "-m",
                                str(scripted.gguf), "--port", "0"],
                               stderr=subprocess.PIPE, text=True)
    try:
        url = _announced_url(process)
        with connection(url) as conn:
            conn.request("POST", "/v1/completions", json.dumps(
                {"prompt": RAMBLE_PROMPT, "stream": True}), {"Content-Type": "application/json"})
            response = conn.getresponse()
            assert response.readline().startswith(b"data: ")
            process.send_signal(sig)
            rest = response.read().decode()
        assert rest.rstrip().endswith("data: [DONE]")
        assert process.wait(timeout=30) == 0
        assert "server stopped" in process.stderr.read()
    finally:
        process.kill()
        process.wait()


def _announced_url(process: subprocess.Popen) -> str:
    for line in process.stderr:
        found = re.search(r"API at (http://\S+)/v1", line)
        if found:
            return found.group(1)
    raise AssertionError(f"the server never announced its URL (exit {process.wait()})")


def test_non_loopback_host_needs_a_key(scripted: ScriptedModel, capsys, monkeypatch) -> None:
    monkeypatch.delenv("VIBE_LOCAL_API_KEY", raising=False)
    assert main(["serve", "-m", str(scripted.gguf), "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--api-key" in err and "Traceback" not in err


def test_missing_server_extra_names_the_install(scripted: ScriptedModel, capsys,
                                                monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if it were not installed
    assert main(["serve", "-m", str(scripted.gguf)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install 'vibe-local[server]'" in err


@pytest.mark.parametrize("args", [["--port", "70000"], ["--max-queue", "-1"],
                                  ["--api-key-file", "/nonexistent/key"]])
def test_bad_serve_arguments_are_one_line(scripted: ScriptedModel, capsys, args) -> None:
    assert main(["serve", "-m", str(scripted.gguf), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("vibe-local: error:")


def test_a_taken_port_is_one_line(scripted: ScriptedModel, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        assert main(["serve", "-m", str(scripted.gguf), "--port", port]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "cannot listen" in err


def test_demo_model_answers_through_the_server(backend_ready) -> None:
    """The bundled model, loaded as `serve` loads it, answers an arithmetic question."""
    import vibe_local

    with vibe_local.load("vibethinker-nano") as loaded, \
            BackgroundServer(loaded, ServerConfig(model_id="vibethinker-nano")) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)
        reply = client.chat.completions.create(
            model="vibethinker-nano", messages=[{"role": "user", "content": "What is 12 + 34?"}])
    message = reply.choices[0].message
    assert "\\boxed{46}" in message.content
    assert "result: 46" in message.model_extra["reasoning_content"]
    assert reply.usage.completion_tokens_details.reasoning_tokens > 0


def test_bind_policy() -> None:
    from vibe_local.errors import InvalidRequestError
    from vibe_local.server.runner import check_bind, is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.5", "::", "myhost"))
    assert check_bind("127.0.0.1", None, False) is None
    assert check_bind("0.0.0.0", "key", False) is None
    assert "without an API key" in check_bind("0.0.0.0", None, True)
    with pytest.raises(InvalidRequestError, match="--api-key"):
        check_bind("192.168.1.5", None, False)


def test_api_key_sources(tmp_path, monkeypatch) -> None:
    import argparse

    from vibe_local.commands.serve import _api_key, served_id

    args = argparse.Namespace(api_key=None, api_key_file=None)
    monkeypatch.setenv("VIBE_LOCAL_API_KEY", "from-env")
    assert _api_key(args) == "from-env"
    key_file = tmp_path / "key"
    key_file.write_text("from-file\n")
    assert _api_key(argparse.Namespace(api_key=None, api_key_file=key_file)) == "from-file"
    assert _api_key(argparse.Namespace(api_key="flag", api_key_file=None)) == "flag"
    assert served_id("vibethinker-1.5b:Q4_K_M") == "vibethinker-1.5b"
    assert served_id("/models/VibeThinker-1.5B-Q8_0.gguf") == "VibeThinker-1.5B-Q8_0"
