"""`arithmetic`: held-out problems from the demo model's generator (vibe_local/demo/problems.py).

A fixed mix — 3-digit addition, 3-digit subtraction, 2-digit × 1-digit multiplication — drawn
only from the tenth of problems the bundled demo model never trains on. Items alternate between
the three kinds, so `--limit N` keeps the mix. The prompt is the question as the generator
writes it ("What is 123 + 456?"), the reference its integer answer.
"""

from __future__ import annotations

from ...demo.problems import make_problems
from .answers import NumberJudge
from .base import TaskItem, first

MIX = (("+", (3, 3)), ("-", (3, 3)), ("*", (2, 1)))
PROBLEM_SEED = 0  # fixed: every run and every quant gets the same problems
PER_KIND = 50  # 2-digit × 1-digit has only ~90 held-out problems in all


class ArithmeticTask(NumberJudge):
    """Held-out arithmetic, scored by exact integer match of the final number."""

    name = "arithmetic"
    source = f"vibe_local.demo.problems (seed {PROBLEM_SEED}, held out)"

    def __init__(self, per_kind: int = PER_KIND):
        from ...errors import InvalidRequestError

        if per_kind < 1:
            raise InvalidRequestError(f"per_kind must be at least 1 (got {per_kind})")
        try:
            kinds = [make_problems(PROBLEM_SEED, per_kind, op=op, digits=digits, held_out=True)
                     for op, digits in MIX]
        except ValueError as exc:
            raise InvalidRequestError(f"arithmetic: {exc}; ask for fewer problems") from None
        self._items = [TaskItem(f"arithmetic/{p.a}{p.op}{p.b}", p.question, p.answer)
                       for round_ in zip(*kinds) for p in round_]

    def items(self, limit: int | None = None) -> list[TaskItem]:
        return first(self._items, limit)
