"""What a request may ask for, checked before it is queued; anything unsupported is a 400.

OpenAI's server refuses parameters it does not know, and silently ignoring one (`n: 3`, `tools`)
gives a client wrong answers without saying so; so a field is either used, accepted because it
changes nothing here (`user`, `n: 1`, zero penalties), or refused with a message naming it.
Sampling values go through the project's shared rules (`sampling_rules`), as the CLI's do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequestError
from ..sampling_rules import check_sampling_value
from .errors import ApiError, bad_request, unsupported

REASONING_FORMATS = ("auto", "deepseek", "none")  # llama-server's names; "none" = raw tags
MAX_STOPS = 4  # as OpenAI

# Accepted and ignored: they do not change what this server does (or only label the request).
_HARMLESS = {"user", "metadata", "store", "service_tier", "parallel_tool_calls", "stream_options",
             "prompt_cache_key", "safety_identifier"}
_ZERO_BY_DEFAULT = ("presence_penalty", "frequency_penalty", "repeat_penalty")
_CHAT_FIELDS = {"model", "messages", "stream", "max_tokens", "max_completion_tokens",
                "temperature", "top_p", "top_k", "min_p", "seed", "stop", "n", "logprobs",
                "top_logprobs", "logit_bias", "response_format", "tools", "tool_choice",
                "functions", "function_call", "thinking_budget_tokens", "reasoning_budget_tokens",
                "reasoning_format", "reasoning_effort", "speculate", *_ZERO_BY_DEFAULT,
                *_HARMLESS}
_COMPLETION_FIELDS = {"model", "prompt", "stream", "max_tokens", "temperature", "top_p", "top_k",
                      "min_p", "seed", "stop", "n", "logprobs", "logit_bias", "echo", "suffix",
                      "best_of", "thinking_budget_tokens", "reasoning_budget_tokens",
                      "speculate", *_ZERO_BY_DEFAULT, *_HARMLESS}


@dataclass(frozen=True)
class GenerationRequest:
    """A checked request, ready for `Model.stream`."""

    prompt: str | list[dict[str, str]]
    raw: bool  # a finished prompt (/v1/completions): no chat template, raw text back
    stream: bool = False
    include_usage: bool = False
    sampling: dict[str, Any] = field(default_factory=dict)
    stops: tuple[str, ...] = ()
    split_reasoning: bool = True


def parse_chat(body: dict[str, Any], model_names: set[str]) -> GenerationRequest:
    """A /v1/chat/completions body, checked. Raises ApiError (400 or 404)."""
    _check_fields(body, _CHAT_FIELDS)
    _check_common(body, model_names)
    _refuse_set(body, "tools", "tool calling: VibeThinker was not trained for it")
    _refuse_set(body, "functions", "function calling: VibeThinker was not trained for it")
    if body.get("tool_choice") not in (None, "none"):
        raise unsupported("tool_choice", "there are no tools")
    if body.get("function_call") not in (None, "none"):
        raise unsupported("function_call", "there are no functions")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise unsupported("logprobs", "log-probabilities are not returned")
    format_ = (body.get("response_format") or {"type": "text"})
    if not isinstance(format_, dict) or format_.get("type") != "text":
        raise unsupported("response_format", "only {\"type\": \"text\"}")
    if body.get("reasoning_effort") is not None:
        raise unsupported("reasoning_effort", "set thinking_budget_tokens (a token count)")
    reasoning = body.get("reasoning_format", "auto")
    if reasoning not in REASONING_FORMATS:
        raise bad_request(f"reasoning_format must be one of {', '.join(REASONING_FORMATS)}",
                          param="reasoning_format")
    max_tokens = _first(body, "max_completion_tokens", "max_tokens")
    return GenerationRequest(
        prompt=_messages(body.get("messages")), raw=False, stream=_stream(body),
        include_usage=_include_usage(body), sampling=sampling_overrides(body, max_tokens),
        stops=_stops(body.get("stop")), split_reasoning=reasoning != "none")


def parse_completion(body: dict[str, Any], model_names: set[str]) -> GenerationRequest:
    """A /v1/completions body (a raw prompt, the client applied the template). Raises ApiError."""
    _check_fields(body, _COMPLETION_FIELDS)
    _check_common(body, model_names)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad_request("'prompt' must be a non-empty string (one prompt per request)",
                          param="prompt")
    if body.get("echo"):
        raise unsupported("echo", "the prompt is not repeated in the reply")
    if body.get("suffix"):
        raise unsupported("suffix", "no fill-in-the-middle")
    if body.get("best_of") not in (None, 1):
        raise unsupported("best_of", "one completion per request")
    if body.get("logprobs") not in (None, 0, False):
        raise unsupported("logprobs", "log-probabilities are not returned")
    return GenerationRequest(
        prompt=prompt, raw=True, stream=_stream(body), include_usage=_include_usage(body),
        sampling=sampling_overrides(body, body.get("max_tokens")),
        stops=_stops(body.get("stop")), split_reasoning=False)


def sampling_overrides(body: dict[str, Any], max_tokens: Any) -> dict[str, Any]:
    """`Model.stream` overrides from the request, checked by the project's one set of sampling
    rules (`sampling_rules`); what the request leaves out stays the model's default (the
    catalogue's recommended sampling, never silently greedy). Raises ApiError."""
    values = {name: body.get(name) for name in ("temperature", "top_p", "min_p", "top_k", "seed")}
    values["max_tokens"] = max_tokens
    values["think_budget"] = _first(body, "thinking_budget_tokens", "reasoning_budget_tokens")
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        try:
            out[name] = check_sampling_value(name, value)
        except InvalidRequestError as exc:
            raise bad_request(str(exc), param=name) from None
    speculate = body.get("speculate")
    if speculate is not None:  # this server's own field: False decodes one token per step
        if not isinstance(speculate, bool):
            raise bad_request("speculate must be true or false", param="speculate")
        out["speculate"] = speculate
    return out


def _check_fields(body: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise ApiError(400, f"unrecognized request argument(s): {', '.join(unknown)}",
                       param=unknown[0], code="unknown_parameter")
    for name in _ZERO_BY_DEFAULT:
        neutral = 1.0 if name == "repeat_penalty" else 0.0  # the value that changes nothing
        if body.get(name) not in (None, neutral):
            raise unsupported(name, "VibeThinker is evaluated without penalties; leave it out")
    if body.get("logit_bias"):
        raise unsupported("logit_bias", "token biases are not applied")


def _check_common(body: dict[str, Any], model_names: set[str]) -> None:
    model = body.get("model")
    if model is not None and model not in model_names:
        raise ApiError(404, f"the model '{model}' is not served here; GET /v1/models lists "
                       f"'{sorted(model_names)[0]}'", param="model", code="model_not_found")
    if body.get("n") not in (None, 1):
        raise unsupported("n", "one choice per request; send several requests with seeds")


def _refuse_set(body: dict[str, Any], name: str, what: str) -> None:
    if body.get(name):
        raise unsupported(name, what)


def _first(body: dict[str, Any], *names: str) -> Any:
    return next((body[n] for n in names if body.get(n) is not None), None)


def _stream(body: dict[str, Any]) -> bool:
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise bad_request("'stream' must be true or false", param="stream")
    return bool(stream)


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object", param="stream_options")
    return bool(options.get("include_usage"))


def _stops(stop: Any) -> tuple[str, ...]:
    stops = [stop] if isinstance(stop, str) else stop
    if stops is None:
        return ()
    if (not isinstance(stops, list) or len(stops) > MAX_STOPS
            or not all(isinstance(s, str) and s for s in stops)):
        raise bad_request(f"'stop' must be a non-empty string or a list of up to {MAX_STOPS}",
                          param="stop")
    return tuple(stops)


def _messages(messages: Any) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list", param="messages")
    return [_message(m, i) for i, m in enumerate(messages)]


def _message(message: Any, index: int) -> dict[str, str]:
    param = f"messages[{index}]"
    if not isinstance(message, dict):
        raise bad_request(f"{param} must be an object with 'role' and 'content'", param=param)
    role = message.get("role")
    if role == "developer":
        role = "system"  # OpenAI's newer name for the system prompt
    if role not in ("system", "user", "assistant"):
        raise bad_request(f"{param}.role must be system, developer, user or assistant "
                          f"(tools are not supported), not {role!r}", param=f"{param}.role")
    return {"role": role, "content": _content(message.get("content"), f"{param}.content")}


def _content(content: Any, param: str) -> str:
    """A message's text: a string, or content parts of type "text" (as Continue sends)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise unsupported(param, "only text content parts (the model reads no images)")
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise bad_request(f"{param} must be a string or a list of text parts", param=param)
