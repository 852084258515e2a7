"""The `default` calibration text: math and code problems with worked reasoning, in
VibeThinker's chat format (ChatML, thinking between <think> tags, answer in \\boxed{}).

The text is written by this module from a fixed seed rather than taken from a data set: it is
the project's own (no licence to track), small (shipped as code), identical on every machine,
and shaped like what VibeThinker reads and writes. `problem_prompts` gives the same problems
without solutions, for `--calibration self` (the model writes its own thinking).
"""

from __future__ import annotations

import random
from collections.abc import Callable

DEFAULT_NAME = "vibe-quantize default calibration v1"
DEFAULT_PROBLEMS = 160
_SEED = 20251203
INSTRUCTION = "Let's think step by step and output the final answer within \\boxed{}."

# (question, reasoning, final answer) made from a random source
Worked = tuple[str, str, str]


def _addition(rng: random.Random) -> Worked:
    a, b = rng.randint(100, 99999), rng.randint(100, 99999)
    steps, carry = [], 0
    for place, (x, y) in enumerate(zip(str(a)[::-1].ljust(6, "0"), str(b)[::-1].ljust(6, "0"))):
        total = int(x) + int(y) + carry
        if place < max(len(str(a)), len(str(b))) or total:
            steps.append(f"Place {place}: {x} + {y} + carry {carry} = {total}, "
                         f"write {total % 10}, carry {total // 10}.")
        carry = total // 10
    return (f"What is {a} + {b}?", "\n".join(steps) + f"\nSo {a} + {b} = {a + b}.", str(a + b))


def _product(rng: random.Random) -> Worked:
    a, b = rng.randint(12, 999), rng.randint(12, 99)
    tens, ones = divmod(b, 10)
    reasoning = (f"Split {b} into {tens * 10} + {ones}.\n{a} * {tens * 10} = {a * tens * 10}.\n"
                 f"{a} * {ones} = {a * ones}.\nAdd them: {a * tens * 10} + {a * ones} = {a * b}.")
    return f"Compute {a} * {b}.", reasoning, str(a * b)


def _linear(rng: random.Random) -> Worked:
    x, a, b = rng.randint(-20, 30), rng.randint(2, 12), rng.randint(-50, 50)
    c = a * x + b
    lhs = f"{a}x {'+' if b >= 0 else '-'} {abs(b)}"
    move = f"Subtract {b}" if b >= 0 else f"Add {-b}"
    reasoning = (f"We have {lhs} = {c}.\n{move} on both sides: {a}x = {c - b}.\n"
                 f"Divide by {a}: x = {x}.\nCheck: {a} * ({x}) + ({b}) = {a * x + b}. Correct.")
    return f"Solve for x: {lhs} = {c}.", reasoning, str(x)


def _series(rng: random.Random) -> Worked:
    n = rng.randint(5, 200)
    total = n * (n + 1) // 2
    reasoning = (f"The sum 1 + 2 + ... + n equals n(n + 1)/2.\nWith n = {n}: {n} * {n + 1} = "
                 f"{n * (n + 1)}, and half of that is {total}.\nSmall check with n = 3: "
                 f"1 + 2 + 3 = 6 = 3 * 4 / 2. The formula holds.")
    return f"What is the sum of the integers from 1 to {n}?", reasoning, str(total)


def _gcd(rng: random.Random) -> Worked:
    g = rng.randint(2, 40)
    a, b = g * rng.randint(2, 60), g * rng.randint(2, 60)
    lines, x, y = [], max(a, b), min(a, b)
    while y:
        lines.append(f"{x} = {x // y} * {y} + {x % y}")
        x, y = y, x % y
    reasoning = "Use the Euclidean algorithm.\n" + "\n".join(lines) + f"\nThe last non-zero " \
        f"remainder is {x}."
    return f"Find the greatest common divisor of {a} and {b}.", reasoning, str(x)


def _modular(rng: random.Random) -> Worked:
    base, exp, mod = rng.randint(2, 9), rng.randint(5, 40), rng.choice([7, 9, 11, 13, 17])
    powers, value, seen = [], 1, {}
    for k in range(1, mod + 2):
        value = value * base % mod
        powers.append(f"{base}^{k} = {value} (mod {mod})")
        if value in seen:
            break
        seen[value] = k
    answer = pow(base, exp, mod)
    reasoning = "List the powers until they repeat:\n" + "\n".join(powers) + \
        f"\nSo {base}^{exp} mod {mod} = {answer}."
    return f"What is the remainder when {base}^{exp} is divided by {mod}?", reasoning, str(answer)


def _percent(rng: random.Random) -> Worked:
    price, off = rng.randint(20, 500), rng.choice([5, 10, 15, 20, 25, 30, 40, 50])
    cut = price * off / 100
    final = price - cut
    reasoning = (f"{off}% of {price} is {price} * {off} / 100 = {cut:g}.\nThe new price is "
                 f"{price} - {cut:g} = {final:g}.")
    return (f"A book costs ${price}. It is on sale for {off}% off. What is the sale price in "
            "dollars?", reasoning, f"{final:g}")


_CODE_TASKS = (
    ("returns the number of vowels in a string s", "count_vowels(s)",
     "    return sum(1 for ch in s.lower() if ch in 'aeiou')", "count_vowels('Mathematics')", 4),
    ("returns True when n is prime", "is_prime(n)",
     "    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n"
     "        if n % i == 0:\n            return False\n        i += 1\n    return True",
     "is_prime(97)", True),
    ("returns the n-th Fibonacci number (F(0) = 0, F(1) = 1)", "fib(n)",
     "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a", "fib(20)",
     6765),
    ("returns the digits of n summed", "digit_sum(n)",
     "    return sum(int(d) for d in str(abs(n)))", "digit_sum(98765)", 35),
    ("returns the largest element of a non-empty list xs", "largest(xs)",
     "    best = xs[0]\n    for x in xs[1:]:\n        if x > best:\n            best = x\n"
     "    return best", "largest([3, 41, 7, 12])", 41),
)


def _code(rng: random.Random) -> Worked:
    what, signature, body, call, result = rng.choice(_CODE_TASKS)
    question = f"Write a Python function {signature} that {what}. What does {call} return?"
    reasoning = (f"I need a function that {what}.\nA loop over the input is enough; "
                 f"no library is needed.\n```python\ndef {signature}:\n{body}\n```\n"
                 f"Trace {call} by hand: the function gives {result}.")
    return question, reasoning, str(result)


_KINDS: tuple[Callable[[random.Random], Worked], ...] = (
    _addition, _product, _linear, _series, _gcd, _modular, _percent, _code)


def _worked(count: int, seed: int) -> list[Worked]:
    rng = random.Random(seed)
    return [_KINDS[i % len(_KINDS)](rng) for i in range(count)]


def user_turn(question: str) -> str:
    """A problem as VibeThinker's official prompts pose it, up to the assistant's turn."""
    return f"<|im_start|>user\n{question}\n{INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n"


def default_text(count: int = DEFAULT_PROBLEMS, seed: int = _SEED) -> str:
    """The shipped calibration text: `count` problems, each a whole conversation."""
    return "".join(
        f"{user_turn(q)}<think>\n{reasoning}\n</think>\n\nThe answer is \\boxed{{{answer}}}."
        "<|im_end|>\n"
        for q, reasoning, answer in _worked(count, seed))


def problem_prompts(count: int, seed: int = _SEED + 1) -> list[str]:
    """Prompts without solutions (another seed than the default text) for `self`."""
    return [user_turn(q) for q, _, _ in _worked(count, seed)]
