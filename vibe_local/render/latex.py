"""One LaTeX math expression -> readable Unicode text (`\\frac{36}{3}` -> ³⁶⁄₃).

Hand-written because no maintained library does what a terminal chat needs: partial input
(unknown commands kept verbatim, never dropped), plain text output, and a clean "cannot render"
for malformed input so the caller can show the original. `render_math` never raises.
"""

from __future__ import annotations

import re

from .latex_commands import render_command
from .latex_parse import BOX_CLOSE, BOX_OPEN, ROW, Parser, Unrenderable

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")

__all__ = ["BOX_CLOSE", "BOX_OPEN", "ROW", "render_math"]


def render_math(latex: str) -> str | None:
    """Unicode text for the math `latex` (without its delimiters), or None when it cannot be
    rendered faithfully (malformed), so the caller shows the original.

    The text may hold BOX_OPEN/BOX_CLOSE (around a boxed answer) and ROW (a line break between
    rows of an aligned environment) for the output target to draw.
    """
    if _CONTROL.search(latex):
        return None
    try:
        text = Parser(latex, render_command).sequence(stop=None)
    except (Unrenderable, RecursionError):
        return None
    return _tidy(text)


def _tidy(text: str) -> str:
    """One space where the source or the spaced operators left several; none inside brackets."""
    text = re.sub(r"[ \t\n]+", " ", text)
    text = re.sub(r"([(\[{⟨]) ", r"\1", text)
    text = re.sub(r" ([)\]}⟩,;])", r"\1", text)
    text = re.sub(rf" ?{ROW}[ {ROW}]*", ROW, text)
    return text.strip(" " + ROW)
