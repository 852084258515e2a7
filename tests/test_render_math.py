"""The LaTeX renderer on a corpus of math as VibeThinker writes it (tests/fixtures/math_corpus.txt):
known forms render as expected, nothing raises, no handled command survives, unknown ones stay
verbatim, malformed math is shown as written, and a streamed reply renders the same however it
is split into tokens."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from vibe_local.render import ANSI, MARKDOWN, PLAIN, MathStream, render_math, render_text
from vibe_local.render.latex_commands import handled_commands
from vibe_local.render.math_stream import markdown_escape

CORPUS_PATH = Path(__file__).parent / "fixtures" / "math_corpus.txt"
CORPUS = [line for line in CORPUS_PATH.read_text("utf-8").splitlines()
          if line and not line.startswith("#")]
COMMAND = re.compile(r"\\([A-Za-z]+)")

EXPECTED = {
    r"\(\frac{36}{3}\)": "³⁶⁄₃",
    r"\(\frac{a+b}{c}\)": "(a+b)/c",
    r"\(\frac{n(n+1)}{2}\)": "n(n+1)/2",
    r"\(\sqrt{x+1}\)": "√(x+1)",
    r"\(\sqrt[3]{27} = 3\)": "∛27 = 3",
    r"\(x_{n+1} = x_n^2\)": "xₙ₊₁ = xₙ²",
    r"\(e^{i\pi} + 1 = 0\)": "e^(iπ) + 1 = 0",
    r"\(90^\circ\)": "90°",
    r"\(\sum_{i=1}^{n} i^2 = \frac{n(n+1)(2n+1)}{6}\)": "∑ᵢ₌₁ⁿ i² = n(n+1)(2n+1)/6",
    r"\(\lim_{x \to 0} \frac{\sin x}{x} = 1\)": "lim_(x→0) (sin x)/x = 1",
    r"\(\alpha + \beta = \gamma\)": "α + β = γ",
    r"\(3 \times 4 = 12\)": "3 × 4 = 12",
    r"\(x \implies y\)": "x ⟹ y",
    r"\(a \equiv b \pmod{7}\)": "a ≡ b (mod 7)",
    r"\(x \in \mathbb{R}\)": "x ∈ ℝ",
    r"\(x \not\in S\)": "x ∉ S",
    r"\(x = 2 \text{ or } x = 3\)": "x = 2 or x = 3",
    r"\(1\,000\,000\)": "1000000",
    r"\(\text{cost} = \$12.50\)": "cost = $12.50",
    r"\(50\%\)": "50%",
    r"\[ x = \boxed{7} \]": "x = ⟦7⟧",
    r"The answer is \boxed{12}.": "The answer is ⟦12⟧.",
    r"\boxed{\$45.20}": "⟦$45.20⟧",
    r"\(\left( \frac{1}{2} \right)^2\)": "(¹⁄₂)²",
    r"\(\gcd(12, 18) = 6\)": "gcd(12, 18) = 6",
    r"\(\binom{5}{2} = 10\)": "C(5, 2) = 10",
    r"\[ \begin{aligned} x + y &= 5 \\ x - y &= 1 \end{aligned} \]": "x + y = 5\nx - y = 1",
    r"\[ \begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix} \]": "(1, 2; 3, 4)",
    r"$x^2 + 1$": "x² + 1",
    r"It costs $5 and $10 in total.": "It costs $5 and $10 in total.",
    r"Pay $20, then $x = 20$ solves it.": "Pay $20, then x = 20 solves it.",
    r"\(\mathscr{A}\)": r"\mathscr{A}",
    r"\(\mathcal{O}(n \log n)\)": r"\mathcal{O}(n log n)",
    r"\(\frac{1}{2\)": r"\(\frac{1}{2\)",
    r"\(a + b}\)": r"\(a + b}\)",
    r"\( x + 1": r"\( x + 1",
}


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 150
    assert set(EXPECTED) <= set(CORPUS)


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_known_forms_render_as_expected(source: str) -> None:
    assert render_text(source, PLAIN) == EXPECTED[source]


@pytest.mark.parametrize("target", [PLAIN, MARKDOWN, ANSI], ids=["plain", "markdown", "ansi"])
def test_corpus_never_raises_and_leaves_no_handled_command(target) -> None:
    handled = handled_commands()
    for source in CORPUS:
        body = _body(source)
        rendered = render_math(body) if body is not None else None
        if rendered is not None:
            left = {name for name in COMMAND.findall(rendered) if name in handled}
            assert not left, (source, rendered)
        assert isinstance(render_text(source, target), str)


def test_unknown_commands_stay_verbatim() -> None:
    for source in CORPUS:
        body = _body(source)
        if body is None or render_math(body) is None:
            continue
        assert r"\zzunknown{" in render_math(body + r" \zzunknown{1}"), source


def test_malformed_math_is_shown_as_written() -> None:
    for source in CORPUS:
        body = _body(source)
        if body is not None and render_math(body) is None:
            assert render_text(source, PLAIN) == source
            # In Markdown the backslashes are escaped so the screen shows them.
            assert render_text(source, MARKDOWN) == markdown_escape(source)


def test_boxed_answer_stands_out_on_each_target() -> None:
    assert render_text(r"\boxed{42}", MARKDOWN) == "⟦**42**⟧"
    assert render_text(r"\boxed{42}", ANSI) == "\033[7m 42 \033[27m"
    assert render_text(r"\boxed{}", MARKDOWN) == "⟦⟧"


def test_code_is_never_rendered() -> None:
    reply = ("Use `$x$` or `\\frac{a}{b}` here:\n\n```python\nprint('$x$', r'\\(y\\)')\n```\n"
             "~~~\n\\[ z \\]\n~~~\n")
    assert render_text(reply, MARKDOWN) == reply


def test_math_does_not_cross_a_blank_line() -> None:
    assert render_text("\\( a\n\nb \\)", PLAIN) == "\\( a\n\nb \\)"


def _messages() -> list[str]:
    """Replies made of corpus pieces, prose, code and lists, as the model streams them."""
    rng = random.Random(16)
    pieces = CORPUS + ["Let's compute.", "```python\nprint('$5')\n```", "- step `x$`", "",
                       "Money: $3 and $4.", "So \\(x\\) is", "\\[\n\\frac{1}{2}\n\\]",
                       "Spent $7 on " + "word " * 90 + "and $x$ too"]
    messages = []
    for _ in range(12):
        chosen = rng.sample(pieces, 14)
        messages.append("".join(p + rng.choice([" ", "\n", "\n\n", " and "]) for p in chosen))
    return messages


@pytest.mark.parametrize("message", _messages())
def test_every_split_renders_like_the_whole(message: str) -> None:
    whole = render_text(message, MARKDOWN)
    for cut in range(len(message) + 1):
        stream = MathStream(MARKDOWN)
        assert stream.feed(message[:cut]) + stream.feed(message[cut:]) + stream.flush() == \
            whole, cut
    stream = MathStream(MARKDOWN)
    assert "".join(stream.feed(c) for c in message) + stream.flush() == whole


def test_held_back_math_appears_only_when_closed() -> None:
    stream = MathStream(PLAIN)
    assert stream.feed("So \\(\\frac{1}") == "So "
    assert stream.feed("{2}") == ""
    assert stream.feed("\\) is half") == "¹⁄₂ is half"
    assert stream.feed(" and $5") == " and "
    assert stream.feed(" more\n") == "$5 more\n"
    long = "then $7 " + "word " * 100
    assert stream.feed(long) == long  # a price is not held back for a whole long line


def _body(source: str) -> str | None:
    """The math inside the first delimiters of a corpus line (None: no closed math)."""
    for opener, closer in (("\\(", "\\)"), ("\\[", "\\]"), ("$$", "$$"), ("$", "$")):
        start = source.find(opener)
        end = source.find(closer, start + len(opener))
        if start != -1 and end != -1:
            return source[start + len(opener):end]
    if source.startswith("\\boxed"):
        return source
    return None


def test_escaped_dollar_and_percent_outside_math() -> None:
    assert render_text("A 15\\% tip on \\$40.", PLAIN) == "A 15% tip on $40."
    assert render_text("A 15\\% tip.", MARKDOWN) == "A 15\\% tip."  # Markdown unescapes it


def test_display_math_keeps_a_line_of_its_own_in_markdown() -> None:
    reply = "Thus,\n\\[\nx = 5\n\\]\nso we stop.\n\n\\[ y \\]\n\n- a list\n"
    assert render_text(reply, MARKDOWN) == "Thus,\\\nx \\= 5\\\nso we stop.\n\ny\n\n- a list\n"
    assert render_text(reply, PLAIN) == "Thus,\nx = 5\nso we stop.\n\ny\n\n- a list\n"
