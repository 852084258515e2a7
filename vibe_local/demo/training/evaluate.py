"""Measure the nano model through the real engine: exact answers on held-out problems, per quant.

    uv run python -m vibe_local.demo.training.evaluate LADDER_DIR --quants BF16,Q8_0,Q4_K_M,Q2_K

Each problem is asked as a user would ask it (`model.chat(question)`) and counts as right when
the value inside `\\boxed{}` of the answer equals the true result. Problems come from
`make_problems(..., held_out=True)`, so none was seen in training. No torch needed.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path
from typing import Any

from ...bench.tasks.answers import last_boxed, parse_number, same_number
from ..problems import Problem, make_problems

EVAL_SEED = 2024
SETS = {"add 3+3": ("+", (3, 3)), "sub 3-3": ("-", (3, 3)), "mul 3*1": ("*", (3, 1))}


def boxed_value(answer: str) -> Fraction | None:
    """The number inside the answer's last `\\boxed{}` (read as the benchmarks read it), or None
    when there is no box: the nano model promises one, so a bare number does not count."""
    boxed = last_boxed(answer)
    return None if boxed is None else parse_number(boxed)


def held_out(name: str, count: int) -> list[Problem]:
    """`count` evaluation problems of the named set (see SETS)."""
    op, digits = SETS[name]
    return make_problems(EVAL_SEED, count, op=op, digits=digits, held_out=True)


def accuracy(model: Any, problems: list[Problem], **overrides: Any) -> float:
    """Share of `problems` that `model` (a loaded vibe_local Model) answers exactly."""
    right = sum(same_number(boxed_value(model.chat(p.question, **overrides).answer), p.answer)
                for p in problems)
    return right / len(problems)


def main(argv: list[str] | None = None) -> None:
    import vibe_local

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", type=Path, help="a .gguf file or a ladder directory")
    p.add_argument("--quants", default="auto", help="comma-separated quants of a ladder")
    p.add_argument("--count", type=int, default=200, help="problems per set")
    p.add_argument("--temperature", type=float, default=0.0, help="0 is greedy")
    args = p.parse_args(argv)
    for quant in args.quants.split(","):
        with vibe_local.load(args.model, quant=quant, ctx=512, threads=2) as model:
            scores = {name: accuracy(model, held_out(name, args.count),
                                     temperature=args.temperature, seed=0, max_tokens=400)
                      for name in SETS}
        shown = "  ".join(f"{name} {score:6.1%}" for name, score in scores.items())
        print(f"{model.info.quant:8} {shown}", flush=True)


if __name__ == "__main__":
    main()
