"""One request's reply, streamed as server-sent events or collected into one JSON object.

The generation runs on the queue's worker thread; its events cross into the event loop through
an asyncio.Queue (`Channel`). A client that goes away cancels its job: for a stream, Starlette
cancels the response when the connection drops and `finally` cancels the job; for a plain
request, a watcher waits for the disconnect message while the reply is collected.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..errors import VibeLocalError
from ..generation import Done
from . import shaping
from .errors import ApiError
from .jobs import END, GenerationQueue, Job, QueueClosedError
from .requests import GenerationRequest


class Channel:
    """Carries a job's items from the worker thread into the event loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._items: asyncio.Queue = asyncio.Queue()

    def put(self, item: Any) -> None:  # called on the worker thread
        self._loop.call_soon_threadsafe(self._items.put_nowait, item)

    async def items(self) -> AsyncIterator[Any]:
        while (item := await self._items.get()) is not END:
            yield item


@dataclass
class Reply:
    """A request on its way: the job, where its events arrive, and how they are shaped."""

    request: GenerationRequest
    job: Job
    channel: Channel
    shaper: shaping.Shaper
    model_id: str
    id: str = ""
    created: int = 0
    finished: bool = False  # the Done event arrived: nothing left to cancel

    def __post_init__(self) -> None:
        kind = "cmpl" if self.request.raw else "chatcmpl"
        self.id, self.created = f"{kind}-{uuid.uuid4().hex}", int(time.time())

    async def events(self, queue: GenerationQueue) -> AsyncIterator[shaping.Piece | Done]:
        """Shaped pieces, then one Done. Raises ApiError if the generation failed."""
        async for item in self.channel.items():
            if isinstance(item, Exception):
                raise _as_api_error(item)
            if isinstance(item, Done):
                self.finished = True
                for piece in self.shaper.flush():
                    yield piece
                yield item
            elif not self.shaper.stopped:
                for piece in self.shaper.feed(item):
                    yield piece
                if self.shaper.stopped:
                    queue.stop_early(self.job)

    def envelope(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        kind = "text_completion" if self.request.raw else "chat.completion"
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model_id,
                "choices": choices, **extra}


async def collect(reply: Reply, queue: GenerationQueue) -> dict[str, Any]:
    """The whole reply as one chat.completion / text_completion object."""
    stats = None
    async for item in reply.events(queue):
        if isinstance(item, Done):
            stats = item.stats
    if stats is None:  # cancelled while waiting (the server is stopping)
        raise ApiError(503, "the server is shutting down", type="server_error",
                       code="shutting_down")
    shaper = reply.shaper
    choice: dict[str, Any] = {"index": 0, "logprobs": None,
                              "finish_reason": shaping.finish_reason(stats, shaper.stopped),
                              "vibe_local": shaping.details(stats, shaper.stopped)}
    if reply.request.raw:
        choice["text"] = "".join(shaper.content)
    else:
        choice["message"] = shaping.message(shaper)
    return reply.envelope([choice], usage=shaping.usage(stats))


async def collect_unless_disconnected(reply: Reply, queue: GenerationQueue,
                                      receive) -> dict[str, Any] | None:
    """`collect`, but cancel the job and return None if the client disconnects first."""
    collecting = asyncio.ensure_future(collect(reply, queue))
    watching = asyncio.ensure_future(_disconnected(receive))
    await asyncio.wait({collecting, watching}, return_when=asyncio.FIRST_COMPLETED)
    watching.cancel()
    if collecting.done():
        return collecting.result()
    queue.cancel(reply.job)
    collecting.cancel()
    return None


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def sse(reply: Reply, queue: GenerationQueue) -> AsyncIterator[str]:
    """The reply as server-sent events, ending with `data: [DONE]`."""
    try:
        if not reply.request.raw:
            yield _event(_chunk(reply, {"role": "assistant", "content": ""}))
        async for item in reply.events(queue):
            if isinstance(item, Done):
                yield _event(_last_chunk(reply, item))
                if reply.request.include_usage:
                    yield _event(_usage_chunk(reply, item))
            else:
                yield _event(_chunk(reply, shaping.chat_delta(item), item.text))
        yield "data: [DONE]\n\n"
    except ApiError as exc:
        yield _event(exc.body())
        yield "data: [DONE]\n\n"
    finally:
        if not reply.finished:  # the client went away (or the stream failed): stop the job
            queue.cancel(reply.job)


def _chunk(reply: Reply, delta: dict[str, str], text: str = "") -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": None}
    if reply.request.raw:
        choice["text"] = text
    else:
        choice["delta"] = delta
    extra = {"usage": None} if reply.request.include_usage else {}
    chunk = reply.envelope([choice], **extra)
    if not reply.request.raw:
        chunk["object"] = "chat.completion.chunk"
    return chunk


def _last_chunk(reply: Reply, done: Done) -> dict[str, Any]:
    chunk = _chunk(reply, {})
    stopped = reply.shaper.stopped
    chunk["choices"][0].update(finish_reason=shaping.finish_reason(done.stats, stopped),
                               vibe_local=shaping.details(done.stats, stopped))
    return chunk


def _usage_chunk(reply: Reply, done: Done) -> dict[str, Any]:
    """The extra chunk `stream_options.include_usage` asks for: no choices, the usage."""
    chunk = _chunk(reply, {})
    chunk.update(choices=[], usage=shaping.usage(done.stats))
    return chunk


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _as_api_error(exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, QueueClosedError):
        return ApiError(503, str(exc), type="server_error", code="shutting_down")
    if isinstance(exc, VibeLocalError):
        return ApiError(400, str(exc))
    return ApiError(500, f"generation failed: {type(exc).__name__}: {exc}", type="server_error",
                    code="internal_error")
