"""Long replies: segmenting at block boundaries, shelving what scrolled away, the final render."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Markdown

from fixtures.scripted_engine import Gate, ScriptedEngine, answer
from fixtures.tui_app import SIZE, async_test, loaded, make_app, send, until
from vibe_local.tui.streamed_markdown import SEGMENT_CHARS, FenceTracker, Shelf
from vibe_local.tui.text import code_blocks

PARAGRAPH = "A sentence that is long enough to wrap once or twice on a narrow terminal. " * 3
CODE = "```python\n" + "".join(f"x{i} = {i}\n\n" for i in range(40)) + "```\n\n"  # blank lines


def long_reply(paragraphs: int) -> list[str]:
    """Word-sized pieces: paragraphs, one long code block with blank lines inside, a list."""
    text = "".join(PARAGRAPH + "\n\n" for _ in range(paragraphs // 2)) + CODE
    text += "- one\n- two\n\n" + "".join(PARAGRAPH + "\n\n" for _ in range(paragraphs // 2))
    return [text[i:i + 7] for i in range(0, len(text), 7)]


def test_fence_tracker_finds_block_boundaries_outside_code() -> None:
    fences = FenceTracker()
    assert fences.feed("A paragraph.\n\nNext\n\n") == [14, 20]
    assert fences.feed(" line\n```py\nx = 1\n\ny = 2\n") == []  # blank line inside code
    assert fences.inside
    assert fences.feed("``") == [] and fences.feed("`\n\nafter") == [len("`\n\n")]
    assert not fences.inside
    assert fences.feed("    ```not a fence (indented 4)\n\n") != []


def held_long_reply(tmp_path: Path):
    """An app whose reply streams a long text, then waits at a gate until the test opens it."""
    pieces, gate = long_reply(40), Gate()
    engine = ScriptedEngine([*answer(*pieces), gate])
    return make_app("m", tmp_path / "h.sqlite3", loader=lambda *a, **k: engine), pieces, gate


async def start(pilot, app):
    await loaded(pilot, app)
    await send(pilot, app, "go", wait=False)
    text = app.reply.query_one(".answer")
    await until(pilot, lambda: text.query(Shelf), "old segments to be shelved")
    return text


@async_test
async def test_a_long_reply_is_split_at_block_boundaries_and_shelved(tmp_path: Path) -> None:
    app, pieces, gate = held_long_reply(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        text = await start(pilot, app)
        await until(pilot, lambda: text.source == "".join(pieces), "the whole text")
        await until(pilot, lambda: len(text.query_children(Markdown)) <= 3,  # what is in view
                    "all but the segments in view to be shelved")
        assert sum(len(s.texts) for s in text.query(Shelf)) >= 2
        gate.open()
        await until(pilot, lambda: app.state == "ready", "the end")
        segments = [m.source for m in text.query_children(Markdown)]
        assert not text.query(Shelf) and "".join(segments) == "".join(pieces)
        assert len(segments) > 3 and all(s.endswith("\n\n") for s in segments[:-1])
        assert [b for s in segments for b in code_blocks(s)] == code_blocks("".join(pieces))
        assert max(map(len, segments)) < SEGMENT_CHARS + len(CODE)


@async_test
async def test_scrolling_up_while_streaming_brings_the_text_back(tmp_path: Path) -> None:
    app, pieces, gate = held_long_reply(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        text = await start(pilot, app)
        app.log_view.scroll_home(animate=False)  # the user scrolls up (releases the anchor)
        await until(pilot, lambda: not text.query(Shelf), "the text back")
        assert app.generating
        gate.open()
        await until(pilot, lambda: app.state == "ready", "the end")
        assert text.source == "".join(pieces)
