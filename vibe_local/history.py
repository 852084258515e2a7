"""Chat history: conversations and their messages in one SQLite file in the user's data dir.

Every write is its own committed transaction, so a message is on disk once `add_message`
returns: a crash, a kill or a closed terminal later loses nothing already written. The schema
and its migrations live in history_schema.py; Markdown export and titles in
history_export.py, which sits above this module.

    with History() as history:
        chat = history.create_chat("vibethinker-1.5b")
        history.add_message(chat, "user", "What is 17 * 23?")
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import history_schema
from .errors import HistoryError, InvalidRequestError
from .paths import home_dir

__all__ = [
    "ChatSummary", "StoredMessage", "History", "HistoryError", "default_path",
]

ROLES = ("user", "assistant")


@dataclass(frozen=True)
class ChatSummary:
    """One conversation as the chat list shows it. Times are epoch seconds."""

    id: int
    title: str
    model: str
    system: str | None
    created: float
    updated: float
    message_count: int


@dataclass(frozen=True)
class StoredMessage:
    """One stored turn. `partial` marks a reply the user stopped; `stats` is GenerationStats."""

    id: int
    chat_id: int
    role: str
    content: str
    thinking: str
    partial: bool
    created: float
    stats: dict | None


def default_path() -> Path:
    """Where the history lives by default (read at call time; honours VIBE_LOCAL_HOME)."""
    return home_dir() / "history.sqlite3"


_CHAT_COLUMNS = """c.id, c.title, c.model, c.system, c.created, c.updated,
    (SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.id)"""
_MESSAGE_COLUMNS = "id, chat_id, role, content, thinking, partial, created, stats"


class History:
    """The chat history database. Safe to share between threads: one lock guards every call."""

    def __init__(self, path: Path | None = None):
        """Open (creating or upgrading) the history at `path`, default `default_path()`.

        Raises:
            HistoryError: the file is not a readable SQLite database, is newer than this
                vibe-local, or cannot be created. The file itself is never deleted or rewritten.
        """
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.Lock()
        self._last_time = 0.0
        self._conn: sqlite3.Connection | None = _connect(self.path)

    # -- chats -------------------------------------------------------------------------------

    def create_chat(self, model: str, title: str = "New chat", system: str | None = None) -> int:
        """Start a conversation; returns its id."""
        with self._transaction() as conn:
            now = self._now()
            cursor = conn.execute(
                "INSERT INTO chats (title, model, system, created, updated) VALUES (?, ?, ?, ?, ?)",
                (title, model, system, now, now),
            )
            return int(cursor.lastrowid)

    def chats(self) -> list[ChatSummary]:
        """Every conversation, most recently updated first."""
        rows = self._read(
            f"SELECT {_CHAT_COLUMNS} FROM chats c ORDER BY c.updated DESC, c.id DESC"
        )
        return [ChatSummary(*row) for row in rows]

    def chat(self, chat_id: int) -> ChatSummary:
        """One conversation's summary.

        Raises:
            HistoryError: no chat has this id (deleted, or never existed).
        """
        rows = self._read(f"SELECT {_CHAT_COLUMNS} FROM chats c WHERE c.id = ?", (chat_id,))
        if not rows:
            raise _gone(chat_id)
        return ChatSummary(*rows[0])

    def rename(self, chat_id: int, title: str) -> None:
        """Change a chat's title. Raises HistoryError if the chat is gone."""
        self._update_chat(chat_id, "title", title)

    def set_system(self, chat_id: int, system: str | None) -> None:
        """Change (or clear, with None) a chat's system prompt. Raises HistoryError if gone."""
        self._update_chat(chat_id, "system", system)

    def set_model(self, chat_id: int, model: str) -> None:
        """Record that the chat continues with another model. Raises HistoryError if gone."""
        self._update_chat(chat_id, "model", model)

    def delete_chat(self, chat_id: int) -> None:
        """Delete a chat and (by foreign-key cascade) its messages; a gone chat is a no-op."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM chats WHERE id = ?", (chat_id,))

    # -- messages ----------------------------------------------------------------------------

    def add_message(
        self, chat_id: int, role: str, content: str, *, thinking: str = "",
        partial: bool = False, stats: dict | Any | None = None,
    ) -> StoredMessage:
        """Append a message and bump the chat's `updated`; durable when this returns.

        Args:
            stats: GenerationStats as a dict (or the dataclass itself); stored as JSON.

        Raises:
            InvalidRequestError: `role` is not "user" or "assistant".
            HistoryError: the chat is gone.
        """
        if role not in ROLES:
            raise InvalidRequestError(f"message role must be 'user' or 'assistant', not {role!r}")
        stats_dict = _stats_dict(stats)
        with self._transaction() as conn:
            now = self._now()
            bumped = conn.execute("UPDATE chats SET updated = ? WHERE id = ?", (now, chat_id))
            if bumped.rowcount == 0:
                raise _gone(chat_id)
            cursor = conn.execute(
                "INSERT INTO messages (chat_id, role, content, thinking, partial, created, stats)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (chat_id, role, content, thinking, int(partial), now,
                 None if stats_dict is None else json.dumps(stats_dict)),
            )
            message_id = int(cursor.lastrowid)
        return StoredMessage(message_id, chat_id, role, content, thinking, partial, now, stats_dict)

    def messages(self, chat_id: int) -> list[StoredMessage]:
        """A chat's messages, oldest first (empty for a gone chat)."""
        rows = self._read(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? ORDER BY id", (chat_id,)
        )
        return [_message(row) for row in rows]

    def delete_message(self, message_id: int) -> None:
        """Delete one message (e.g. the reply /regen replaces); a gone message is a no-op."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database; later calls raise HistoryError. Closing twice is fine."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _now(self) -> float:
        """time.time(), but strictly increasing within this History, so ordering by `updated`
        follows the order of calls even when two land on the same clock tick."""
        now = max(time.time(), self._last_time + 1e-6)
        self._last_time = now
        return now

    def _update_chat(self, chat_id: int, column: str, value: str | None) -> None:
        with self._transaction() as conn:
            # `column` is one of our own literals, never user input.
            cursor = conn.execute(f"UPDATE chats SET {column} = ? WHERE id = ?", (value, chat_id))
            if cursor.rowcount == 0:
                raise _gone(chat_id)

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock, _sqlite_errors(self.path):
            return self._open().execute(sql, params).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed write transaction, under the lock; rolled back on any error."""
        with self._lock, _sqlite_errors(self.path):
            conn = self._open()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise HistoryError(f"chat history {self.path} is closed; open a new History")
        return self._conn


def _connect(path: Path) -> sqlite3.Connection:
    """Open, check, configure and migrate; nothing is written before the file is known good."""
    with _sqlite_errors(path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(
                f"cannot create the folder for chat history {path} ({exc.strerror}); "
                "set VIBE_LOCAL_HOME to a writable folder"
            ) from None
        conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            # The first read: a non-SQLite file fails here, and a newer schema is refused here,
            # both before any PRAGMA below could write to the file.
            history_schema.check_not_newer(conn, path)
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL, not NORMAL: with WAL, NORMAL survives a killed process but may lose the last
            # commits on power loss. Writes here are a few per turn, so an fsync each costs
            # nothing a person notices, and "saved when add_message returns" holds outright.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            history_schema.migrate(conn, path)
        except BaseException:
            conn.close()
            raise
        return conn


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """Turn sqlite3's errors into a HistoryError that says which file and what to do."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise HistoryError(
                f"chat history {path} is locked by another program ({exc}); close other "
                "vibe-local chats and try again"
            ) from exc
        raise _unusable(path, exc) from exc
    except sqlite3.Error as exc:
        raise _unusable(path, exc) from exc


def _unusable(path: Path, exc: sqlite3.Error) -> HistoryError:
    return HistoryError(
        f"chat history {path} cannot be read ({exc}); it was left untouched: move it aside "
        f"(e.g. rename it to {path.name}.bad) and vibe-local will start a new history"
    )


def _gone(chat_id: int) -> HistoryError:
    return HistoryError(f"chat {chat_id} no longer exists; pick another chat from the list")


def _stats_dict(stats: dict | Any | None) -> dict | None:
    if stats is None or isinstance(stats, dict):
        return stats
    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        return dataclasses.asdict(stats)
    kind = type(stats).__name__
    raise InvalidRequestError(f"stats must be a dict or GenerationStats, not {kind}")


def _message(row: tuple) -> StoredMessage:
    id_, chat_id, role, content, thinking, partial, created, stats = row
    return StoredMessage(
        id_, chat_id, role, content, thinking, bool(partial), created,
        None if stats is None else json.loads(stats),
    )
