"""The one place that creates llama.cpp objects.

llama-cpp-python's `Llama` has no argument for `llama_model_params.use_extra_bufts` (weight
repacking into extra buffer types, which enables the AMX kernels that crash on some virtual
machines; see DESIGN.md). `Llama.__init__` builds its model parameters from
`llama_model_default_params()`, so while constructing we wrap that function to apply our fields.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_construct_lock = threading.Lock()


@contextmanager
def _model_params(**fields: Any) -> Iterator[None]:
    """Apply extra llama_model_params fields to models constructed inside the block."""
    import llama_cpp.llama as llama_module

    low_level = llama_module.llama_cpp
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
    """
    from llama_cpp import Llama

    from quantize import llama_log

    llama_log.install(verbose)
    with _model_params(use_extra_bufts=repack):
        return Llama(model_path=str(path), verbose=verbose, **kwargs)
