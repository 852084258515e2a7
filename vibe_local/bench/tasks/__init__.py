"""Benchmark tasks for `vibe-local bench quality --task NAME`: arithmetic, gsm8k, humaneval.

Each task gives its items in a fixed order and judges one reply at a time (answers.py reads the
final number; humaneval runs code in the sandbox). `accuracy.evaluate` asks a model the items.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import Judgement, Task, TaskItem

TASKS = ("arithmetic", "gsm8k", "humaneval")
_CLASSES = {"arithmetic": ("arithmetic", "ArithmeticTask"), "gsm8k": ("gsm8k", "Gsm8kTask"),
            "humaneval": ("humaneval", "HumanEvalTask")}

__all__ = ["TASKS", "Judgement", "Task", "TaskItem", "get_task"]


def get_task(name: str, **options: Any) -> Task:
    """The task called `name`, built with `options` (e.g. `timeout_s` for humaneval).

    Nothing is downloaded here; gsm8k fetches its data on the first `items()`.

    Raises:
        InvalidRequestError: unknown task name or option.
    """
    from ...errors import InvalidRequestError

    if name not in _CLASSES:
        raise InvalidRequestError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    module, cls = _CLASSES[name]
    task_class = getattr(importlib.import_module(f".{module}", __package__), cls)
    try:
        return task_class(**options)
    except TypeError as exc:
        raise InvalidRequestError(f"task {name}: {exc}") from None
