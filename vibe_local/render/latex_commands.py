"""What each LaTeX command renders to; the parser (latex.py) calls `render_command`.

Every command either renders completely or stays verbatim (`Parser.verbatim_command`), so the
output never holds a half-handled command.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import latex_symbols as sym
from .latex_parse import (
    BOX_CLOSE,
    BOX_OPEN,
    ROW,
    ROW_BREAKING,
    Unrenderable,
    cells_and_rows,
    fraction,
    script,
    wrap,
)

if TYPE_CHECKING:
    from .latex_parse import Parser

_ROOTS = {"2": "√", "3": "∛", "4": "∜"}
_NEXT = re.compile(r" *(.)", re.S)
_PASS_THROUGH = frozenset("underbrace overbrace cancel bcancel xcancel smash mathring "
                          "displaylines".split())
_SKIP_ARGUMENT = frozenset("label phantom hphantom vphantom color".split())


def render_command(p: Parser, name: str, before: list[str], text_mode: bool) -> str:
    """The rendering of `\\name` (its arguments are read from the parser)."""
    if name in sym.SPACED:
        return f" {sym.SPACED[name]} "
    if name in sym.ORDINARY:
        return sym.ORDINARY[name]
    if name in sym.FUNCTIONS:
        return _function(p, name)
    if name in sym.SPACES:
        return sym.SPACES[name]
    if name in sym.DROPPED:
        return _dropped(p, name)
    if name in sym.TEXT_COMMANDS:
        return p.argument(text_mode=name.startswith(("text", "mbox", "hbox", "emph")))
    handler = _HANDLERS.get(name)
    if handler is not None:
        return handler(p, name)
    if name in sym.ACCENTS:
        arg = p.argument()
        return "".join(ch + sym.ACCENTS[name] for ch in arg) if arg else ""
    if name in _PASS_THROUGH:
        return p.argument()
    if name in _SKIP_ARGUMENT:
        p.raw_group()
        return ""
    return p.verbatim_command(name)


def _function(p: Parser, name: str) -> str:
    """`\\sin x` -> `sin x`, but `\\gcd(a, b)` -> `gcd(a, b)` and `\\sin^2` -> `sin²`."""
    if name in ("mod", "bmod"):
        return " mod "
    follows = _NEXT.match(p.src, p.pos)
    return name if follows is None or follows.group(1) in "(^_" else name + " "


def _dropped(p: Parser, name: str) -> str:
    """Sizing commands go; `\\left.` (an invisible delimiter) goes with its dot."""
    if name in ("left", "right", "middle") or name.startswith(("big", "Big")):
        while p.peek() == " ":
            p.pos += 1
        if p.peek() == ".":
            p.pos += 1
    return ""


def _frac(p: Parser, name: str) -> str:
    top, bottom = p.argument(), p.argument()
    return fraction(top.strip(" "), bottom.strip(" "))


def _binom(p: Parser, name: str) -> str:
    top, bottom = p.argument(), p.argument()
    return f"C({top.strip()}, {bottom.strip()})"


def _sqrt(p: Parser, name: str) -> str:
    index = p.optional()
    radicand = p.argument().strip(" ")
    index = (index or "2").strip(" ")
    if index in _ROOTS:
        return _ROOTS[index] + wrap(radicand)
    sign = script(index, sym.SUPERSCRIPT, "^")
    if sign.startswith("^"):
        return f"root({index}, {radicand})"
    return sign + "√" + wrap(radicand)


def _boxed(p: Parser, name: str) -> str:
    return BOX_OPEN + p.argument().strip(" ") + BOX_CLOSE


def _pmod(p: Parser, name: str) -> str:
    return f" (mod {p.argument().strip()})"


def _not(p: Parser, name: str) -> str:
    negated = p.argument().strip(" ")
    known = {"=": "≠", "∈": "∉", "⊂": "⊄", "⊆": "⊈", "≡": "≢", "∣": "∤", "<": "≮", ">": "≯"}
    return f" {known.get(negated, negated + chr(0x338))} "


def _mathbb(p: Parser, name: str) -> str:
    """`\\mathbb{R}` -> ℝ; a character without a double-struck form stays plain."""
    return "".join(sym.double_struck(c) or c for c in p.argument())


def _tag(p: Parser, name: str) -> str:
    return f"  ({p.argument(text_mode=True).strip()})"


def _textcolor(p: Parser, name: str) -> str:
    p.raw_group()
    return p.argument()


def _begin(p: Parser, name: str) -> str:
    env = p.raw_group().strip()
    if env not in sym.ENVIRONMENTS:
        raise Unrenderable(f"unknown environment {env}")
    if env in ("array", "alignat", "alignat*"):
        p.raw_group()  # the column spec or count
    body = p.sequence("\\end")
    p.pos += len("\\end")
    if p.peek() == "*":
        p.pos += 1
    if p.raw_group().strip() != env:
        raise Unrenderable(f"\\begin{{{env}}} ends with another \\end")
    return environment(env, body)


def environment(env: str, body: str) -> str:
    """Rows on lines of their own (ROW) for aligned equations and cases; matrices inline."""
    rows = cells_and_rows(body)
    if env in ROW_BREAKING:
        joiner = ", " if env.endswith("cases") else " "
        lines = [joiner.join(c for c in row if c) for row in rows]
        return ROW + ROW.join(line for line in lines if line) + ROW
    left, right = (sym.MATRIX_BRACKETS.get(env) or "  ")[0], \
        (sym.MATRIX_BRACKETS.get(env) or "  ")[-1]
    inner = "; ".join(", ".join(row) for row in rows)
    return f"{left}{inner}{right}".strip(" ")


def _row(p: Parser, name: str) -> str:
    return ROW


def _end(p: Parser, name: str) -> str:
    raise Unrenderable("\\end without \\begin")


_HANDLERS = {
    **dict.fromkeys(sym.FRACTIONS, _frac),
    **dict.fromkeys(("binom", "dbinom", "tbinom"), _binom),
    "sqrt": _sqrt, "boxed": _boxed, "fbox": _boxed, "framebox": _boxed, "pmod": _pmod,
    "not": _not, "mathbb": _mathbb, "Bbb": _mathbb, "tag": _tag, "textcolor": _textcolor,
    "begin": _begin, "end": _end, "newline": _row, "cr": _row,
}


def handled_commands() -> frozenset[str]:
    """Every command name this renderer turns into text (the tests check none is left)."""
    return frozenset({*sym.SPACED, *sym.ORDINARY, *sym.FUNCTIONS, *sym.SPACES, *sym.DROPPED,
                      *sym.TEXT_COMMANDS, *_HANDLERS, *sym.ACCENTS, *_PASS_THROUGH,
                      *_SKIP_ARGUMENT})
