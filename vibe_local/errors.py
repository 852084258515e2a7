"""Errors the runtime reports to people.

Each class also inherits the matching built-in, so callers can catch either. Messages say what
is wrong and what to do; only the CLI turns them into exit codes and one-line messages.
"""

from __future__ import annotations


class VibeLocalError(Exception):
    """Base class for every error vibe-local reports to a person."""


class ModelNotFoundError(VibeLocalError, FileNotFoundError):
    """No such model file, ladder directory or catalogue id."""


class InvalidModelError(VibeLocalError, ValueError):
    """The file exists but is not a usable GGUF model (truncated, corrupt, wrong format)."""


class DoesNotFitError(VibeLocalError, MemoryError):
    """The model (at the asked context) does not fit this machine's memory."""


class InvalidRequestError(VibeLocalError, ValueError):
    """A bad argument: empty prompt, unknown quant, context above the model's maximum, ..."""


class ContextFullError(VibeLocalError, RuntimeError):
    """The conversation no longer fits the context window."""


class BackendError(VibeLocalError, RuntimeError):
    """llama.cpp failed in a way we could not attribute to the input."""


class CatalogError(VibeLocalError, ValueError):
    """models.toml (shipped or the user's) is malformed; the message names the entry and key."""


class DownloadError(VibeLocalError, ConnectionError):
    """A model could not be fetched from the Hugging Face Hub (unknown repo, network failure)."""


class OfflineError(DownloadError):
    """The model is not in the local store and the Hub cannot be used (offline or unreachable)."""


class CorruptDownloadError(VibeLocalError, ValueError):
    """A downloaded file does not match its published sha256; it was discarded."""


class UnverifiedDownloadError(VibeLocalError, ValueError):
    """The Hub listed no checksum for a downloaded file, so it was not used (bytes kept)."""


class DiskSpaceError(VibeLocalError, OSError):
    """Not enough free disk space for a pull; refused before anything was downloaded."""


class HistoryError(VibeLocalError, RuntimeError):
    """The chat history cannot be used: unreadable file, newer schema, or a chat that is gone."""


class HomeDirError(VibeLocalError, OSError):
    """The user data folder (VIBE_LOCAL_HOME) cannot be created or written."""
