"""Route llama.cpp's C-level log lines away from the terminal unless asked for.

llama-cpp-python installs a callback at import that prints every line to stderr. We replace it
with one that keeps the recent lines (so an error can quote llama.cpp's own reason) and echoes
them only in verbose mode.
"""

from __future__ import annotations

import collections
import ctypes
import sys
import threading

_recent: collections.deque[str] = collections.deque(maxlen=200)
_lock = threading.Lock()
_state = {"verbose": False, "installed": False}
_callback = None  # keep a reference: ctypes callbacks must outlive their registration


def install(verbose: bool = False) -> None:
    """Install the log callback (idempotent); `verbose` echoes lines to stderr."""
    global _callback
    _state["verbose"] = verbose
    if _state["installed"]:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _on_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace")
        with _lock:
            _recent.append(line)
        if _state["verbose"]:
            print(line, end="", file=sys.stderr, flush=True)

    _callback = _on_log
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
    _state["installed"] = True


def recent_errors(limit: int = 5) -> str:
    """The last lines llama.cpp logged that look like errors, joined into one line."""
    with _lock:
        lines = [ln.strip() for ln in _recent if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() or "failed" in ln.lower()]
    return " | ".join((errors or lines)[-limit:])


def clear() -> None:
    """Forget collected lines (before an operation whose errors we want to quote)."""
    with _lock:
        _recent.clear()
