"""Benchmark: what a durable chat-history write costs, and what loading a long chat costs.

History opens SQLite with `synchronous = FULL` (an fsync per committed message) rather than
NORMAL; this prints the time per `add_message` both ways, their ratio, and the time to list
chats and read a long chat back, on the disk holding --workdir.

    uv run python tests/benchmarks/history_write_cost.py --workdir /tmp/history-bench

Not a test: disks and machines vary, so it reports figures and a ratio from one run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from vibe_local.history import History  # noqa: E402

REPLY = "The answer is 391. " * 60  # about a screenful of text, like a real reply


def per_write_ms(path: Path, synchronous: str, writes: int) -> float:
    """Mean milliseconds per add_message with the given synchronous setting."""
    with History(path) as history:
        history._conn.execute(f"PRAGMA synchronous = {synchronous}")  # benchmark only
        chat = history.create_chat("bench")
        start = time.perf_counter()
        for i in range(writes):
            history.add_message(chat, ("user", "assistant")[i % 2], REPLY, thinking=REPLY)
        return (time.perf_counter() - start) / writes * 1000


def read_ms(path: Path, chats: int, messages: int) -> tuple[float, float]:
    """Milliseconds to list `chats` chats and to read one chat of `messages` messages."""
    with History(path) as history:
        history._conn.execute("PRAGMA synchronous = OFF")  # fast setup; not what is measured
        for _ in range(chats - 1):
            history.create_chat("bench")
        long_chat = history.create_chat("bench")
        for i in range(messages):
            history.add_message(long_chat, ("user", "assistant")[i % 2], REPLY, thinking=REPLY)
    with History(path) as history:
        start = time.perf_counter()
        history.chats()
        listed = time.perf_counter() - start
        start = time.perf_counter()
        history.messages(long_chat)
        return listed * 1000, (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="history-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    full = per_write_ms(workdir / "full.sqlite3", "FULL", args.writes)
    normal = per_write_ms(workdir / "normal.sqlite3", "NORMAL", args.writes)
    listed, read = read_ms(workdir / "read.sqlite3", chats=500, messages=1000)
    print(f"add_message, synchronous=FULL (shipped): {full:.2f} ms per message")
    print(f"add_message, synchronous=NORMAL:         {normal:.2f} ms per message")
    print(f"FULL / NORMAL: {full / normal:.1f}x")
    print(f"list 500 chats: {listed:.1f} ms; read a 1000-message chat: {read:.1f} ms")


if __name__ == "__main__":
    main()
