"""The ASGI app: OpenAI's routes over one loaded Model, with auth, size limits and errors.

Routes: GET /health (never needs the key), GET /v1/models, GET /v1/models/{id},
POST /v1/chat/completions, POST /v1/completions. Every error, the framework's 404/405 included,
is in OpenAI's schema. The app owns the generation queue; `close_app` stops it.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, replace
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..chat_template import ChatTemplate
from ..engine import Model
from ..errors import ContextFullError, VibeLocalError
from .errors import ApiError
from .jobs import GenerationQueue, Job, QueueClosedError, QueueFullError
from .requests import parse_chat, parse_completion
from .shaping import Shaper
from .streaming import Channel, Reply, collect_unless_disconnected, sse

MAX_BODY_BYTES = 8 * 2**20  # a full 40,960-token context is ~200 KB of text; 8 MiB is generous
OPEN_PATHS = ("/health",)


@dataclass(frozen=True)
class ServerConfig:
    """How the server answers. `api_key` None means no auth (loopback, or --no-auth)."""

    model_id: str
    api_key: str | None = None
    max_queue: int = 8
    think_budget: int | None = None
    speculate: bool = True  # a request's "speculate" overrides it
    max_body_bytes: int = MAX_BODY_BYTES
    retry_after_s: int = 10


@dataclass
class _State:
    model: Model
    config: ServerConfig
    queue: GenerationQueue
    names: set[str]


def create_app(model: Model, config: ServerConfig) -> Starlette:
    """The app serving `model`; its queue starts now and stops with `close_app`."""
    routes = [Route("/health", health), Route("/v1/models", list_models),
              Route("/v1/models/{model_id:path}", get_model),
              Route("/v1/chat/completions", chat_completions, methods=["POST"]),
              Route("/v1/completions", completions, methods=["POST"])]
    app = Starlette(routes=routes, exception_handlers={ApiError: _api_error,
                                                       HTTPException: _http_error,
                                                       Exception: _unexpected})
    path = model.info.path
    names = {config.model_id, f"{config.model_id}:{model.info.quant}", path.name, path.stem}
    app.state.vibe = _State(model, config, GenerationQueue(model, config.max_queue), names)
    if config.api_key:
        app.add_middleware(BearerAuth, key=config.api_key)
    return app


def close_app(app: Starlette, timeout: float = 5.0) -> None:
    """Refuse new generations, cancel the running and waiting ones, wait for the worker."""
    queue = app.state.vibe.queue
    queue.close()
    queue.join(timeout)


class BearerAuth:
    """`Authorization: Bearer KEY` on every route but /health (compared in constant time)."""

    def __init__(self, app, key: str):
        self.app, self._expected = app, f"Bearer {key}".encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                message = ("invalid API key" if given else
                           "missing API key: send the header 'Authorization: Bearer KEY'")
                error = ApiError(401, message, code="invalid_api_key")
                await _api_error(None, error)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def health(request: Request) -> JSONResponse:
    state: _State = request.app.state.vibe
    return JSONResponse({"status": "ok", "model": state.config.model_id,
                         "queue": state.queue.counts()})


async def list_models(request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [_model_card(request.app.state.vibe)]})


async def get_model(request: Request) -> JSONResponse:
    state: _State = request.app.state.vibe
    if request.path_params["model_id"] not in state.names:
        raise ApiError(404, f"the model '{request.path_params['model_id']}' is not served "
                       f"here; this server serves '{state.config.model_id}'",
                       code="model_not_found")
    return JSONResponse(_model_card(state))


def _model_card(state: _State) -> dict[str, Any]:
    info = state.model.info
    return {"id": state.config.model_id, "object": "model",
            "created": int(info.path.stat().st_mtime), "owned_by": "vibe-local",
            "quant": info.quant, "context_length": info.ctx, "n_gpu_layers": info.n_gpu_layers}


async def chat_completions(request: Request) -> Response:
    return await _generate(request, parse_chat)


async def completions(request: Request) -> Response:
    return await _generate(request, parse_completion)


async def _generate(request: Request, parse) -> Response:
    """Check the request, queue its generation, answer streamed or whole."""
    state: _State = request.app.state.vibe
    generation = parse(await _read_json(request, state.config.max_body_bytes), state.names)
    defaults = {"think_budget": state.config.think_budget, "speculate": state.config.speculate}
    sampling = {**{k: v for k, v in defaults.items() if v is not None}, **generation.sampling}
    generation = replace(generation, sampling=sampling)
    prompt_text = await _encode(state.model, generation.prompt, generation.raw)
    shaper = Shaper(generation.split_reasoning, generation.stops,
                    ChatTemplate.opens_thinking(prompt_text))
    channel = Channel()
    job = Job(generation.prompt, generation.raw, generation.sampling, channel.put)
    _submit(state, job)
    reply = Reply(generation, job, channel, shaper, state.config.model_id)
    if generation.stream:
        return StreamingResponse(sse(reply, state.queue), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    result = await collect_unless_disconnected(reply, state.queue, request.receive)
    return Response(status_code=499) if result is None else JSONResponse(result)


async def _encode(model: Model, prompt: Any, raw: bool) -> str:
    """Render and tokenize off the event loop; refuse a prompt the context cannot hold."""
    try:
        prompt_text, _ = await run_in_threadpool(model.encode, prompt, raw=raw)
    except ContextFullError as exc:
        raise ApiError(400, str(exc), param="messages", code="context_length_exceeded") from None
    except VibeLocalError as exc:
        raise ApiError(400, str(exc)) from None
    return prompt_text


def _submit(state: _State, job: Job) -> None:
    try:
        state.queue.submit(job)
    except QueueFullError as exc:
        retry = str(state.config.retry_after_s)
        raise ApiError(503, f"the server is busy ({exc}); retry in {retry} s",
                       type="server_error", code="queue_full",
                       headers={"Retry-After": retry}) from None
    except QueueClosedError as exc:
        raise ApiError(503, str(exc), type="server_error", code="shutting_down") from None


async def _read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object; 413 past `limit` bytes (declared or actually sent)."""
    too_large = ApiError(413, f"the request body is over {limit:,} bytes",
                         code="request_too_large")
    if int(request.headers.get("content-length") or 0) > limit:
        raise too_large
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise too_large
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object", code="invalid_json")
    return data


def _api_error(request: Request | None, exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    kind = "not_found" if exc.status_code == 404 else f"http_{exc.status_code}"
    message = (f"no route {request.method} {request.url.path}; see /v1/models, "
               "/v1/chat/completions, /v1/completions" if exc.status_code == 404 else exc.detail)
    return _api_error(request, ApiError(exc.status_code, message, code=kind))


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return _api_error(request, ApiError(500, f"internal error: {type(exc).__name__}: {exc}",
                                        type="server_error", code="internal_error"))
