"""The one-shot printer (`vibe-local run`, the demo): math rendered on a terminal, as written
when piped, with --raw, or in --json (which reads the recorded raw text)."""

from __future__ import annotations

import io

import pytest

from fixtures.scripted_engine import STATS
from vibe_local.commands.stream_printer import DIM, RESET, StreamPrinter
from vibe_local.generation import Done
from vibe_local.reasoning import AnswerDelta, ThinkingDelta

THINKING = ["Half of \\(\\fr", "ac{1}{2}\\) is ", "\\(\\frac{1}{4}\\)."]
ANSWER = ["So \\(x^", "2 = 4\\) and x = \\box", "ed{2}", ". It costs $5."]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def printed(out: io.StringIO, **options) -> tuple[str, StreamPrinter]:
    printer = StreamPrinter(out, hide_thinking=False, quiet=False, **options)
    for text in THINKING:
        printer.show(ThinkingDelta(text))
    for text in ANSWER:
        printer.show(AnswerDelta(text))
    printer.show(Done(STATS))
    printer.finish(False)
    return out.getvalue(), printer


def test_terminal_shows_math_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    text, printer = printed(Terminal())
    assert text == (f"{DIM}Half of ¹⁄₂ is ¹⁄₄.{RESET}\n\n"
                    "So x² = 4 and x = \033[7m 2 \033[27m. It costs $5.\n")
    assert "".join(printer.answer) == "".join(ANSWER)  # --json reads these: raw


def test_no_color_frames_the_boxed_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    text, _ = printed(Terminal())
    assert "x = ⟦2⟧." in text


def test_piped_output_and_raw_keep_the_latex(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    piped, _ = printed(io.StringIO())
    assert piped == (f"<think>\n{''.join(THINKING)}\n</think>\n\n{''.join(ANSWER)}\n")
    raw, _ = printed(Terminal(), raw=True)
    assert "".join(ANSWER) in raw and "\\frac{1}{2}" in raw


def test_no_color_writes_no_escape_codes(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    text, _ = printed(Terminal())
    assert "\033" not in text and text.startswith("<think>\n")
    stats = capsys.readouterr().err
    assert "tok/s" in stats and "\033" not in stats  # the stats line still shown, undimmed
