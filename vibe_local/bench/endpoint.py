"""Any OpenAI-compatible server as the model of the accuracy bench (`--endpoint URL`).

`EndpointModel.chat` answers like the engine's `Model.chat` (a Reply with thinking, answer and
the stats the bench reads), so `accuracy.evaluate` asks a vLLM or llama-server cluster, or
another `vibe-local serve`, exactly as it asks a local quant: same prompts, same seeds.

The thinking is read from `reasoning_content` or `reasoning` (servers with a reasoning parser);
a server without one returns `<think>…</think>` inside `content`, which is split here with the
engine's own splitter. Sampling is sent explicitly (default: VibeThinker's recommended,
`engine.DEFAULT_SAMPLING`, which the local bench uses for a ladder's files), because servers'
own defaults differ (vLLM's temperature is 1.0 unless the model's generation config says).
Plain urllib: the base install needs no HTTP client package for this.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ..engine import DEFAULT_SAMPLING, Reply
from ..errors import ContextFullError, InvalidRequestError, VibeLocalError
from ..generation import GenerationStats, Sampling
from ..reasoning import ReasoningSplitter

TIMEOUT_S = 3600.0  # one reply of a reasoning model can take many minutes


class EndpointError(VibeLocalError, ConnectionError):
    """The endpoint could not be reached, or answered with an error."""


class EndpointModel:
    """A model behind an OpenAI-compatible `/v1` URL.

    Args:
        url: the API base, e.g. http://127.0.0.1:8000/v1 (a URL without /v1 gets it added).
        api_key: sent as `Authorization: Bearer KEY`.
        model: the model id to ask for (default: the first one GET /models lists).
        sampling: temperature, top_p, top_k and min_p to send (top_k and min_p only when on).
    """

    def __init__(self, url: str, api_key: str | None = None, model: str | None = None,
                 timeout: float = TIMEOUT_S, sampling: Sampling = DEFAULT_SAMPLING):
        if not url.startswith(("http://", "https://")):
            raise InvalidRequestError(f"--endpoint must be an http(s) URL, not {url!r}")
        base = url.rstrip("/")
        self.url = base if base.endswith("/v1") else f"{base}/v1"
        self.api_key, self.timeout, self.sampling = api_key, timeout, sampling
        self.model = model or self._first_model()

    def chat(self, prompt: str, *, temperature: float | None = None,
             think_budget: int | None = None, max_tokens: int | None = None,
             seed: int | None = None) -> Reply:
        """One reply to a single user message (see `engine.Model.chat`)."""
        s = self.sampling
        body: dict[str, Any] = {"model": self.model, "seed": seed, "top_p": s.top_p,
                                "messages": [{"role": "user", "content": prompt}],
                                "temperature": s.temperature if temperature is None
                                else temperature}
        optional = {"max_tokens": max_tokens, "thinking_budget_tokens": think_budget,
                    "top_k": s.top_k or None, "min_p": s.min_p or None}
        body.update({k: v for k, v in optional.items() if v is not None})
        answer = self._call("POST", "/chat/completions", body)
        choice = answer["choices"][0]
        message = choice.get("message") or {}
        thinking = message.get("reasoning_content") or message.get("reasoning")
        content = message.get("content") or ""
        if thinking is None:
            thinking, content = _split(content)
        return Reply(thinking, content, _stats(answer, choice))

    def _first_model(self) -> str:
        listed = self._call("GET", "/models").get("data") or []
        if not listed:
            raise EndpointError(f"{self.url}/models lists no model; pass the model id")
        return listed[0]["id"]

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise _http_error(exc, self.url + path) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EndpointError(f"cannot use {self.url + path}: {reason}; is the server "
                                "running, and is the URL its /v1 base?") from None


def _http_error(exc: urllib.error.HTTPError, where: str) -> VibeLocalError:
    """The server's own message (OpenAI's error schema), as the project's error."""
    try:
        error = json.loads(exc.read()).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    message = error.get("message") if isinstance(error, dict) else str(error)
    if isinstance(error, dict) and error.get("code") == "context_length_exceeded":
        return ContextFullError(message)
    hint = "; check --api-key" if exc.code == 401 else ""
    return EndpointError(f"{where} answered {exc.code}: {message or exc.reason}{hint}")


def _split(content: str) -> tuple[str, str]:
    """Thinking and answer of a reply that kept its `<think>` tags in the content."""
    splitter = ReasoningSplitter()
    splitter.feed(content)
    splitter.flush()
    return splitter.thinking_text, splitter.answer_text


def _stats(answer: dict, choice: dict) -> GenerationStats:
    """What the bench reads: finish reason (the engine's, when the server says it) and tokens."""
    usage = answer.get("usage") or {}
    details = choice.get("vibe_local") or {}
    finish = details.get("finish_reason") or choice.get("finish_reason") or "stop"
    return GenerationStats(prompt_tokens=usage.get("prompt_tokens", 0),
                           completion_tokens=usage.get("completion_tokens", 0),
                           finish_reason=finish, seed=details.get("seed"))
