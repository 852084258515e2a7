"""Ranges of the benchmarks' numeric options, and the one check both benchmarks use.

A benchmark runs for minutes to hours, so a number that cannot work (0 repetitions, -1 chunks,
a million threads) is refused before it starts, in one line that names the option.
"""

from __future__ import annotations

from ..errors import InvalidRequestError

MAX_THREADS = 512  # llama.cpp's GGML_MAX_N_THREADS: more cannot be used
MAX_REPS = 1000  # beyond this the standard deviation no longer moves; a typo, not a plan


def check_range(option: str, value: int | None, low: int, high: int | None = None,
                why: str = "") -> None:
    """`value` (None: not given) must lie in [low, high].

    Raises:
        InvalidRequestError: "--option must be at least/most N (got V)".
    """
    if value is None:
        return
    if value < low:
        raise InvalidRequestError(f"{option} must be at least {low} (got {value})")
    if high is not None and value > high:
        raise InvalidRequestError(f"{option} must be at most {high:,} (got {value:,}){why}")


def check_threads(threads: int | None) -> None:
    """--threads: from 1 to what llama.cpp can use (None: the runtime's default)."""
    check_range("--threads", threads, 1, MAX_THREADS,
                "; leave --threads out to use the physical cores")
