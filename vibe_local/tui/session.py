"""The conversation in progress, kept in the chat history as it happens.

History is the source of truth: each user message is written when sent, each reply when it
ends (a stopped one marked partial), and what goes to the model is rebuilt from the stored
messages plus the system prompt. So a resumed chat continues exactly where it left off.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..history import ChatSummary, History, StoredMessage
from ..history_export import default_title


class ChatSession:
    """One chat at a time; the chat row is created with the first message."""

    def __init__(self, history: History, model_label: str):
        self.history = history
        self.model_label = model_label
        self.chat_id: int | None = None
        self.system: str | None = None

    def new(self) -> None:
        """Start afresh (the previous chat stays in history)."""
        self.chat_id, self.system = None, None

    def resume(self, chat_id: int) -> list[StoredMessage]:
        """Continue a stored chat; returns its messages to show.

        Raises:
            HistoryError: the chat is gone.
        """
        summary = self.history.chat(chat_id)
        self.chat_id, self.system = summary.id, summary.system
        return self.history.messages(chat_id)

    def summary(self) -> ChatSummary | None:
        return None if self.chat_id is None else self.history.chat(self.chat_id)

    def add_user(self, text: str) -> StoredMessage:
        """Store what the user sent (creating the chat, titled after it, if needed)."""
        if self.chat_id is None:
            self.chat_id = self.history.create_chat(self.model_label, default_title(text),
                                                    self.system)
        return self.history.add_message(self.chat_id, "user", text)

    def add_reply(self, thinking: str, answer: str, stats: Any, partial: bool,
                  thinking_s: float = 0.0) -> StoredMessage | None:
        """Store a reply (with its stats and thinking time); nothing when nothing came."""
        if self.chat_id is None or not (thinking or answer):
            return None
        stored = asdict(stats) if stats is not None else {}
        stored["thinking_s"] = round(thinking_s, 3)
        return self.history.add_message(self.chat_id, "assistant", answer, thinking=thinking,
                                        partial=partial, stats=stored)

    def conversation(self) -> list[dict[str, str]]:
        """What the model sees: the system prompt, then every stored turn with an answer.

        Thinking is left out, as Qwen-style templates do for earlier turns.
        """
        turns = [] if not self.system else [{"role": "system", "content": self.system}]
        if self.chat_id is not None:
            turns += [{"role": m.role, "content": m.content}
                      for m in self.history.messages(self.chat_id)
                      if m.role == "user" or m.content.strip()]
        return turns

    def drop_last_reply(self) -> bool:
        """For /regen: delete the last reply; True when a user message is left to answer."""
        if self.chat_id is None:
            return False
        messages = self.history.messages(self.chat_id)
        if messages and messages[-1].role == "assistant":
            self.history.delete_message(messages[-1].id)
            messages = messages[:-1]
        return bool(messages) and messages[-1].role == "user"

    def set_system(self, text: str | None) -> None:
        self.system = text
        if self.chat_id is not None:
            self.history.set_system(self.chat_id, text)

    def set_model(self, label: str) -> None:
        self.model_label = label
        if self.chat_id is not None:
            self.history.set_model(self.chat_id, label)

    def rename(self, title: str) -> None:
        if self.chat_id is not None:
            self.history.rename(self.chat_id, title)
