"""Helpers for driving the chat app under `run_test()`: build it, wait for it, read it."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

from vibe_local.history import History
from vibe_local.tui import ChatApp
from vibe_local.tui.widgets import ErrorMessage, Notice

MACHINE = {"memory": "16GiB", "gpu": "none"}  # a simulated machine: the same fit everywhere
SIZE = (100, 30)
MIB = 2**20


def async_test(test):
    """Run an async test function in its own event loop (no pytest async plugin needed)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def make_app(model: str | Path, history_path: Path, **kwargs: Any) -> ChatApp:
    """The real app with fixed memory reading and clock, on a history file of the test's own."""
    kwargs.setdefault("machine", MACHINE)
    return ChatApp(str(model), history=History(history_path),
                   memory_reader=lambda: 512 * MIB, clock=lambda: 0.0, **kwargs)


async def until(pilot, condition, what: str, timeout_s: float = 120.0) -> None:
    """Let the app run until `condition()` holds; fail (not hang) if it never does."""
    waited = 0.0
    while not condition():
        if waited > timeout_s:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)
        waited += 0.02


async def loaded(pilot, app: ChatApp) -> None:
    await until(pilot, lambda: app.model is not None or app.state == "no model", "the model")


async def send(pilot, app: ChatApp, text: str, *, wait: bool = True) -> None:
    """Type `text` in the box and press Enter; by default wait for the reply to end."""
    app.query_one("#prompt").load_text(text)
    await pilot.press("enter")
    await pilot.pause()
    if wait:
        await until(pilot, lambda: not app.generating
                    and app.state not in ("generating …", "stopping …"),
                    "the reply to end")
        await pilot.pause()


def notices(app: ChatApp) -> list[str]:
    return [str(n.render()) for n in app.query(Notice)]


def errors(app: ChatApp) -> list[str]:
    return [str(e.render()) for e in app.query(ErrorMessage)]
