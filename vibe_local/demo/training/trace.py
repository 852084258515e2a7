"""The text the nano model learns to write: a column-by-column trace, then the boxed answer.

Designed for a transformer of a few million parameters trained for minutes on a CPU, so every
step is a lookup that attention finds at a fixed distance:
- every line of a given kind has the same number of tokens, whatever the digits (the column
  line gives the digits and the carry, not the two-digit sum), so for a given problem shape each
  digit the model needs sits a fixed number of tokens back, in the question or a line above;
- the line's place word ("ones", "tens", ...) says which column it is;
- each line ends with the digits found so far ("so 23"), the previous line's with one digit put
  in front, so the final number is a copy, never a reversal done in the head;
- a carry out of the top column gets a column of its own ("thousands: 0+0+1, carry 0, so 1023"),
  so the last "so" is the whole sum;
- a last "result:" line drops leading zeros and puts the sign, and the answer after `</think>`
  is a plain copy of it. Nothing after the question is copied from far away: restating the
  operands in the answer line was the model's most frequent mistake.

    What is 345 + 678?
    <think>
    ones: 5+8+0, carry 1, so 3
    tens: 4+7+1, carry 1, so 23
    hundreds: 3+6+1, carry 1, so 023
    thousands: 0+0+1, carry 0, so 1023
    result: 1023
    </think>

    The answer is \\boxed{1023}.

Subtraction first orders the operands ("compare: 345 < 678, so 678-345") and then borrows
("ones: 2-9-0, borrow 1, so 3"); multiplication takes up to four digits times one digit
("multiply: 345*7", then "ones: 5*7+0, carry 3, so 5").
"""

from __future__ import annotations

from ..problems import Problem

PLACES = ("ones", "tens", "hundreds", "thousands", "ten-thousands")
MAX_DIGITS = 4  # operands the trace covers; the fifth place holds a carry out of the fourth
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def digit_at(n: int, column: int) -> int:
    """The digit of `n` in `column` (0 = ones); 0 past its top digit."""
    return (n // 10**column) % 10


def supported(problem: Problem) -> bool:
    """Whether the trace format covers `problem` (operands up to 4 digits, mul by one digit)."""
    a, b = problem.a, problem.b
    if a < 0 or b < 0 or max(a, b) >= 10**MAX_DIGITS:
        return False
    return problem.op != "*" or min(a, b) < 10


def _column(op: str, t: int, u: int, carry: int) -> tuple[str, int, int]:
    """One column: the worked step, the digit written and the carry (or borrow) passed on."""
    if op == "-":
        borrow = 1 if t - u - carry < 0 else 0
        return f"{t}-{u}-{carry}, borrow {borrow}", 10 * borrow + t - u - carry, borrow
    total = t + u + carry if op == "+" else t * u + carry
    sign = "+" if op == "+" else "*"
    return f"{t}{sign}{u}+{carry}, carry {total // 10}", total % 10, total // 10


def _columns(top: int, bottom: int, op: str) -> list[str]:
    """Column lines for `top op bottom`, the last one's "so" being the whole (unsigned) result.

    The column for a carry out of the top one works `0+0+carry` (or `0*u+carry`) like any other,
    so the model meets no new kind of step there.
    """
    width = max(len(str(top)), 1 if op == "*" else len(str(bottom)))
    lines, so_far, carry = [], "", 0
    for column, place in enumerate(PLACES):
        if column >= width and (carry == 0 or op == "-"):
            break
        t = digit_at(top, column)
        u = bottom if op == "*" else digit_at(bottom, column)
        step, digit, carry = _column(op, t, u, carry)
        so_far = f"{digit}{so_far}"
        lines.append(f"{place}: {step}, so {so_far}")
    assert carry == 0, "a carry gets a column; the smaller taken from the larger never borrows"
    return lines


def thinking(problem: Problem) -> str:
    """The lines inside `<think>`: setup (compare/swap), columns, result."""
    if not supported(problem):
        raise ValueError(f"the nano trace does not cover {problem.question!r}")
    a, op, b = problem.a, problem.op, problem.b
    lines: list[str] = []
    top, bottom, sign = a, b, ""
    if op == "-":
        relation = "<" if a < b else ">" if a > b else "="
        top, bottom, sign = (b, a, "-") if a < b else (a, b, "")
        lines.append(f"compare: {a} {relation} {b}, so {top}-{bottom}")
    elif op == "*":
        top, bottom = (b, a) if a < 10 <= b else (a, b)
        lines.append(f"multiply: {top}*{bottom}")
    lines += _columns(top, bottom, op)
    value = abs(problem.answer)
    lines.append(f"result: {sign if value else ''}{value}")
    return "\n".join(lines)


def answer_line(problem: Problem) -> str:
    """What follows `</think>`: the value boxed, copied from the result line just above."""
    return f"The answer is \\boxed{{{problem.answer}}}."


def reply(problem: Problem) -> str:
    """The whole assistant turn the model is trained to write (before `<|im_end|>`)."""
    return f"{THINK_OPEN}\n{thinking(problem)}\n{THINK_CLOSE}\n\n{answer_line(problem)}"
