"""The one place that creates llama.cpp objects.

llama-cpp-python's `Llama` has no argument for `llama_model_params.use_extra_bufts` (weight
repacking into extra buffer types, which enables the AMX kernels that crash on some virtual
machines; see DESIGN.md). `Llama.__init__` builds its model parameters from
`llama_model_default_params()`, so while constructing we wrap that function to apply our fields.
A ctypes structure silently accepts an attribute it does not declare, so every field is checked
against the structure's `_fields_` first: on a build without it the guard would be a no-op.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from quantize.llama_params import missing_fields

from .errors import BackendError, InvalidModelError

REPACK_FIELD = "use_extra_bufts"  # llama_model_params: weight repacking (the AMX guard)
REPACK_FIELD_SINCE = "0.3.15"  # first llama-cpp-python whose bindings declare it

_construct_lock = threading.Lock()


def check_fields(struct_type: type, names: Iterable[str]) -> None:
    """Refuse to set fields this llama-cpp-python build does not have.

    Raises:
        BackendError: a field is missing; the message names it and the version to install.
    """
    missing = missing_fields(struct_type, names)
    if missing:
        from importlib.metadata import version

        raise BackendError(
            f"this llama-cpp-python ({version('llama-cpp-python')}) has no "
            f"{struct_type.__name__}.{', '.join(missing)}, so vibe-local cannot keep llama.cpp's "
            f"weight repacking off (it crashes some CPUs); upgrade: "
            f"`pip install 'llama-cpp-python>={REPACK_FIELD_SINCE}'`")


def repack_guard_available() -> bool:
    """Whether this build lets repacking be turned off (what `doctor` reports)."""
    return not missing_fields(_low_level().llama_model_params, [REPACK_FIELD])


def _low_level():
    """The ctypes bindings module as `Llama.__init__` sees it (the one we patch)."""
    import llama_cpp.llama as llama_module

    return llama_module.llama_cpp


@contextmanager
def _model_params(**fields: Any) -> Iterator[None]:
    """Apply extra llama_model_params fields to models constructed inside the block.

    Raises:
        BackendError: this build's llama_model_params lacks one of the fields.
    """
    low_level = _low_level()
    check_fields(low_level.llama_model_params, fields)
    original = low_level.llama_model_default_params

    def patched():
        params = original()
        for name, value in fields.items():
            setattr(params, name, value)
        return params

    with _construct_lock:
        low_level.llama_model_default_params = patched
        try:
            yield
        finally:
            low_level.llama_model_default_params = original


def open_llama(path: str | Path, *, repack: bool = False, verbose: bool = False,
               **kwargs: Any):
    """Load a GGUF file into a `llama_cpp.Llama`.

    Args:
        path: the .gguf file.
        repack: allow llama.cpp's weight repacking (extra buffer types), which is faster but
            enables the AMX kernels that die with SIGILL on some VMs. False is always safe;
            callers ask `selftest.repack_allowed()` (the self-test sits above this module).
        verbose: let llama.cpp's log lines through.
        **kwargs: passed to `llama_cpp.Llama` (n_ctx, n_threads, logits_all, vocab_only, ...).

    Raises:
        BackendError: this llama-cpp-python cannot turn repacking off (too old).
        InvalidModelError: llama.cpp refused the file or the context; the message gives the
            reason llama.cpp logged.
    """
    from llama_cpp import Llama

    from quantize import llama_log

    llama_log.install(verbose)
    try:
        with _model_params(**{REPACK_FIELD: repack}):
            return Llama(model_path=str(path), verbose=verbose, **kwargs)
    except ValueError as exc:  # llama-cpp-python's "Failed to load model from file", ...
        why = llama_log.recent_errors() or "no reason given; run with verbose=True"
        raise InvalidModelError(f"llama.cpp could not load {path}: {why}; check the file "
                                "(`vibe-local doctor`), or rebuild or pull it again") from exc
