"""Arithmetic problems: the demo model's curriculum and the `arithmetic` bench task.

One generator serves both, so the bench asks the nano model exactly the kind of question it was
trained on, and asks VibeThinker the same questions. A fixed tenth of all operand pairs is held
out (chosen by a CRC of the problem text, so it is stable across Python versions and runs):
training never sees them, evaluation uses only them.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

OPERATORS = ("+", "-", "*")
HELD_OUT_EVERY = 10  # one problem in ten is never trained on


@dataclass(frozen=True)
class Problem:
    """`a op b` with integer operands; `question` is what the model is asked."""

    a: int
    op: str
    b: int

    @property
    def question(self) -> str:
        return f"What is {self.a} {self.op} {self.b}?"

    @property
    def answer(self) -> int:
        if self.op == "+":
            return self.a + self.b
        if self.op == "-":
            return self.a - self.b
        return self.a * self.b

    @property
    def held_out(self) -> bool:
        """True for the fixed tenth of problems reserved for evaluation."""
        return zlib.crc32(f"{self.a}{self.op}{self.b}".encode()) % HELD_OUT_EVERY == 0


def random_operand(rng: random.Random, digits: int) -> int:
    """A number with exactly `digits` digits (0–9 for one digit)."""
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return rng.randint(low, 10**digits - 1)


def make_problems(seed: int, count: int, *, op: str = "+", digits: tuple[int, int] = (3, 3),
                  held_out: bool | None = True) -> list[Problem]:
    """`count` distinct problems, deterministic for a seed.

    Args:
        op: "+", "-" or "*".
        digits: digit counts of the two operands.
        held_out: True for evaluation problems only, False for training problems only,
            None for either.
    """
    if op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r}; use one of {' '.join(OPERATORS)}")
    rng = random.Random(f"{seed}:{op}:{digits}")
    found: dict[Problem, None] = {}
    attempts = 0
    while len(found) < count:
        attempts += 1
        if attempts > 100 * count + 1000:
            raise ValueError(f"cannot draw {count} distinct problems of shape {digits} {op}")
        problem = Problem(random_operand(rng, digits[0]), op, random_operand(rng, digits[1]))
        if held_out is None or problem.held_out == held_out:
            found[problem] = None
    return list(found)
