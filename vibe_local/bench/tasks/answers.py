r"""Reading a final number out of a model's reply, and comparing it with the reference.

Where the number is taken from, first match wins:

1. the last `\boxed{...}` (or `\fbox{...}`) in the answer, braces nested to any depth — the form
   the prompts ask for and the one VibeThinker's math training uses;
2. else the last `#### N` line (GSM8K's own answer format);
3. else the last number in the answer text.

The thinking is never read: a reply whose answer is empty (its thinking never closed) is wrong,
and numbers met along a reasoning trace are not answers. Inside a box, LaTeX decoration is
removed (`\$`, `\%`, `\text{..}`, thin spaces, `{,}`), thousands separators are dropped
(`1,234`), `\frac{a}{b}` becomes a/b, and if several numbers remain the last one is taken
(`\boxed{x = 5}` is 5). Outside a box, only plain numbers count (`3/4` reads as 4).
Numbers are compared exactly as fractions, so `12.0` equals `12` and `0.50` equals `1/2`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

from .base import Judgement, TaskItem

# A number not glued to a word or another number: -12, 1,234, 0.5 (a sentence's final period
# is not a decimal point). Thousands groups only count in threes, so "3,4" is two numbers.
_NUMBER = r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\d)"
NUMBER = re.compile(_NUMBER)
NUMBER_OR_FRACTION = re.compile(_NUMBER + r"(?:\s*/\s*\d+(?!\d))?")
BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
HASHES = re.compile(r"####\s*([^\n]*)")
FRAC = re.compile(r"\\[dt]?frac\s*\{\s*([^{}]*?)\s*\}\s*\{\s*([^{}]*?)\s*\}")
TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
THIN_SPACE_THOUSANDS = re.compile(r"(?<=\d)\\[,!]\s*(?=\d{3}(?!\d))")
LATEX_NOISE = ("\\$", "$", "\\%", "%", "\\!", "\\,", "\\;", "\\:", "\\ ", "\\left", "\\right")


def last_boxed(text: str) -> str | None:
    """Content of the last complete `\\boxed{...}` in `text` (nested braces handled)."""
    for match in reversed(list(BOX.finditer(text))):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return text[start:i]
    return None


def parse_number(text: str) -> Fraction | None:
    """The number a short answer states (`$1,234`, `-5`, `12.0`, `\\frac{3}{4}`, `x = 5`)."""
    cleaned = TEXT_WRAPPER.sub(r" \1 ", text)
    cleaned = FRAC.sub(r"(\1)/(\2)", cleaned).replace("{,}", ",")
    cleaned = THIN_SPACE_THOUSANDS.sub("", cleaned)  # 1\,234 -> 1234
    for noise in LATEX_NOISE:
        cleaned = cleaned.replace(noise, " ")
    cleaned = re.sub(r"\((-?[\d.,]+)\)/\((\d+)\)", r"\1/\2", cleaned)  # (3)/(4) -> 3/4
    cleaned = re.sub(r"-\s+(?=\d)", "-", cleaned)  # "- 5" -> "-5"
    found = NUMBER_OR_FRACTION.findall(cleaned)
    return _to_fraction(found[-1]) if found else None


def extract_number(answer: str) -> Fraction | None:
    """The final number of a reply's answer text (see the module docstring for the rules)."""
    answer = answer.replace("\u2212", "-")  # Unicode minus sign
    boxed = last_boxed(answer)
    if boxed is not None:
        return parse_number(boxed)
    hashes = HASHES.findall(answer)
    if hashes:
        return parse_number(hashes[-1])
    found = NUMBER.findall(answer)
    return _to_fraction(found[-1]) if found else None


def same_number(found: Fraction | None, reference: Fraction | int | str) -> bool:
    """Exact numeric equality; a missing answer never matches."""
    if found is None:
        return False
    expected = reference if isinstance(reference, (Fraction, int)) else parse_number(reference)
    return expected is not None and found == expected


def format_number(value: Fraction | None) -> str | None:
    """Short text for a report: 12, -5, 12.5, 1/3."""
    if value is None:
        return None
    if value.denominator == 1:
        return str(value.numerator)
    if _terminates(value.denominator):
        return format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return f"{value.numerator}/{value.denominator}"


def _to_fraction(token: str) -> Fraction | None:
    try:
        return Fraction(re.sub(r"[\s,]", "", token))
    except (ValueError, ZeroDivisionError):
        return None


def _terminates(denominator: int) -> bool:
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator == 1


class NumberJudge:
    """Mixin for tasks whose reference is a number: judge by the reply's final number."""

    def judge(self, item: TaskItem, answer: str, thinking: str) -> Judgement:
        found = extract_number(answer)
        return Judgement(same_number(found, item.reference), format_number(found))

    def score(self, item: TaskItem, answer: str, thinking: str) -> bool:
        return self.judge(item, answer, thinking).correct
