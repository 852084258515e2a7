"""Print a streamed reply: thinking dimmed (or between <think> lines when piped), then the answer.

Shared by `vibe-local run` and `vibe-local demo`, so both show a reply the same way. On a
terminal, LaTeX math is shown as Unicode (vibe_local.render; the boxed answer in reverse video,
or framed ⟦ ⟧ under NO_COLOR) unless `raw`; piped output and --json keep the text as written.
"""

from __future__ import annotations

import os
import sys

DIM, RESET = "\033[2m", "\033[0m"


class StreamPrinter:
    """Writes thinking and answer as they stream; remembers them for --json."""

    def __init__(self, out, *, hide_thinking: bool, quiet: bool, raw: bool = False):
        self.out, self.hide, self.quiet = out, hide_thinking, quiet
        self.terminal = out.isatty()
        # dim styling on a terminal; NO_COLOR (no-color.org) or a pipe: <think> lines instead
        self.tty = self.terminal and not os.environ.get("NO_COLOR")
        self._math = None if raw or not self.terminal else _math_streams()
        self.thinking: list[str] = []
        self.answer: list[str] = []
        self.stats = None
        self._in_thinking = False

    def show(self, event) -> None:
        from ..generation import Done
        from ..reasoning import ThinkingDelta

        if isinstance(event, Done):
            self.stats = event.stats
        elif isinstance(event, ThinkingDelta):
            self.thinking.append(event.text)
            if not self.hide:
                self._write(self._open_thinking() + self._shown("thinking", event.text))
        else:
            self.answer.append(event.text)
            self._write(self._close_thinking() + self._shown("answer", event.text))

    def announce(self, line: str) -> None:
        """A line about the run before it starts (what was loaded, how fast it should go), on
        stderr, when the output is a terminal (as the closing speed line)."""
        if self.terminal and not self.quiet:
            dim, reset = (DIM, RESET) if self.tty else ("", "")
            print(f"{dim}{line}{reset}", file=sys.stderr, flush=True)

    def finish(self, interrupted: bool) -> None:
        end = "\n" if self.answer or self.thinking else ""
        self._write(self._close_thinking() + self._shown("answer", None) + end)
        if self.quiet:
            return
        note = "stopped" if interrupted else (self.stats.finish_reason if self.stats else "")
        if self.stats and self.terminal:
            s, (dim, reset) = self.stats, (DIM, RESET) if self.tty else ("", "")
            print(f"{dim}{s.completion_tokens} tokens · {s.generation_tokens_per_s:.1f} tok/s · "
                  f"prompt {s.prompt_tokens_per_s:.0f} tok/s · {note}{reset}", file=sys.stderr)
        elif interrupted:
            print("(stopped)", file=sys.stderr)

    def _open_thinking(self) -> str:
        if self._in_thinking:
            return ""
        self._in_thinking = True
        return DIM if self.tty else "<think>\n"

    def _close_thinking(self) -> str:
        if not self._in_thinking:
            return ""
        self._in_thinking = False
        held = self._shown("thinking", None)
        return f"{held}{RESET}\n\n" if self.tty else "\n</think>\n\n"

    def _shown(self, kind: str, text: str | None) -> str:
        """`text` with its math rendered (what is decided so far); None: the rest, at the end."""
        if self._math is None:
            return text or ""
        return self._math[kind].flush() if text is None else self._math[kind].feed(text)

    def _write(self, text: str) -> None:
        if text and not self.quiet:
            self.out.write(text)
            self.out.flush()


def _math_streams() -> dict:
    from ..render import ANSI, PLAIN, MathStream

    target = PLAIN if os.environ.get("NO_COLOR") else ANSI
    return {"thinking": MathStream(target), "answer": MathStream(target)}
