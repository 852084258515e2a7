"""What a benchmark task is: items to ask, and a judge of each reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class TaskItem:
    """One question: a prompt (text or chat messages) and what a correct reply must match."""

    id: str
    prompt: str | list[dict]
    reference: Any


@dataclass(frozen=True)
class Judgement:
    """A scored reply: whether it is correct, what was extracted, and how it was checked.

    `extracted` is short and meant for the report: the number read from the reply, or for code
    the sandbox's one-line outcome. `isolation` is set when code ran in the sandbox.
    """

    correct: bool
    extracted: str | None = None
    isolation: str | None = None


@runtime_checkable
class Task(Protocol):
    """A task: `items` in a fixed order, and `score` for one reply (answer and thinking apart).

    Tasks may also define `judge(item, answer, thinking) -> Judgement`, which `evaluate` prefers
    because it records what was extracted; and `source`, a string naming the data's version.
    """

    name: str

    def items(self, limit: int | None = None) -> list[TaskItem]: ...

    def score(self, item: TaskItem, answer: str, thinking: str) -> bool: ...


def first(items: list[TaskItem], limit: int | None) -> list[TaskItem]:
    """The first `limit` items (all when None); a limit below 1 is a mistake, not an empty run."""
    from ...errors import InvalidRequestError

    if limit is None:
        return list(items)
    if limit < 1:
        raise InvalidRequestError(f"--limit must be at least 1 (got {limit})")
    return list(items[:limit])
