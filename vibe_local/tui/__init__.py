"""The Textual chat UI (`vibe-local chat`). Importing this package imports Textual; the CLI
does so only when the chat command runs."""

from .app import ChatApp

__all__ = ["ChatApp"]
