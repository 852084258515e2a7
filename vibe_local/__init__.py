"""vibe-local: run VibeThinker reasoning models on your own laptop, offline."""

from __future__ import annotations

__version__ = "0.1.0"
