"""Find the math in a streamed Markdown reply and render it, piece by piece, as it arrives.

`MathStream.feed(text)` returns what can be shown now; text that may still turn out to be
math (an opened `\\(` or `$` not closed yet, a command name cut by a token boundary) is held
back until it is decided, so the screen never shows half-rendered LaTeX, and the output is the
same however the text was split (tests check every split). What is written is only ever
appended to, which is what a Markdown stream needs.

Math is `\\( \\)`, `\\[ \\]`, `$$ $$`, `$ $` (pandoc's rule: no space inside the dollars, no
digit after the closing one, so "$5 and $10" stays money; and on one line, within 400
characters) and a bare `\\boxed{}`; it never spans a blank line. Code (fenced blocks and
`inline` spans) is passed through untouched. Math that cannot be rendered is shown as written
(escaped so Markdown keeps its backslashes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .latex import BOX_CLOSE, BOX_OPEN, ROW, render_math

MAX_MATH_CHARS = 4000  # an opener unclosed after this much text is not math
MAX_DOLLAR_CHARS = 400  # the same for `$...$`, which is also how prices start
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_FENCE_LINE = re.compile(r" {0,3}(`{3,}|~{3,})")
_MAYBE_FENCE = re.compile(r" {0,3}(`{0,2}|~{0,2})")
_NAME = re.compile(r"[A-Za-z]+")
_SPECIAL = re.compile(r"[\n`$\\]")
_MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_escape(text: str) -> str:
    """Backslash before every ASCII punctuation character: Markdown then shows it as is."""
    return _MD_PUNCT.sub(r"\\\1", text)


@dataclass(frozen=True)
class Target:
    """How rendered math is written for one kind of output."""

    escape: Callable[[str], str]
    box_open: str
    box_close: str
    row: str
    unescape: bool = True  # `\$` and `\%` in the text become `$` and `%` (Markdown does it)
    hard_break: str | None = None  # a line end that Markdown keeps (None: line ends are kept)

    def write(self, rendered: str) -> str:
        text = self.escape(rendered)
        if self.box_open.endswith("**"):  # Markdown cannot embolden nothing
            text = text.replace(BOX_OPEN + BOX_CLOSE, "⟦⟧")
        return text.replace(BOX_OPEN, self.box_open).replace(BOX_CLOSE, self.box_close) \
            .replace(ROW, self.row)


def _same(text: str) -> str:
    return text


MARKDOWN = Target(markdown_escape, "⟦**", "**⟧", "\\\n", unescape=False,
                  hard_break="\\\n")  # `\` + newline: a line break Markdown keeps
PLAIN = Target(_same, "⟦", "⟧", "\n")
ANSI = Target(_same, "\033[7m ", " \033[27m", "\n")  # reverse video (leaves dim alone)


def render_text(text: str, target: Target = PLAIN) -> str:
    """A whole message with its math rendered (what the stream shows once it has ended)."""
    stream = MathStream(target)
    return stream.feed(text) + stream.flush()


class MathStream:
    """Feed raw text as it streams; get text with its math rendered (see the module doc)."""

    def __init__(self, target: Target = MARKDOWN):
        self.target = target
        self._buf = ""
        self._bol = True  # at the beginning of a line
        self._fence: str | None = None  # the open code fence's marker, if inside one
        self._line_has_text = False  # the current line has shown something but spaces
        self._display = self._after_display = False  # display math was the last thing shown

    def feed(self, text: str) -> str:
        """Take more raw text; return the rendered text that is now decided."""
        self._buf += text
        return self._scan(final=False)

    def flush(self) -> str:
        """The reply ended: decide and return everything still held back."""
        return self._scan(final=True)

    def _scan(self, final: bool) -> str:
        out: list[str] = []
        i, buf = 0, self._buf
        while i < len(buf):
            step = self._step(buf, i, final)
            if step is None:  # undecided until more text comes
                break
            i, shown = step
            out.append(shown)
            self._note_shown(shown)
        self._buf = buf[i:]
        return "".join(out)

    def _note_shown(self, shown: str) -> None:
        """Remember whether the line has text and whether display math just ended (for
        `_newline`)."""
        if not shown.strip():
            return
        self._after_display, self._display = self._display, False
        self._line_has_text = bool(shown.rpartition("\n")[2].strip())

    def _step(self, buf: str, i: int, final: bool) -> tuple[int, str] | None:
        """Decide what starts at `i`: (where it ends, what to show), or None to wait."""
        if self._bol:
            return self._line_start(buf, i, final)
        if self._fence is not None:
            end = buf.find("\n", i)
            self._bol = end != -1
            end = len(buf) if end == -1 else end + 1
            return end, buf[i:end]
        match = _SPECIAL.search(buf, i)
        if match is None:
            return len(buf), buf[i:]
        if match.start() > i:
            return match.start(), buf[i:match.start()]
        c = buf[i]
        if c == "\n":
            return self._newline(buf, i, final)
        if c == "`":
            return _code_span(buf, i, final)
        if c == "\\":
            return self._backslash(buf, i, final)
        return self._dollar(buf, i, final)

    def _line_start(self, buf: str, i: int, final: bool) -> tuple[int, str] | None:
        """A line that opens or closes a code fence is passed through whole."""
        end = buf.find("\n", i)
        line = buf[i:] if end == -1 else buf[i:end]
        if end == -1 and not final and (_FENCE_LINE.match(line) or _MAYBE_FENCE.fullmatch(line)):
            return None
        fence = _FENCE_LINE.match(line)
        if fence is None:
            self._bol = False
            return i, ""
        marker = fence.group(1)
        if self._fence is None:
            self._fence = marker
        elif marker[0] == self._fence[0] and len(marker) >= len(self._fence) \
                and not line[fence.end():].strip():
            self._fence = None
        end = len(buf) if end == -1 else end + 1
        self._bol = end <= len(buf) and buf[end - 1:end] == "\n"
        return end, buf[i:end]

    def _newline(self, buf: str, i: int, final: bool) -> tuple[int, str] | None:
        """A line end; in Markdown, a hard break when display math starts the next line or
        ended this one, so it keeps a line of its own (a soft break would join the lines)."""
        self._line_has_text, had_text = False, self._line_has_text
        if self.target.hard_break is None or not had_text:
            self._bol = True
            return i + 1, "\n"
        j = i + 1
        while j < len(buf) and buf[j] in " \t":
            j += 1
        after = buf[j:j + 2]
        if len(after) < 2 and not final and ("\\[".startswith(after) or "$$".startswith(after)
                                             or not after):
            self._line_has_text = had_text
            return None  # what the next line starts with is not known yet
        display = after in ("\\[", "$$")
        plain_text = after[:1].isalnum() or after[:1] in ("\\", "$")
        hard = display or (self._after_display and plain_text)
        self._bol = True
        return i + 1, self.target.hard_break if hard else "\n"

    def _backslash(self, buf: str, i: int, final: bool) -> tuple[int, str] | None:
        if i + 1 >= len(buf):
            return None if not final else (i + 1, "\\")
        c = buf[i + 1]
        if c in "([":
            return self._math(buf, i, i + 2, "\\)" if c == "(" else "\\]", final)
        name = _NAME.match(buf, i + 1)
        if name is None:  # an escape such as \$ or \*
            shown = c if self.target.unescape and c in "$%&#" else buf[i:i + 2]
            return i + 2, shown
        if name.end() == len(buf) and not final:
            return None
        if name.group() != "boxed":
            return name.end(), buf[i:name.end()]
        return self._boxed(buf, i, name.end(), final)

    def _boxed(self, buf: str, i: int, after: int, final: bool) -> tuple[int, str] | None:
        """A `\\boxed{...}` outside math delimiters, as the model often writes its answer."""
        end = _group_end(buf, after, MAX_MATH_CHARS)
        if end is None:
            if not final and len(buf) - after < MAX_MATH_CHARS:
                return None
            return after, buf[i:after]
        if end < 0:  # no brace group, or a blank line inside it
            return after, buf[i:after]
        return end, self._render(buf[i:end], buf[i:end])

    def _dollar(self, buf: str, i: int, final: bool) -> tuple[int, str] | None:
        if i + 1 >= len(buf):
            return None if not final else (i + 1, "$")
        if buf[i + 1] == "$":
            return self._math(buf, i, i + 2, "$$", final)
        if buf[i + 1].isspace():
            return i + 1, "$"
        limit = i + MAX_DOLLAR_CHARS  # so a price early in a long line is not held long
        j = buf.find("$", i + 1, limit)
        line_end = buf.find("\n", i, limit)
        if j == -1 or (line_end != -1 and j > line_end):
            if line_end == -1 and not final and len(buf) < limit:
                return None
            return i + 1, "$"  # no closing dollar on this line: money, not math
        if j + 1 >= len(buf) and not final:
            return None  # a digit after it would make it money
        if buf[j - 1].isspace() or buf[j - 1] == "\\" or buf[j + 1:j + 2].isdigit():
            return i + 1, "$"  # "$5 and $10": the next dollar cannot close, so money
        return j + 1, self._render(buf[i + 1:j], buf[i:j + 1])

    def _math(self, buf: str, i: int, body: int, closer: str,
              final: bool) -> tuple[int, str] | None:
        """Math from `i` whose body starts at `body` and ends at `closer`."""
        window = buf[body:body + MAX_MATH_CHARS]
        end = window.find(closer)
        blank = _BLANK_LINE.search(window)
        if end != -1 and (blank is None or end < blank.start()):
            stop = body + end + len(closer)
            self._display = closer != "\\)"
            return stop, self._render(buf[body:body + end], buf[i:stop])
        if blank is None and not final and len(window) < MAX_MATH_CHARS:
            return None
        return body, self.target.escape(buf[i:body])  # an opener never closed: as written

    def _render(self, latex: str, original: str) -> str:
        rendered = render_math(latex)
        if rendered is None:
            return self.target.escape(original)
        return self.target.write(rendered)


def _code_span(buf: str, i: int, final: bool) -> tuple[int, str] | None:
    """An inline code span is shown as is; a backtick run without its closer is literal."""
    run = len(buf) - i - len(buf[i:].lstrip("`"))
    if i + run == len(buf) and not final:
        return None
    closer = re.compile(rf"(?<!`){'`' * run}(?!`)")
    start = i + run
    window = buf[start:start + MAX_MATH_CHARS]
    match = closer.search(window)
    blank = _BLANK_LINE.search(window)
    if match and (blank is None or match.start() < blank.start()):
        if match.end() == len(window) and not final and len(window) < MAX_MATH_CHARS:
            return None  # the closing run may go on
        return start + match.end(), buf[i:start + match.end()]
    if blank is None and not final and len(window) < MAX_MATH_CHARS:
        return None
    return start, buf[i:start]


def _group_end(buf: str, at: int, limit: int) -> int | None:
    """End of the `{...}` group starting at `at` (after spaces); None: not complete yet;
    -1: there is none."""
    j = at
    while j < len(buf) and buf[j] == " ":
        j += 1
    if j >= len(buf):
        return None
    if buf[j] != "{":
        return -1
    depth = 0
    for k in range(j, min(len(buf), at + limit)):
        c = buf[k]
        if c == "\\":
            continue
        if c in "{}" and buf[k - 1] == "\\":
            continue
        if c == "\n" and _BLANK_LINE.match(buf, k):
            return -1
        depth += 1 if c == "{" else -1 if c == "}" else 0
        if depth == 0:
            return k + 1
    return None
