"""Task accuracy of one loaded model: ask every item of a task, `samples` times, and score.

Sampling uses the model's recommended settings (`model.sampling`: VibeThinker's temperature
0.6, top_p 0.95) with fixed seeds — pass k uses seed `seed + k` for every item, so every quant is
asked with the same seeds. Greedy decoding is available (`greedy=True`, temperature 0) but is
not the default: it makes reasoning models loop. A reply that ends by reaching `max_tokens` or
the end of the context (or was cancelled) counts as wrong without being read; its finish reason
is recorded.

Uncertainty: with n items and k samples, let p_i be item i's fraction of correct samples.
Accuracy is the mean of p_i (equal to the mean of the k per-pass accuracies), and its standard
error is the sample standard deviation of the p_i over items divided by sqrt(n) — items are the
unit of sampling, the k samples of one item are not independent of each other. For k = 1 this
is sqrt(acc (1 - acc) / (n - 1)). It needs at least two items (None otherwise).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ContextFullError, InvalidRequestError
from .tasks.base import Judgement, Task, TaskItem

UNREAD = ("length", "context_full", "cancelled")  # finish reasons that count as wrong unread


@dataclass
class ItemResult:
    """One item over all sample passes (lists are indexed by pass)."""

    id: str
    correct: int = 0  # passes that were correct
    passes: list[bool] = field(default_factory=list)
    extracted: list[str | None] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    completion_tokens: int = 0


@dataclass
class TaskResult:
    """Accuracy of one model on one task; `to_dict()` is what reports store."""

    task: str
    n_items: int
    samples: int
    accuracy: float
    stderr: float | None
    per_sample: list[float]
    items: list[ItemResult]
    completion_tokens: int
    seconds: float
    greedy: bool
    seed: int
    think_budget: int | None = None
    max_tokens: int | None = None
    source: str | None = None
    isolation: str | None = None  # how humaneval's code was isolated (see sandbox.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line: accuracy ± standard error, sample size, settings, sandbox isolation."""
        spread = f" ± {self.stderr:.1%}" if self.stderr is not None else ""
        mode = "greedy" if self.greedy else f"sampled, seed {self.seed}"
        line = (f"{self.task}: {self.accuracy:.1%}{spread} over {self.n_items} items × "
                f"{self.samples} sample(s) ({mode})")
        return line + (f"; code sandbox: {self.isolation}" if self.isolation else "")


def evaluate(model: Any, task: Task, *, limit: int | None = None, samples: int = 1,
             seed: int = 0, greedy: bool = False, think_budget: int | None = None,
             max_tokens: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> TaskResult:
    """Ask `model` (a vibe_local.engine.Model) every item of `task` and score the replies.

    Args:
        limit: only the first `limit` items.
        samples: passes over the items; pass k samples with seed `seed + k`.
        greedy: temperature 0 instead of the model's recommended sampling (one pass only).
        think_budget, max_tokens: passed to `model.chat` (None: the model's defaults).
        progress: called as progress(done, total) after each reply.

    Raises:
        InvalidRequestError: samples < 1, greedy with samples > 1, or a bad limit.
        The task's own errors (gsm8k: OfflineError, ...) when its items are loaded.
    """
    if samples < 1:
        raise InvalidRequestError(f"--samples must be at least 1 (got {samples})")
    if greedy and samples > 1:
        raise InvalidRequestError("greedy decoding gives the same reply every time; "
                                  "use --samples 1 with --greedy")
    items = task.items(limit)
    options = {"temperature": 0.0 if greedy else None, "think_budget": think_budget,
               "max_tokens": max_tokens}
    started = time.perf_counter()
    results, isolations = [], set()
    total, done = len(items) * samples, 0
    for item in items:  # samples inner: the prompt stays in llama.cpp's cache between passes
        result = ItemResult(item.id)
        for k in range(samples):
            judgement = _ask(model, task, item, result, seed=seed + k, **options)
            result.passes.append(judgement.correct)
            result.correct += judgement.correct
            result.extracted.append(judgement.extracted)
            if judgement.isolation:
                isolations.add(judgement.isolation)
            done += 1
            if progress is not None:
                progress(done, total)
        results.append(result)
    return _summarize(task, results, samples, time.perf_counter() - started,
                      greedy=greedy, seed=seed, think_budget=think_budget, max_tokens=max_tokens,
                      isolation=", ".join(sorted(isolations)) or None)


def _ask(model: Any, task: Task, item: TaskItem, result: ItemResult, **options: Any
         ) -> Judgement:
    """One reply to one item, judged; records its finish reason and tokens in `result`."""
    try:
        reply = model.chat(item.prompt, **options)
    except ContextFullError:
        result.finish_reasons.append("context_full")
        return Judgement(False)
    result.finish_reasons.append(reply.stats.finish_reason)
    result.completion_tokens += reply.stats.completion_tokens
    if reply.stats.finish_reason in UNREAD:
        return Judgement(False)
    judge = getattr(task, "judge", None)
    if judge is not None:
        return judge(item, reply.answer, reply.thinking)
    return Judgement(bool(task.score(item, reply.answer, reply.thinking)))


def _summarize(task: Task, results: list[ItemResult], samples: int, seconds: float,
               **settings: Any) -> TaskResult:
    n = len(results)
    per_item = [r.correct / samples for r in results]
    per_sample = [sum(r.passes[k] for r in results) / n if n else 0.0 for k in range(samples)]
    return TaskResult(task=task.name, n_items=n, samples=samples,
                      accuracy=sum(per_item) / n if n else 0.0, stderr=standard_error(per_item),
                      per_sample=per_sample, items=results,
                      completion_tokens=sum(r.completion_tokens for r in results),
                      seconds=seconds, source=getattr(task, "source", None), **settings)


def standard_error(per_item: list[float]) -> float | None:
    """Standard error of the mean of per-item scores (sample sd / sqrt(n)); None below 2 items."""
    n = len(per_item)
    if n < 2:
        return None
    mean = sum(per_item) / n
    variance = sum((p - mean) ** 2 for p in per_item) / (n - 1)
    return math.sqrt(variance / n)
