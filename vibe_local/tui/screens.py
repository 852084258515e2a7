"""Modal screens: the memory fit before switching model or quant, and the help page."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown, Static

from quantize.display import format_duration

from .commands import COMMANDS, usage

# (binding id, default keys, what it does) — the ids are what a keymap file remaps.
KEYS = [
    ("send", "enter", "send the message"),
    ("newline", "ctrl+j, alt+enter", "new line in the message (Shift+Enter is not reliable "
                                     "in terminals)"),
    ("", "up / down", "earlier messages, on the first / last line of the box"),
    ("stop", "escape, ctrl+c", "stop the reply (what came is kept, saved as partial)"),
    ("toggle_thinking", "ctrl+t", "fold or unfold the last thinking"),
    ("toggle_raw", "f2", "raw text or rendered math (also /raw); copies are always raw"),
    ("history", "ctrl+r", "browse chats"),
    ("new_chat", "ctrl+n", "new chat"),
    ("help", "f1", "this help"),
    ("quit", "ctrl+d", "quit (also /quit)"),
]


def help_markdown(keymap_path: str) -> str:
    """The help page: keys, commands, and how to remap keys."""
    keys = "\n".join(f"| `{keys}` | {what} | {f'`{ident}`' if ident else ''} |"
                     for ident, keys, what in KEYS)
    commands = "\n".join(f"| `{usage(name)}` | {what} |" for name, (_, what) in COMMANDS.items())
    return f"""\
# vibe-local chat

| key | does | id |
|---|---|---|
{keys}

| command | does |
|---|---|
{commands}

Start a message with `//` to send text that begins with `/`.

## Remapping keys

Put binding ids and keys in `{keymap_path}`, then restart the chat:

```toml
[keymap]
stop = "ctrl+s"
newline = "ctrl+j,alt+enter"
```
"""


class HelpScreen(ModalScreen[None]):
    """Keys and commands; any of Esc, F1 or q closes it."""

    BINDINGS = [Binding("escape,f1,q", "close", "Close", id="close_help")]

    def __init__(self, keymap_path: str):
        super().__init__(classes="help-screen")
        self._text = help_markdown(keymap_path)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Markdown(self._text)

    def action_close(self) -> None:
        self.dismiss(None)


class FitScreen(ModalScreen[bool]):
    """What would be loaded and why (the fit table); Load confirms, Esc cancels."""

    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", id="fit_cancel"),
        Binding("y", "confirm", "Load", id="fit_confirm"),
    ]

    def __init__(self, target: str, result: Any, table: str):
        super().__init__(classes="fit-screen")
        self._target, self._result, self._table = target, result, table

    def compose(self) -> ComposeResult:
        choice = self._result.choice
        with Vertical(classes="dialog"):
            yield Static(f"Switch to {self._target}?", classes="dialog-title", markup=False)
            yield Static(self._table, classes="fit-table", markup=False)
            if choice is not None:
                where = "CPU" if choice.n_gpu_layers == 0 else f"{choice.n_gpu_layers} GPU layers"
                speed = (f" · {choice.gen_tok_s:.1f} tok/s, 8k-token reply in "
                         f"{format_duration(choice.reply_s)}" if choice.gen_tok_s else "")
                yield Static(f"Will load {choice.quant} · {where} · context {choice.ctx:,}{speed}",
                             classes="fit-choice", markup=False)
            else:
                yield Static("Nothing fits this machine; nothing will be loaded.",
                             classes="fit-choice error", markup=False)
            with Horizontal(classes="buttons"):
                if choice is not None:
                    yield Button("Load (y)", id="load", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "load")

    def action_confirm(self) -> None:
        if self._result.choice is not None:
            self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
