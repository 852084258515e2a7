"""The one set of rules for sampling parameters, used by every way a user can set them.

The CLI flags (`run --temperature ...`), the Python API (`Model.stream(temperature=...)`), the
chat UI's `/set` and any server all call `check_sampling_value`, so a value is accepted or
refused with the same words everywhere. NaN, infinity, negatives and values llama.cpp would
silently misread (a seed above 32 bits, a top_p above 1) are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from .errors import InvalidRequestError

SEED_MAX = 2**32 - 2  # llama.cpp's seed is 32-bit; 2**32 - 1 means "pick one at random"


@dataclass(frozen=True)
class Rule:
    """A number of one kind in [low, high]; `above_low`: low itself is refused."""

    kind: type
    low: float
    high: float | None = None
    above_low: bool = False
    optional: bool = False  # None (or "off" where typed) means no limit / random

    def describe(self) -> str:
        if self.above_low and self.high is not None:
            return f"above {self.low} and at most {self.high}"
        if self.high is not None:
            return f"between {self.low} and {self.high}"
        return f"at least {self.low}"


RULES: dict[str, Rule] = {
    "temperature": Rule(float, 0.0, 2.0),
    "top_p": Rule(float, 0.0, 1.0, above_low=True),
    "top_k": Rule(int, 0),
    "min_p": Rule(float, 0.0, 1.0),
    "max_tokens": Rule(int, 1),
    "think_budget": Rule(int, 0, optional=True),
    "seed": Rule(int, 0, SEED_MAX, optional=True),
}


def check_sampling_value(name: str, value: Any) -> Any:
    """Return `value` (a number, or text as typed) as the right kind if the rules allow it.

    Raises:
        InvalidRequestError: unknown name, not a number of the right kind, NaN, infinite or out
            of range; the message names the parameter and its valid range.
    """
    rule = RULES.get(name)
    if rule is None:
        raise InvalidRequestError(f"unknown sampling option {name!r}; valid: {', '.join(RULES)}")
    if value is None or (rule.optional and str(value).strip().lower() in ("off", "none")):
        if rule.optional:
            return None
        raise InvalidRequestError(f"{name} needs a value")
    number = _as_number(name, value, rule.kind)
    if not math.isfinite(number):
        raise InvalidRequestError(f"{name} must be a finite number, not {value}")
    too_low = number <= rule.low if rule.above_low else number < rule.low
    if too_low or (rule.high is not None and number > rule.high):
        raise InvalidRequestError(f"{name} must be {rule.describe()}, not {value}")
    return number


def validate_sampling(sampling: Any) -> Any:
    """Check every field of a `Sampling` (or any dataclass with those fields); return it.

    Raises:
        InvalidRequestError: the first field that breaks its rule.
    """
    assert is_dataclass(sampling)
    for field in fields(sampling):
        if field.name in RULES:
            check_sampling_value(field.name, getattr(sampling, field.name))
    return sampling


def _as_number(name: str, value: Any, kind: type) -> float | int:
    """`value` as `kind`: text is parsed; an int is a valid float; bools and 1.5 tokens are not."""
    what = "a whole number" if kind is int else "a number"
    if isinstance(value, bool):
        raise InvalidRequestError(f"{name} must be {what}, not {value!r}")
    if isinstance(value, str):
        try:
            return kind(value.strip())
        except ValueError:
            raise InvalidRequestError(f"{name} must be {what}, not {value!r}") from None
    if kind is int and isinstance(value, int):
        return value
    if kind is float and isinstance(value, (int, float)):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidRequestError(f"{name} must be {what}, not {value!r}")
