"""Chat history on real SQLite files: round trip, upgrades from old schemas, kills, corruption."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from vibe_local.errors import HistoryError, InvalidRequestError
from vibe_local.generation import GenerationStats
from vibe_local.history import (
    ChatSummary,
    History,
    StoredMessage,
    default_path,
)
from vibe_local.history_export import (
    default_title,
    export_filename,
    export_markdown,
    write_export,
)
from vibe_local.history_schema import MIGRATIONS

REPO = Path(__file__).resolve().parents[1]

# The schema as vibe-local with only migration 0001 shipped left it: a frozen copy, so the
# upgrade test starts from what real old files contain even if someone edits MIGRATIONS.
V1_SQL = [
    "CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)",
    """CREATE TABLE chats (id INTEGER PRIMARY KEY, title TEXT NOT NULL, model TEXT NOT NULL,
        system TEXT, created REAL NOT NULL, updated REAL NOT NULL)""",
    """CREATE TABLE messages (id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')), content TEXT NOT NULL,
        thinking TEXT NOT NULL DEFAULT '', created REAL NOT NULL)""",
    "CREATE INDEX messages_by_chat ON messages(chat_id, id)",
    "INSERT INTO schema_migrations VALUES ('0001_initial', 1700000000.0)",
]


@contextmanager
def _raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection (closed after), to look at the file without History."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def _ledger(path: Path) -> list[tuple[str, float]]:
    with _raw(path) as conn:
        rows = conn.execute("SELECT name, applied_at FROM schema_migrations ORDER BY rowid")
        return rows.fetchall()


# -- round trip --------------------------------------------------------------------------------


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    stats = GenerationStats(completion_tokens=42, thinking_tokens=30, generation_tokens_per_s=12.5)
    with History(path) as history:
        chat = history.create_chat("vibethinker-1.5b", system="Answer briefly.")
        question = history.add_message(chat, "user", "What is 17 * 23?")
        answer = history.add_message(
            chat, "assistant", "391", thinking="17 * 23 = 340 + 51", stats=stats
        )
        stopped = history.add_message(chat, "assistant", "It is", partial=True)

    with History(path) as history:  # everything came back from disk, not from memory
        assert history.messages(chat) == [question, answer, stopped]
        assert [m.role for m in history.messages(chat)] == ["user", "assistant", "assistant"]
        assert answer.thinking == "17 * 23 = 340 + 51" and not answer.partial
        assert answer.stats is not None and answer.stats["completion_tokens"] == 42
        assert stopped.partial and stopped.stats is None
        summary = history.chat(chat)
        assert (summary.title, summary.model, summary.system) == (
            "New chat", "vibethinker-1.5b", "Answer briefly.")
        assert summary.message_count == 3 and summary.updated == stopped.created

        history.rename(chat, "Multiplication")
        history.set_system(chat, None)
        history.set_model(chat, "vibethinker-3b")
        history.delete_message(stopped.id)
        assert history.chat(chat) == ChatSummary(
            chat, "Multiplication", "vibethinker-3b", None, summary.created, summary.updated, 2)
        assert history.messages(chat) == [question, answer]

        other = history.create_chat("vibethinker-1.5b")
        history.add_message(other, "user", "kept")
        history.delete_chat(chat)
        assert [c.id for c in history.chats()] == [other]
        history.delete_chat(chat)  # already gone: no-op
    with _raw(path) as conn:  # the cascade removed the rows, not just hid them
        assert conn.execute("SELECT chat_id FROM messages").fetchall() == [(other,)]


def test_chats_most_recently_updated_first(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite3") as history:
        first = history.create_chat("m", title="first")
        second = history.create_chat("m", title="second")
        third = history.create_chat("m", title="third")
        assert [c.id for c in history.chats()] == [third, second, first]
        history.add_message(first, "user", "bump")
        history.rename(second, "renamed")  # metadata does not reorder the list
        assert [c.id for c in history.chats()] == [first, third, second]
        assert [c.message_count for c in history.chats()] == [1, 0, 0]


def test_default_path_is_in_the_user_home(tmp_path: Path) -> None:
    with History() as history:
        history.create_chat("m")
    assert default_path() == Path(os.environ["VIBE_LOCAL_HOME"]) / "history.sqlite3"
    assert default_path().is_file()


def test_gone_chats_and_bad_input(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    chat = history.create_chat("m")
    history.delete_chat(chat)
    for call in (lambda: history.chat(chat), lambda: history.rename(chat, "x"),
                 lambda: history.add_message(chat, "user", "hi")):
        with pytest.raises(HistoryError, match=f"chat {chat} no longer exists"):
            call()
    live = history.create_chat("m")
    with pytest.raises(InvalidRequestError, match="role"):
        history.add_message(live, "system", "no")
    assert history.messages(live) == []
    history.close()
    history.close()
    with pytest.raises(HistoryError, match="closed"):
        history.chats()


def test_writes_from_worker_threads(tmp_path: Path) -> None:
    """The UI writes from its main thread and from workers; one lock keeps that safe."""
    history = History(tmp_path / "h.sqlite3")
    chat = history.create_chat("m")

    def write(worker: int) -> None:
        for i in range(20):
            history.add_message(chat, "user", f"{worker}-{i}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    contents = {m.content for m in history.messages(chat)}
    assert contents == {f"{w}-{i}" for w in range(4) for i in range(20)}
    history.close()


# -- schema and migrations ---------------------------------------------------------------------


def test_migration_names_are_ordered_and_unique() -> None:
    names = [m.name for m in MIGRATIONS]
    assert len(names) >= 2 and names == sorted(set(names))


def test_upgrade_from_first_schema_keeps_old_data(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with _raw(path) as conn:
        for statement in V1_SQL:
            conn.execute(statement)
        conn.execute("INSERT INTO chats VALUES (1, 'old chat', 'old-model', 'sys', 10.0, 20.0)")
        conn.execute("INSERT INTO messages VALUES (1, 1, 'user', 'old question', '', 11.0)")
        conn.execute("INSERT INTO messages VALUES (2, 1, 'assistant', 'old answer', 'hm', 12.0)")

    with History(path) as history:
        assert history.chats() == [ChatSummary(1, "old chat", "old-model", "sys", 10.0, 20.0, 2)]
        assert history.messages(1) == [
            StoredMessage(1, 1, "user", "old question", "", False, 11.0, None),
            StoredMessage(2, 1, "assistant", "old answer", "hm", False, 12.0, None),
        ]
        new = history.add_message(1, "assistant", "new", partial=True, stats={"total_s": 1.0})
        assert history.messages(1)[-1] == new
    ledger = _ledger(path)
    assert [name for name, _ in ledger] == [m.name for m in MIGRATIONS]
    assert ledger[0] == ("0001_initial", 1700000000.0)

    with _raw(path) as conn:
        schema = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    History(path).close()  # reopening an up-to-date file changes nothing
    assert _ledger(path) == ledger
    with _raw(path) as conn:
        assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with History(path) as history:
        history.add_message(history.create_chat("m"), "user", "from the future")
    with _raw(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES ('0099_from_the_future', 1.0)")
        # Out of WAL mode, so that even our own "PRAGMA journal_mode = WAL" would show as a change.
        assert conn.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    before = path.read_bytes()
    with pytest.raises(HistoryError, match="newer vibe-local.*0099_from_the_future") as caught:
        History(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before


@pytest.mark.parametrize("damage", ["not sqlite", "header then garbage", "truncated"])
def test_corrupt_file_is_refused_untouched(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "history.sqlite3"
    with History(path) as history:
        chat = history.create_chat("m")
        for _ in range(20):
            history.add_message(chat, "user", "x" * 4000)
    good = path.read_bytes()
    bad = {
        "not sqlite": b"these are my notes, not a database\n" * 200,
        "header then garbage": good[:100] + bytes(range(256)) * ((len(good) - 100) // 256),
        "truncated": good[: len(good) // 3],
    }[damage]
    path.write_bytes(bad)
    with pytest.raises(HistoryError, match="move it aside") as caught:
        History(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == bad
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite3"]


_CHILD = """
import sys
from pathlib import Path
from vibe_local.history import History

history = History(Path(sys.argv[1]))
chat = history.create_chat("m", title="streaming")
for i in range(6):
    history.add_message(chat, ("user", "assistant")[i % 2], f"before-{i}", thinking="t" * 500)
print("ready", chat, flush=True)
i = 0
while True:
    message = history.add_message(chat, "assistant", f"after-{i}:" + "x" * 20000, partial=True)
    print("wrote", message.id, flush=True)
    i += 1
"""


def test_killed_mid_write_keeps_every_finished_message(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = child.stdout.readline().split()
        assert ready[:1] == ["ready"], child.stderr.read()
        for _ in range(5):  # the loop is under way: kill it between or inside writes
            assert child.stdout.readline().startswith("wrote")
        os.kill(child.pid, signal.SIGKILL)
        rest = child.stdout.read()
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    acknowledged = [int(line.split()[1]) for line in rest.splitlines() if line.startswith("wrote")]

    with _raw(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with History(path) as history:
        messages = history.messages(int(ready[1]))
    assert [m.content for m in messages[:6]] == [f"before-{i}" for i in range(6)]
    assert all(m.thinking == "t" * 500 for m in messages[:6])
    after = messages[6:]
    assert len(after) >= 5 and {m.id for m in after} >= set(acknowledged)
    assert [m.content for m in after] == [f"after-{i}:" + "x" * 20000 for i in range(len(after))]


# -- export ------------------------------------------------------------------------------------


def _sample_chat(tmp_path: Path) -> tuple[ChatSummary, list[StoredMessage]]:
    with History(tmp_path / "h.sqlite3") as history:
        chat = history.create_chat("vibethinker-1.5b", title="Sums", system="Be exact.\nShow work.")
        history.add_message(chat, "user", "What is 2 + 2?")
        history.add_message(chat, "assistant", "4", thinking="two and two make four",
                            stats={"completion_tokens": 17, "thinking_tokens": 9,
                                   "generation_tokens_per_s": 23.456})
        history.add_message(chat, "user", "And 3 + 3?")
        history.add_message(chat, "assistant", "It is", thinking="three and", partial=True)
        return history.chat(chat), history.messages(chat)


def test_export_markdown(tmp_path: Path) -> None:
    chat, messages = _sample_chat(tmp_path)
    text = export_markdown(chat, messages)
    assert text.startswith("# Sums\n")
    assert "`vibethinker-1.5b`" in text and "> Be exact.\n> Show work." in text
    order = [text.index(s) for s in ("What is 2 + 2?", "two and two make four", "\n4\n",
                                      "And 3 + 3?", "three and", "It is")]
    assert order == sorted(order)
    assert text.count("<details>") == 2 and "<summary>Thinking</summary>" in text
    assert text.count("(stopped)") == 1 and "## Assistant (stopped)" in text
    assert "*17 tokens (9 thinking) · 23.5 tok/s*" in text

    bare = export_markdown(chat, messages, include_thinking=False)
    assert "two and two" not in bare and "<details>" not in bare and "It is" in bare
    assert export_filename(chat) == f"{chat.id}-sums.md"


def test_write_export_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "exports" / "chat.md"
    assert write_export(target, "first\n") == target
    write_export(target, "second ✓\n")
    assert target.read_text(encoding="utf-8") == "second ✓\n"
    assert [p.name for p in target.parent.iterdir()] == ["chat.md"]


_FULL_DISK_CHILD = """
import resource, signal, sys
from pathlib import Path
from quantize.errors import DiskFullError
from vibe_local.history_export import write_export

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    write_export(Path(sys.argv[1]), "y" * 100_000)
except DiskFullError as exc:
    print("disk full:", exc)
"""


def test_write_export_failing_midway_leaves_the_old_file(tmp_path: Path) -> None:
    """A real write that fails part way (file-size limit = a full disk) changes nothing."""
    target = tmp_path / "chat.md"
    target.write_text("the previous export\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", _FULL_DISK_CHILD, str(target)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("disk full:"), done.stderr
    assert target.read_text() == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["chat.md"]


def test_write_export_unwritable_place(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(HistoryError, match="choose another path"):
        write_export(blocker / "chat.md", "text")


@pytest.mark.parametrize(("message", "title"), [
    ("What is 17 * 23?", "What is 17 * 23?"),
    ("\n\n   Solve   this:\nx + 1 = 2", "Solve this:"),
    ("   \n\t", "New chat"),
    ("Prove that the sum of the first n odd numbers is always a perfect square",
     "Prove that the sum of the first n odd numbers is…"),
    ("x" * 80, "x" * 50 + "…"),
])
def test_default_title(message: str, title: str) -> None:
    assert default_title(message) == title
