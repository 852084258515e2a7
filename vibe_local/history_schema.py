"""The chat history's schema: ordered, named migrations, applied idempotently at open.

A shipped migration is never edited; a schema change is a new entry at the end of `MIGRATIONS`.
Each one runs in its own transaction together with its row in `schema_migrations`, so a crash
mid-upgrade leaves the database at the previous step, and the next open resumes from there.
A database that records a migration this code does not know was written by a newer vibe-local;
it is refused before anything is written to it.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import HistoryError


@dataclass(frozen=True)
class Migration:
    """One schema step. `statements` run in order inside a single transaction."""

    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_initial",
        (
            """CREATE TABLE chats (
                id INTEGER PRIMARY KEY,
                title TEXT NOT NULL,
                model TEXT NOT NULL,
                system TEXT,
                created REAL NOT NULL,
                updated REAL NOT NULL
            )""",
            """CREATE TABLE messages (
                id INTEGER PRIMARY KEY,
                chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
                role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
                content TEXT NOT NULL,
                thinking TEXT NOT NULL DEFAULT '',
                created REAL NOT NULL
            )""",
            "CREATE INDEX messages_by_chat ON messages(chat_id, id)",
        ),
    ),
    Migration(
        "0002_message_stats",
        (
            # partial: the user stopped the reply; stats: GenerationStats as JSON.
            "ALTER TABLE messages ADD COLUMN partial INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE messages ADD COLUMN stats TEXT",
        ),
    ),
    Migration(
        "0003_chats_by_updated",
        ("CREATE INDEX chats_by_updated ON chats(updated DESC, id DESC)",),
    ),
)

_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    name TEXT PRIMARY KEY,
    applied_at REAL NOT NULL
)"""


def applied_names(conn: sqlite3.Connection) -> list[str]:
    """Migrations recorded in the database, in the order they were applied (read-only)."""
    has_ledger = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not has_ledger:
        return []
    rows = conn.execute("SELECT name FROM schema_migrations ORDER BY applied_at, rowid")
    return [name for (name,) in rows]


def check_not_newer(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a database that a newer vibe-local has migrated past what this code knows.

    Raises:
        HistoryError: the database records migrations missing from `MIGRATIONS`.
    """
    known = {m.name for m in MIGRATIONS}
    unknown = [name for name in applied_names(conn) if name not in known]
    if unknown:
        raise HistoryError(
            f"chat history {path} was written by a newer vibe-local (schema steps "
            f"{', '.join(unknown)} are unknown here); upgrade vibe-local to open it, or move "
            "the file aside to start a new history"
        )


def migrate(conn: sqlite3.Connection, path: Path) -> list[str]:
    """Apply every pending migration, each in its own transaction; return the names applied.

    The connection must be in autocommit mode (isolation_level=None), so the explicit BEGIN
    here is the only transaction. The ledger is re-read after taking the write lock, so two
    processes opening an old database at once apply each step exactly once.

    Raises:
        HistoryError: the database is newer than this code, or a step failed (it was rolled back).
    """
    check_not_newer(conn, path)
    conn.execute(_LEDGER)
    done: list[str] = []
    for migration in MIGRATIONS:
        if _apply(conn, migration, path):
            done.append(migration.name)
    return done


def _apply(conn: sqlite3.Connection, migration: Migration, path: Path) -> bool:
    """Run one migration unless already recorded; False when there was nothing to do."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute(
            "SELECT 1 FROM schema_migrations WHERE name = ?", (migration.name,)
        ).fetchone():
            conn.execute("ROLLBACK")
            return False
        for statement in migration.statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
            (migration.name, time.time()),
        )
        conn.execute("COMMIT")
        return True
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise HistoryError(
            f"could not upgrade chat history {path} (step {migration.name}: {exc}); the file "
            "was left as it was; move it aside to start a new history"
        ) from exc
