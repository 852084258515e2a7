"""The training mix: which problems, how often, and how each becomes token ids with a loss mask.

Problems come from `vibe_local.demo.problems.make_problems(..., held_out=False)`, so the tenth
of operand pairs that evaluation uses is never seen in training. Every operand length from 1 to
4 digits is mixed in; longer shapes are drawn more often because they have more steps to learn,
and 3-digit by 3-digit (what the demo and the tests ask) `focus` times more again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..problems import Problem, make_problems
from .tokenizer import EOS_TOKEN, chat_prompt
from .trace import reply

SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
SYSTEM_SHARE = 0.1  # some prompts carry the usual math system message, so it does not derail
POOL_SIZE = 20_000  # distinct problems per shape at most
OP_SHARE = {"+": 0.5, "-": 0.3, "*": 0.2}


def shapes(op: str) -> list[tuple[int, int]]:
    """Operand digit counts trained for `op` (multiplication: up to 4 digits times 1 digit)."""
    if op == "*":
        return [(d, 1) for d in range(1, 5)] + [(1, d) for d in range(2, 5)]
    return [(da, db) for da in range(1, 5) for db in range(1, 5)]


def shape_weight(op: str, digits: tuple[int, int], focus: float) -> float:
    return max(digits) * (focus if digits == (3, 3) and op != "*" else 1.0)


def _space(digits: tuple[int, int]) -> int:
    """How many operand pairs have these digit counts."""
    count = 1
    for d in digits:
        count *= 10 if d == 1 else 9 * 10 ** (d - 1)
    return count


@dataclass
class Curriculum:
    """Seeded sampler over the training pools of every (op, shape)."""

    pools: dict[tuple[str, tuple[int, int]], list[Problem]]
    weights: list[float]
    rng: random.Random
    close: float = 0.0  # share of same-length differences drawn with equal leading digits

    @classmethod
    def build(cls, seed: int, focus: float = 12.0, op_share: dict[str, float] | None = None,
              close: float = 0.0) -> Curriculum:
        pools: dict[tuple[str, tuple[int, int]], list[Problem]] = {}
        weights: list[float] = []
        for op, share in (op_share or OP_SHARE).items():
            total = sum(shape_weight(op, s, focus) for s in shapes(op))
            for digits in shapes(op):
                count = min(POOL_SIZE, int(_space(digits) * 0.8))
                pools[(op, digits)] = make_problems(seed, count, op=op, digits=digits,
                                                    held_out=False)
                weights.append(share * shape_weight(op, digits, focus) / total)
        return cls(pools, weights, random.Random(seed), close)

    def sample(self) -> Problem:
        key = self.rng.choices(list(self.pools), self.weights)[0]
        op, (da, db) = key
        if op == "-" and da == db > 1 and self.rng.random() < self.close:
            return self.rng.choice(self._close_pool(key))
        return self.rng.choice(self.pools[key])

    def _close_pool(self, key: tuple[str, tuple[int, int]]) -> list[Problem]:
        """The pool's pairs whose leading digits are equal: the `compare:` line must then look
        further right (899 - 812 is positive, 812 - 899 is not), the step the model misses."""
        if key not in self._close:
            self._close[key] = [p for p in self.pools[key] if str(p.a)[0] == str(p.b)[0]]
        return self._close[key]

    def __post_init__(self) -> None:
        self._close: dict[tuple[str, tuple[int, int]], list[Problem]] = {}

    def texts(self, count: int) -> list[str]:
        """Whole chat transcripts, for training the tokenizer."""
        return [chat_prompt(p.question, SYSTEM_PROMPT) + reply(p) + EOS_TOKEN
                for p in (self.sample() for _ in range(count))]


def encode_example(tok, problem: Problem, system: str | None) -> tuple[list[int], int]:
    """Token ids of prompt + reply + `<|im_end|>`, and where the reply starts (loss from there).

    Prompt and reply are encoded apart, as the model meets them: the engine tokenizes the prompt
    and the model then writes the reply's tokens one by one.
    """
    prompt = tok.encode(chat_prompt(problem.question, system)).ids
    answer = tok.encode(reply(problem)).ids + [tok.token_to_id(EOS_TOKEN)]
    return prompt + answer, len(prompt)


def next_example(curriculum: Curriculum, tok) -> tuple[list[int], int]:
    system = SYSTEM_PROMPT if curriculum.rng.random() < SYSTEM_SHARE else None
    return encode_example(tok, curriculum.sample(), system)
