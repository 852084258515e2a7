"""Errors the quantization step raises.

Each message says what is wrong and what to do about it; the CLI prints it on one line and
exits non-zero. Classes also inherit the matching built-in so callers can catch either.
"""

from __future__ import annotations


class QuantizeError(Exception):
    """Base class for every error the quantization step reports to a person."""


class CheckpointNotFoundError(QuantizeError, FileNotFoundError):
    """The source checkpoint (directory, config or weights) does not exist."""


class CheckpointError(QuantizeError, ValueError):
    """The checkpoint exists but is malformed: bad JSON, truncated file, wrong tensor shape."""


class UnsupportedArchitectureError(CheckpointError):
    """The checkpoint's architecture is not one this converter knows."""


class UnknownQuantTypeError(QuantizeError, ValueError):
    """A quantization type name that llama.cpp does not offer (or we cannot build)."""


class ImatrixRequiredError(QuantizeError, ValueError):
    """A quantization type that llama.cpp only makes with an importance matrix, asked for
    without one."""


class DiskFullError(QuantizeError, OSError):
    """The output disk ran out of space; the partial file has been removed."""


class OutputPathError(QuantizeError, OSError):
    """The output cannot be written there: a directory where a file goes (or the reverse), no
    permission, a read-only file system. Raised before the work starts where it can be."""


class SourceDownloadError(QuantizeError, ConnectionError):
    """A Hugging Face repository could not be fetched (offline, unknown repo, no access)."""
