"""The chat's small widgets: the user's message, errors and notices, code run results, status
bar, prompt box."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static, TextArea

from ..errors import (
    ContextFullError,
    DoesNotFitError,
    InvalidRequestError,
    ModelNotFoundError,
    VibeLocalError,
)

ADVICE: list[tuple[type[BaseException], str]] = [
    (DoesNotFitError, "Try a smaller quant (/quant Q4_K_M), a shorter context (--ctx 8192), "
                      "or close other programs."),
    (ModelNotFoundError, "Check the path or id (`vibe-local list` shows what is downloaded); "
                         "/model ID loads another model."),
    (ContextFullError, "Start a new chat with /clear, or restart with a larger --ctx."),
    (InvalidRequestError, "Type /help for the commands and their arguments."),
    (VibeLocalError, "See the message above; /help lists what you can do."),
]
UNEXPECTED = ("This is a bug. The details are in {log}; please report it. "
              "You can keep chatting.")


def advice_for(error: BaseException, log_path: str = "the log") -> str:
    """What to do about `error`, in one sentence."""
    for kind, advice in ADVICE:
        if isinstance(error, kind):
            return advice
    return UNEXPECTED.format(log=log_path)


class UserMessage(Static):
    """What the user sent, as typed (no markup interpretation)."""

    def __init__(self, text: str):
        super().__init__(text, classes="user", markup=False)


class Notice(Static):
    """A line from the app itself: confirmations, usage hints."""

    def __init__(self, text: str):
        super().__init__(text, classes="notice", markup=False)


class RunOutput(Static):
    """What /run or /test did: the header line (status, time, sandbox), then the output."""

    def __init__(self, text: str, passed: bool):
        from rich.text import Text

        shown = Text(text)
        shown.stylize("bold", 0, len(text.partition("\n")[0]))
        for label in ("\nstdout:\n", "\nstderr:\n"):
            at = text.find(label)
            if at != -1:
                shown.stylize("dim", at, at + len(label))
        super().__init__(shown, classes="run-output" + ("" if passed else " -failed"))
        self.text = text


class ErrorMessage(Static):
    """An error with advice; shown in the conversation, never as a traceback."""

    def __init__(self, error: BaseException | str, log_path: str = "the log"):
        if isinstance(error, BaseException):
            first = str(error) or type(error).__name__
            text = f"Error: {first}\n{advice_for(error, log_path)}"
        else:
            text = f"Error: {error}"
        super().__init__(text, classes="error", markup=False)


class ChatLog(VerticalScroll):
    """The conversation. Follows the stream (anchored) until the user scrolls away."""

    class AnchorReleased(Message):
        """The user scrolled away from the bottom: show the whole reply (see StreamedMarkdown)."""

    def release_anchor(self) -> None:
        super().release_anchor()
        self.post_message(self.AnchorReleased())


class StatusBar(Static):
    """One line at the bottom; the app formats it (see status.py)."""


class PromptInput(TextArea):
    """The message box: Enter sends, Ctrl+J (or Alt+Enter) starts a new line, Up on the first
    line and Down on the last walk through what was sent before."""

    BINDINGS = [
        Binding("enter", "send", "Send", priority=True, id="send"),
        Binding("ctrl+j,alt+enter", "newline", "New line", priority=True, id="newline"),
    ]

    class Submitted(Message):
        """The user pressed Enter with some text."""

        def __init__(self, text: str):
            super().__init__()
            self.text = text

    def __init__(self, **kwargs):
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus",
                         compact=True, highlight_cursor_line=False, **kwargs)
        self.sent: list[str] = []
        self._recall_at: int | None = None
        self._draft = ""

    def action_send(self) -> None:
        if self.text.strip():
            self.post_message(self.Submitted(self.text))

    def action_newline(self) -> None:
        self.insert("\n")

    def remember(self, text: str) -> None:
        """Record a sent message for Up/Down and empty the box."""
        if not self.sent or self.sent[-1] != text:
            self.sent.append(text)
        self._recall_at = None
        self.clear()

    def action_cursor_up(self, select: bool = False) -> None:
        if not select and self.cursor_location[0] == 0 and self.sent and self._recall_at != 0:
            if self._recall_at is None:
                self._draft, self._recall_at = self.text, len(self.sent)
            self._recall_at -= 1
            self._show(self.sent[self._recall_at])
            return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        last_line = self.document.line_count - 1
        if not select and self._recall_at is not None and self.cursor_location[0] == last_line:
            self._recall_at += 1
            if self._recall_at >= len(self.sent):
                self._recall_at = None
                self._show(self._draft)
            else:
                self._show(self.sent[self._recall_at])
            return
        super().action_cursor_down(select)

    def _show(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)
