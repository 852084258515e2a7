"""Terminal rendering of model output that needs no Textual: LaTeX math as Unicode text.

`render_math` renders one expression; `MathStream` finds and renders the math in a streamed
Markdown reply (used by the chat UI and the one-shot CLI printer).
"""

from .latex import render_math
from .math_stream import ANSI, MARKDOWN, PLAIN, MathStream, Target, render_text

__all__ = ["ANSI", "MARKDOWN", "PLAIN", "MathStream", "Target", "render_math", "render_text"]
