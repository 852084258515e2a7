"""The LaTeX math parser: source -> Unicode text, one item at a time (see latex.py).

Commands are rendered by a callable the parser is given (latex_commands.render_command), so
this module holds the grammar (groups, arguments, scripts) and nothing about what a command
means. Rendered text may hold the control characters BOX_OPEN/BOX_CLOSE (around a boxed
answer), ROW (between rows of a multi-line environment) and CELL (between cells); the output
target turns them into its own markup (math_stream.Target).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import latex_symbols as sym

BOX_OPEN, BOX_CLOSE, ROW, CELL = "\x01", "\x02", "\x03", "\x04"
_ATOM = re.compile(r"[\w.′°√!\u0300-\u036f\u20d7]*")
_GROUP = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\|[^|]*\|")
_LETTERS = re.compile(r"[A-Za-z]+")
ROW_BREAKING = frozenset({"aligned", "align", "align*", "alignat", "alignat*", "gather",
                           "gather*", "gathered", "split", "eqnarray", "eqnarray*", "multline",
                           "multline*", "cases", "dcases", "rcases", "equation", "equation*"})


class Unrenderable(ValueError):
    """The expression is malformed (unbalanced braces, a command without its argument)."""


def is_atom(text: str) -> bool:
    """Whether `text` can stand next to `/` or `√` without parentheses: a name, a number or
    a call such as `f(x+1)`, not a sum."""
    if not text:
        return False
    bare, previous = text, None
    while bare != previous:  # drop bracketed groups, innermost first
        previous, bare = bare, _GROUP.sub("", bare)
    return bool(_ATOM.fullmatch(bare))


def wrap(text: str) -> str:
    return text if is_atom(text) else f"({text})"


def script(text: str, table: dict[str, str], mark: str) -> str:
    """`2` -> `²`; what has no Unicode form stays as `^(x+y)` / `_k`."""
    if text == "∘" and mark == "^":
        return "°"
    text = text.replace(" ", "") if len(text) > 1 else text  # `_{x \to 0}` -> x→0
    if text and all(c in table for c in text):
        return "".join(table[c] for c in text)
    return mark + (text if len(text) == 1 else f"({text})")


def fraction(top: str, bottom: str) -> str:
    """`³⁶⁄₃` when both parts have small forms, else `(a+b)/c`."""
    small = len(top) + len(bottom) <= 8 and top.isalnum() and bottom.isalnum()
    if small and all(c in sym.SUPERSCRIPT for c in top) \
            and all(c in sym.SUBSCRIPT for c in bottom):
        return "".join(sym.SUPERSCRIPT[c] for c in top) + "⁄" + \
            "".join(sym.SUBSCRIPT[c] for c in bottom)
    return f"{wrap(top)}/{wrap(bottom)}"


class Parser:
    """Recursive descent over the source; each method returns rendered text."""

    def __init__(self, source: str, commands: Callable[..., str]):
        self.src, self.pos = source, 0
        self.commands = commands  # (parser, name, before, text_mode) -> text

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def sequence(self, stop: str | None, text_mode: bool = False) -> str:
        """Render until `stop` (`}`, `]` or `\\end`) or the end of the source."""
        out: list[str] = []
        while self.pos < len(self.src):
            c = self.src[self.pos]
            if c == stop or (stop == "\\end" and self.src.startswith("\\end", self.pos)):
                return "".join(out)
            out.append(self.item(out, text_mode))
        if stop is not None:
            raise Unrenderable(f"missing {stop}")
        return "".join(out)

    def item(self, before: list[str], text_mode: bool) -> str:
        c = self.src[self.pos]
        self.pos += 1
        if c == "{":
            inner = self.sequence("}", text_mode)
            self.pos += 1
            return inner
        if c == "}":
            raise Unrenderable("unbalanced }")
        if c == "\\":
            return self.command(before, text_mode)
        if text_mode:
            return " " if c == "~" else ("" if c == "$" else c)
        return self.math_char(c, before)

    def math_char(self, c: str, before: list[str]) -> str:
        if c in "^_":
            arg = self.argument()
            if before and before[-1].endswith(" "):  # `\sum ^n`: attach to the symbol
                before[-1] = before[-1].rstrip(" ")
            return script(arg, sym.SUPERSCRIPT if c == "^" else sym.SUBSCRIPT, c)
        if c == "'":
            return "′"
        if c == "~":
            return " "
        if c == "&":
            return CELL
        return c

    def argument(self, text_mode: bool = False) -> str:
        """One argument: a `{group}`, a command, or a single character."""
        while self.peek() in (" ", "\n", "\t"):
            self.pos += 1
        c = self.peek()
        if not c or c in "}^_&":
            raise Unrenderable("missing argument")
        self.pos += 1
        if c == "{":
            inner = self.sequence("}", text_mode)
            self.pos += 1
            return inner.strip(" ") if not text_mode else inner
        if c == "\\":
            return self.command([], text_mode).strip(" ")
        return c

    def raw_group(self) -> str:
        """The source of a `{...}` argument, unrendered (for names and kept-verbatim args)."""
        while self.peek() == " ":
            self.pos += 1
        if self.peek() != "{":
            raise Unrenderable("missing {")
        depth, start = 0, self.pos
        for i in range(self.pos, len(self.src)):
            if self.src[i] == "\\":
                continue
            if self.src[i] == "{" and self.src[i - 1] != "\\":
                depth += 1
            elif self.src[i] == "}" and self.src[i - 1] != "\\":
                depth -= 1
                if depth == 0:
                    self.pos = i + 1
                    return self.src[start + 1:i]
        raise Unrenderable("unbalanced {")

    def optional(self) -> str | None:
        """An optional `[...]` argument (as in `\\sqrt[3]{x}`), rendered."""
        if self.peek() != "[":
            return None
        self.pos += 1
        inner = self.sequence("]")
        self.pos += 1
        return inner

    def command(self, before: list[str], text_mode: bool) -> str:
        match = _LETTERS.match(self.src, self.pos)
        if match is None:
            return self.symbol_escape()
        name = match.group()
        self.pos = match.end()
        if self.peek() == "*" and name in ("operatorname", "begin", "end"):
            self.pos += 1
        return self.commands(self, name, before, text_mode)

    def symbol_escape(self) -> str:
        """`\\%`, `\\,`, `\\\\` ...: one non-letter after the backslash."""
        c = self.peek()
        if not c:
            raise Unrenderable("lone backslash")
        self.pos += 1
        if c == "\\":
            return ROW
        if c in sym.ESCAPES:
            return sym.ESCAPES[c]
        if c in "()[]":
            return c
        return "\\" + c

    def verbatim_command(self, name: str) -> str:
        """An unknown command, kept as written, with its `{...}` arguments (rendered: what
        is inside may well be known)."""
        out = "\\" + name
        while self.peek() == "{":
            self.pos += 1
            out += "{" + self.sequence("}") + "}"
            self.pos += 1
        return out + (" " if self.peek() == " " else "")


def cells_and_rows(body: str) -> list[list[str]]:
    """Split an environment's rendered body into rows of cells."""
    rows = [row for row in body.split(ROW)]
    if rows and not rows[-1].strip(" " + CELL):
        rows.pop()  # a trailing `\\`
    return [[cell.strip(" ") for cell in row.split(CELL)] for row in rows]

