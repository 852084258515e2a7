"""The streaming `<think>` splitter, the loop guard and the wrap-up cue."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable

import pytest

from vibe_local.reasoning import (
    THINKING_WRAP_UP,
    AnswerDelta,
    LoopGuard,
    ReasoningSplitter,
    ThinkingDelta,
    wrap_up_cue,
)

TAGS = ("<think>", "</think>")


def split(pieces: list[str], **options: bool | str) -> tuple[str, str, ReasoningSplitter]:
    """Feed all pieces and flush; check the events agree with the splitter's own totals."""
    splitter = ReasoningSplitter(**options)
    events = [event for piece in pieces for event in splitter.feed(piece)] + splitter.flush()
    assert all(event.text for event in events), "no empty deltas"
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    answer = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    assert (thinking, answer) == (splitter.thinking_text, splitter.answer_text)
    return thinking, answer, splitter


def cut(text: str, points: tuple[int, ...]) -> list[str]:
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


SAMPLE = "<think>abc</think>answer"


@pytest.mark.parametrize("point", range(len(SAMPLE) + 1))
def test_one_split_anywhere(point: int) -> None:
    thinking, answer, splitter = split(cut(SAMPLE, (point,)))
    assert (thinking, answer) == ("abc", "answer")
    assert splitter.thinking_closed and splitter.saw_thinking and splitter.state == "answer"


def test_every_pair_of_split_points() -> None:
    for points in itertools.combinations(range(len(SAMPLE) + 1), 2):
        assert split(cut(SAMPLE, points))[:2] == ("abc", "answer"), points


@pytest.mark.parametrize("starts_in_thinking", [False, True])
def test_one_character_per_piece(starts_in_thinking: bool) -> None:
    text = "\nLet x < y.\n</think>\n\nx = 2"
    if not starts_in_thinking:
        text = "\n<think>" + text
    thinking, answer, _ = split(list(text), starts_in_thinking=starts_in_thinking)
    assert (thinking, answer) == ("\nLet x < y.\n", "x = 2")


def test_events_come_in_order_and_are_frozen() -> None:
    splitter = ReasoningSplitter()
    events = splitter.feed("<think>ab</think>cd")
    assert events == [ThinkingDelta("ab"), AnswerDelta("cd")]
    with pytest.raises(dataclasses.FrozenInstanceError):
        events[0].text = "x"  # type: ignore[misc]


def test_starts_in_thinking() -> None:
    thinking, answer, splitter = split(["abc</th", "ink>", "answer"], starts_in_thinking=True)
    assert (thinking, answer) == ("abc", "answer")
    assert splitter.saw_thinking and splitter.thinking_closed


def test_state_before_anything_is_pending() -> None:
    assert ReasoningSplitter().state == "pending"
    assert ReasoningSplitter(starts_in_thinking=True).state == "thinking"


def test_thinking_never_closed_stays_thinking() -> None:
    thinking, answer, splitter = split(["<think>", "but we", " we"])
    assert (thinking, answer) == ("but we we", "")
    assert splitter.state == "thinking" and not splitter.thinking_closed


def test_partial_close_tag_at_end_of_stream_is_thinking_text() -> None:
    splitter = ReasoningSplitter()
    splitter.feed("<think>abc</thi")
    assert splitter.thinking_text == "abc"
    assert splitter.flush() == [ThinkingDelta("</thi")]
    assert splitter.thinking_text == "abc</thi" and not splitter.thinking_closed
    assert splitter.flush() == []


@pytest.mark.parametrize("text", ["<th", "<", "<think"])
def test_partial_open_tag_at_end_of_stream_is_answer_text(text: str) -> None:
    thinking, answer, splitter = split(["  ", text])
    assert (thinking, answer) == ("", text)
    assert splitter.state == "answer" and not splitter.saw_thinking


def test_no_thinking_makes_everything_answer() -> None:
    thinking, answer, splitter = split(["\n The answer", " is <think>4</think>."])
    assert (thinking, answer) == ("", "The answer is <think>4</think>.")
    assert not splitter.saw_thinking and not splitter.thinking_closed


def test_whitespace_before_think_is_dropped() -> None:
    assert split([" ", "\n\n", "  <th", "ink>x</think>y"])[:2] == ("x", "y")


def test_whitespace_only_stream_stays_pending() -> None:
    thinking, answer, splitter = split([" ", "\n"])
    assert (thinking, answer, splitter.state) == ("", "", "pending")


def test_answer_leading_whitespace_is_dropped_across_pieces() -> None:
    assert split(["<think>a</think>", "\n", " \n", "A  B\n", "\n"])[:2] == ("a", "A  B\n\n")


@pytest.mark.parametrize(
    "text",
    ["x < y and y > z", "a <b> c", "see </thinking here", "<<think>", "a<</", "1 <= 2 </ 3"],
)
def test_angle_brackets_that_are_not_tags(text: str) -> None:
    assert split(list(f"<think>{text}</think>{text}"))[:2] == (text, text.lstrip())


def test_answer_that_starts_with_a_non_tag_angle_bracket() -> None:
    assert split(["<", "b> bold"])[:2] == ("", "<b> bold")
    assert split(["</thinking> x"])[:2] == ("", "</thinking> x")


def test_holds_back_only_what_could_still_be_a_tag() -> None:
    splitter = ReasoningSplitter()
    splitter.feed("<think>ab<")
    assert splitter.thinking_text == "ab"
    splitter.feed("<")
    assert splitter.thinking_text == "ab<"  # "<<" cannot start "</think>"; one "<" can
    splitter.feed("/thin")
    assert splitter.thinking_text == "ab<"
    splitter.feed("g")
    assert splitter.thinking_text == "ab<</thing"


def test_stray_close_tag_first_means_empty_closed_thinking() -> None:
    thinking, answer, splitter = split(["\n</thi", "nk>\n\n42"])
    assert (thinking, answer) == ("", "42")
    assert splitter.saw_thinking and splitter.thinking_closed


def test_stray_close_tag_inside_the_answer_is_text() -> None:
    assert split(["Hi </think> there"])[:2] == ("", "Hi </think> there")
    assert split(["<think>a</think>b</think>c"])[:2] == ("a", "b</think>c")


def test_custom_tags() -> None:
    options = {"open_tag": "<reasoning>", "close_tag": "</reasoning>"}
    pieces = list("<reasoning>r <think></reasoning> ok")
    assert split(pieces, **options)[:2] == ("r <think>", "ok")


def test_empty_tags_are_refused() -> None:
    with pytest.raises(ValueError):
        ReasoningSplitter(close_tag="")


def test_long_stream_one_character_at_a_time_lags_by_less_than_a_tag() -> None:
    """200k single characters, many near-tags: never more than a partial tag is held back."""
    body = "x < y, a </thin g, </think b; " * 7000
    splitter = ReasoningSplitter(starts_in_thinking=True)
    emitted = 0
    for fed, char in enumerate(body, start=1):
        emitted += sum(len(event.text) for event in splitter.feed(char))
        assert fed - emitted < len("</think>")
    emitted += sum(len(event.text) for event in splitter.flush())
    assert emitted == len(body) and splitter.thinking_text == body


def test_wrap_up_cue_closes_thinking_in_the_splitter() -> None:
    cue = wrap_up_cue()
    assert cue == THINKING_WRAP_UP.format(close_tag="</think>") and len(cue) < 100
    splitter = ReasoningSplitter(starts_in_thinking=True)
    splitter.feed("but but but")
    splitter.feed(cue)
    splitter.feed("The answer is 4.")
    assert splitter.thinking_closed and splitter.answer_text == "The answer is 4."
    assert "</think>" not in splitter.thinking_text
    assert wrap_up_cue("</reasoning>").count("</reasoning>") == 1


# ---- LoopGuard -------------------------------------------------------------------------------


class Vocab:
    """A toy tokenizer: words (or characters) to ids; digits are single tokens, as in Qwen2."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def words(self, text: str) -> list[int]:
        pieces = re.findall(r"\d|\w+|\s+|[^\w\s]", text)
        return [self.ids.setdefault(piece, len(self.ids)) for piece in pieces]

    @staticmethod
    def chars(text: str) -> list[int]:
        return [ord(c) for c in text]


def hits(tokens: list[int], guard: LoopGuard | None = None) -> list[int]:
    """Positions where the guard reported a loop."""
    guard = guard or LoopGuard()
    return [i for i, token in enumerate(tokens) if guard.feed(token)]


def both_tokenizations(text: str) -> list[list[int]]:
    return [Vocab().words(text), Vocab.chars(text)]


def test_single_token_repeated() -> None:
    guard = LoopGuard()
    assert hits([7] * 1000, guard) == [199]
    assert guard.triggered and guard.pattern == (7,)
    assert guard.reason == "the last 200 tokens repeat a 1-token pattern 200 times"


def test_but_but_after_real_thinking() -> None:
    vocab = Vocab()
    tokens = vocab.words("Let me compute the sum of the first ten squares. First, ") + vocab.words(
        "but " * 400
    )
    guard = LoopGuard()
    found = hits(tokens, guard)
    assert len(found) == 1 and guard.pattern is not None and len(guard.pattern) == 2


def test_short_ngram_loop() -> None:
    vocab = Vocab()
    tokens = vocab.words("So the area is 12. " + "we we but " * 200)
    guard = LoopGuard()
    assert len(hits(tokens, guard)) == 1
    assert guard.pattern is not None and len(guard.pattern) == 6  # "we", " ", "we", " ", "but", " "
    assert "6-token pattern" in (guard.reason or "")


@pytest.mark.parametrize("tokenize", ["words", "chars"])
def test_whole_sentence_repeated(tokenize: str) -> None:
    sentence = "Wait, maybe I should check whether 17 divides the sum again. "
    tokens = getattr(Vocab(), tokenize)("Let me think. " + sentence * 30)
    guard = LoopGuard()
    assert len(hits(tokens, guard)) == 1
    period = len(getattr(Vocab(), tokenize)(sentence))
    assert guard.pattern is not None and len(guard.pattern) == period
    assert f"{period}-token pattern" in (guard.reason or "")


def test_sixty_token_sentence_repeated() -> None:
    block = list(range(1000, 1060))
    found = hits(list(range(50)) + block * 10)
    assert found == [50 + 4 * 60 - 1]  # fourth full copy: 240 tokens >= max(200, 4 x 60)


def test_fires_only_once_until_reset() -> None:
    guard = LoopGuard()
    assert hits([1, 2] * 500, guard) == [199]
    assert not guard.feed(1) and guard.triggered
    guard.reset()
    assert not guard.triggered and guard.reason is None and guard.pattern is None
    assert hits([3] * 300, guard) == [199]


def test_custom_thresholds() -> None:
    assert hits([1, 2, 3] * 10, LoopGuard(min_span=6, min_repeats=2)) == [5]
    assert hits([1, 2, 3] * 10, LoopGuard(min_span=6, min_repeats=3)) == [8]
    assert hits(list(range(20)) * 10, LoopGuard(max_period=10)) == []  # period above the limit


@pytest.mark.parametrize("options", [{"max_period": 0}, {"min_span": 0}, {"min_repeats": 1}])
def test_bad_thresholds_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        LoopGuard(**options)


def numbers_text() -> str:
    return ", ".join(str(n) for n in range(1, 501))


def arithmetic_text() -> str:
    steps, value = [], 3
    for _ in range(500):
        steps.append(f"{value}+4={value + 4}")
        value += 4
    return ", ".join(steps)


def table_text() -> str:
    rows = ["| n | n^2 | n/8 | parity | note |", "|---|---|---|---|---|"]
    for n in range(100):
        rows.append(f"| {n} | {n * n} | {n / 8:.3f} | {'even' if n % 2 == 0 else 'odd'} | ok |")
    return "\n".join(rows)


def similar_lines_text() -> str:
    return "".join(f"x_{i} = 0.5\ny_{i} = 0.5\n" for i in range(1, 400))


def big_numbers_text() -> str:
    line = "Case {}: 1000000000 and 10000000000000000000 and 0.0000000001; "
    return "".join(line.format(i) for i in range(30))


def code_text() -> str:
    blocks = [
        f"def f_{i}(x):\n    if x > {i}:\n        for k in range(x):\n"
        f"            x -= k * {i}\n        return x\n    return x + {i}\n\n"
        for i in range(120)
    ]
    lines = [line for block in blocks for line in block.split("\n")]
    return "class Table:\n" + "".join(f"    {line}\n" for line in lines)


def multiplication_text() -> str:
    a, b = 987654321987654321, 123456789123456789
    lines = [f"{a} x {d} x 10^{k} = {a * int(d) * 10**k}" for k, d in enumerate(reversed(str(b)))]
    return "\n".join(lines) + f"\nsum = {a * b}\n"


LEGIT_TEXTS = [
    numbers_text,
    arithmetic_text,
    table_text,
    similar_lines_text,
    big_numbers_text,
    code_text,
    multiplication_text,
]


@pytest.mark.parametrize("make", LEGIT_TEXTS)
def test_legitimate_repetition_never_triggers(make: Callable[[], str]) -> None:
    """Counting, calculations, tables, near-identical lines, long numbers and code."""
    for tokens in both_tokenizations(make()):
        assert len(tokens) > 1000
        guard = LoopGuard()
        assert hits(tokens, guard) == [] and not guard.triggered and guard.reason is None
