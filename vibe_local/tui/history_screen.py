"""The chat list: resume (Enter), rename (r) and delete (d, twice) stored chats."""

from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from ..errors import VibeLocalError
from ..history import History

HINT = "Enter resume · r rename · d delete (press twice) · Esc close"


class HistoryScreen(ModalScreen[int | None]):
    """Dismisses with the chat id to resume, or None."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="history_close"),
        Binding("r", "rename", "Rename", id="history_rename"),
        Binding("d", "delete", "Delete", id="history_delete"),
    ]

    def __init__(self, history: History):
        super().__init__(classes="history-screen")
        self._history = history
        self._confirm_delete: int | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Chats", classes="dialog-title")
            yield DataTable(cursor_type="row", zebra_stripes=True)
            yield Input(placeholder="new title, Enter to save, Esc to cancel", id="rename")
            yield Static(HINT, classes="hint", markup=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("title", "model", "messages", "updated")
        self.query_one("#rename", Input).display = False
        self._reload()

    def _reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for chat in self._history.chats():
            updated = datetime.fromtimestamp(chat.updated).strftime("%Y-%m-%d %H:%M")
            table.add_row(chat.title, chat.model, str(chat.message_count), updated,
                          key=str(chat.id))
        table.focus()

    def _selected(self) -> int | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return int(row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.dismiss(int(event.row_key.value))

    def action_close(self) -> None:
        field = self.query_one("#rename", Input)
        if field.display:
            field.display = False
            self.query_one(DataTable).focus()
        else:
            self.dismiss(None)

    def action_rename(self) -> None:
        chat_id = self._selected()
        if chat_id is None:
            return
        field = self.query_one("#rename", Input)
        field.value = self._history.chat(chat_id).title
        field.display = True
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        chat_id = self._selected()
        title = event.value.strip()
        event.input.display = False
        if chat_id is not None and title:
            self._guard(lambda: self._history.rename(chat_id, title))
        self._reload()

    def action_delete(self) -> None:
        chat_id = self._selected()
        if chat_id is None:
            return
        if self._confirm_delete != chat_id:
            self._confirm_delete = chat_id
            self.notify("Press d again to delete this chat", timeout=3)
            return
        self._confirm_delete = None
        self._guard(lambda: self._history.delete_chat(chat_id))
        self._reload()

    def _guard(self, change) -> None:
        try:
            change()
        except VibeLocalError as exc:
            self.notify(str(exc), severity="error")
