"""Markdown that grows while a reply streams, at a cost per token that does not grow with it.

Textual lays out the whole screen on every size change (each new line or block while
streaming), visiting every widget; a Markdown widget holds one or more widgets per block, so a
long reply in one widget makes each token slower than the last (tests/benchmarks/tui_stream.py).
Here the text goes into a chain of Markdown segments: once a segment holds SEGMENT_CHARS and the
text reaches a blank line outside a code fence (a block boundary), the segment gets its final
full render and a new one starts. While the reply streams, finished segments that have
scrolled out of view above are *shelved*: swapped for one blank widget of the same height.
`finish()` (or `unshelve()`, when the user scrolls up) brings them back. So the widget count,
and the layout cost, stay bounded while streaming.

With `math=True` the text first goes through a MathStream (vibe_local.render), which renders
LaTeX as Unicode and holds back math not closed yet; `source` is then the rendered Markdown
(the raw text is the reply's, see reply.py). Its cost per token is bounded too: it only
rescans what it holds back.

Blocks never span segments, so rendering matches one widget except for Markdown constructs that
link distant blocks: a loose list split at a blank line between items shows as two lists, and a
reference-style link defined in another segment stays unresolved.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Markdown, Static

from ..render import MARKDOWN, MathStream, render_text

SEGMENT_CHARS = 800
_FENCES = ("```", "~~~")


class FenceTracker:
    """Follows text line by line to know whether it is inside a fenced code block."""

    def __init__(self) -> None:
        self.inside = False
        self._tail = ""

    def feed(self, text: str) -> list[int]:
        """Take more text; return the offsets in `text` just after each blank line that lies
        outside a fence (places where a new block starts)."""
        boundaries = []
        start = -len(self._tail)
        *complete, self._tail = (self._tail + text).split("\n")
        for line in complete:
            end = start + len(line) + 1  # just past this line's newline, as an offset in text
            body = line.lstrip(" ")
            if len(line) - len(body) <= 3 and body.startswith(_FENCES):
                self.inside = not self.inside
            elif not line.strip() and not self.inside and end > 0:
                boundaries.append(end)
            start = end
        return boundaries


class Shelf(Static):
    """Finished segments put away while streaming: their texts, at their rendered height."""

    def __init__(self, text: str, height: int):
        super().__init__("", markup=False)
        self.texts, self.height = [text], height
        self.styles.height = height

    def add(self, text: str, height: int) -> None:
        self.texts.append(text)
        self.height += height
        self.styles.height = self.height


class StreamedMarkdown(Vertical):
    """A Markdown document written piece by piece (`write`), then completed (`finish`)."""

    DEFAULT_CSS = """
    StreamedMarkdown { height: auto; }
    StreamedMarkdown > Markdown { margin: 0; padding: 0; }
    """

    def __init__(self, text: str = "", *, classes: str | None = None, math: bool = False):
        super().__init__(classes=classes)
        self.math = math
        self._math = MathStream(MARKDOWN) if math else None
        text = render_text(text, MARKDOWN) if math and text else text
        self._sealed: list[str] = []
        self._segment: list[str] = [text] if text else []
        self._segment_chars = len(text)
        self._fences = FenceTracker()
        self._stream: Any = None
        self.shelving = True
        self._shelf_check_due = False

    def compose(self) -> ComposeResult:
        yield Markdown(self.segment_text)

    @property
    def source(self) -> str:
        """Everything written so far."""
        return "".join(self._sealed) + self.segment_text

    @property
    def segment_text(self) -> str:
        return "".join(self._segment)

    async def write(self, text: str) -> None:
        """Append `text`, starting a new segment at each block boundary past SEGMENT_CHARS."""
        if self._math is not None:
            text = self._math.feed(text)
        await self._write_shown(text)

    async def _write_shown(self, text: str) -> None:
        done = 0
        for boundary in self._fences.feed(text):
            if self._segment_chars + boundary - done >= SEGMENT_CHARS:
                await self._append(text[done:boundary])
                await self._seal()
                done = boundary
        await self._append(text[done:])
        self._check_shelf_later()

    async def finish(self) -> None:
        """Render the open segment in full (so an unclosed code fence that was still
        streaming is drawn as the code block it became) and bring back shelved segments.
        Math still held back (never closed) is shown as written."""
        if self._math is not None:
            await self._write_shown(self._math.flush())
        await self._render_segment()
        await self.unshelve()

    async def unshelve(self) -> None:
        """Put every shelved segment back as Markdown, and stop shelving."""
        self.shelving = False
        for shelf in list(self.query_children(Shelf)):
            await self.mount_all([Markdown(text) for text in shelf.texts], before=shelf)
            await shelf.remove()

    async def _append(self, text: str) -> None:
        if not text:
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(self._current)
        self._segment.append(text)
        self._segment_chars += len(text)
        await self._stream.write(text)

    async def _seal(self) -> None:
        await self._render_segment()
        self._sealed.append(self.segment_text)
        self._segment, self._segment_chars = [], 0
        await self.mount(Markdown(""))

    def _check_shelf_later(self) -> None:
        """Look for segments to shelve once the screen has laid out what was written."""
        if self.shelving and not self._shelf_check_due and len(self.children) > 2:
            self._shelf_check_due = True
            self.call_after_refresh(self._shelve_old)

    async def _shelve_old(self) -> None:
        """Shelve finished segments that lie wholly above the visible part of the log."""
        self._shelf_check_due = False
        view = next((a for a in self.ancestors if isinstance(a, Widget)
                     and a.styles.overflow_y in ("auto", "scroll")), None)
        if view is None or not self.shelving:
            return
        unplaced = False
        for segment in list(self.query_children(Markdown))[:-1]:
            height = segment.outer_size.height
            unplaced = unplaced or not height
            if not height or segment.region.bottom > view.region.y:
                continue
            shelves = self.query_children(Shelf)
            if shelves:  # one shelf holds all, so the widget count stays flat
                shelves.last().add(segment.source, height)
            else:
                await self.mount(Shelf(segment.source, height), before=segment)
            await segment.remove()
        if unplaced:  # not laid out yet: look again after the next refresh
            self._check_shelf_later()

    async def _render_segment(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.stop()
        await self._current.update(self.segment_text)

    @property
    def _current(self) -> Markdown:
        return self.query_children(Markdown).last()
