"""The one place that creates llama.cpp objects.

llama-cpp-python's `Llama` has no argument for `llama_model_params.use_extra_bufts` (weight
repacking into extra buffer types, which enables the AMX kernels that crash on some virtual
machines; see DESIGN.md). `Llama.__init__` builds its model parameters from
`llama_model_default_params()`, so while constructing we wrap that function to apply our fields.
A ctypes structure silently accepts an attribute it does not declare, so every field is checked
against the structure's `_fields_` first: on a build without it the guard would be a no-op.

Repacking and memory mapping: llama.cpp maps the file and points the weights it uses as they are
at the mapping, but copies each weight it repacks into a buffer of its own (llama-model-loader.cpp,
load_all_data), and after loading unmaps only the file's ends outside the mapped weights, so the
pages of the repacked weights stay resident too: two copies (1.5B Q4_K_M: 1.82 GiB RSS instead of
1.24 GiB). So when repacking may apply to a weight on the CPU, the file is read instead of mapped
(`use_mmap=False`): one copy, which is what the memory fit counts.
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
# Weight types that some CPU kernel of our llama.cpp repacks (ggml-cpu/repack.cpp: Q4_0, Q4_K,
# IQ4_NL, MXFP4 with AVX2, Q2_K with AVX-512, Q5_K, Q6_K, Q8_0, Q1_0 on ARM; ggml-cpu/amx:
# Q4_1, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_XS). Float weights are never repacked and stay mapped.
REPACKED_TYPES = frozenset({"Q1_0", "Q2_K", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K", "Q8_0",
                            "IQ4_NL", "IQ4_XS", "MXFP4"})
# On x86 the choice depends only on the CPU features llama.cpp reports, so there the set is
# narrowed: reading a file costs seconds of load time (Q8_0: 3x) for no memory saved when no
# kernel of this CPU repacks its types. Elsewhere (ARM, RISC-V, ...) the whole set applies.
X86_REPACKED = {"AVX2": {"Q4_0", "Q4_K", "IQ4_NL", "MXFP4"}, "AVX512": {"Q2_K"},
                "AMX_INT8": {"Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS"}}

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


def may_repack(path: str | Path, n_gpu_layers: int = 0) -> bool:
    """Whether llama.cpp, with repacking allowed, may repack a weight of `path` that runs on
    the CPU: a matrix of a type this CPU's kernels repack (`repacked_types`) in a block (or
    output layer) the GPU does not hold.

    `n_gpu_layers` is llama.cpp's count (the output layer first, then the last blocks; negative
    means all). The embedding lookup (get_rows) is never repacked, so a full offload maps.

    Raises:
        ModelNotFoundError, InvalidModelError: not a readable GGUF file.
    """
    from .gguf_info import read_header

    header = read_header(path)
    repacked = repacked_types()
    n_layer = int(header.fields.get(f"{header.fields.get('general.architecture')}.block_count")
                  or 0)
    k = 0 if not _gpu_offload() else n_layer + 1 if n_gpu_layers < 0 else n_gpu_layers
    cpu_blocks = n_layer if k == 0 else max(0, n_layer - (k - 1))
    on_cpu = {f"blk.{i}." for i in range(cpu_blocks)}
    for t in header.tensors:
        output = k == 0 and t.name in ("output.weight", "token_embd.weight")
        block = t.name[:t.name.find(".", 4) + 1] in on_cpu
        if (output or block) and len(t.shape) == 2 and t.type in repacked:
            return True
    return False


def repacked_types(machine: str | None = None, features: str | None = None) -> frozenset[str]:
    """The weight types a CPU kernel of this llama.cpp build may repack on this machine.

    Args:
        machine: `platform.machine()` (default: this one).
        features: llama.cpp's system info ("AVX2 = 1 | AVX512 = 1 | ..."; default: this build's).
    """
    import platform

    machine = machine or platform.machine()
    if machine.lower() not in ("x86_64", "amd64", "i386", "i686"):
        return REPACKED_TYPES
    if features is None:
        import llama_cpp

        features = llama_cpp.llama_print_system_info().decode(errors="replace")
    present = {name.strip() for name, _, value in
               (item.partition("=") for item in features.replace(":", "|").split("|"))
               if value.strip() == "1"}
    return frozenset(t for flag, types in X86_REPACKED.items() if flag in present for t in types)


def is_mapped(llm) -> bool:
    """Whether a loaded `Llama` maps its file (llama-cpp-python >= 0.3.3x: load_mode, where
    LLAMA_LOAD_MODE_NONE = 0 means read; earlier: use_mmap)."""
    params = llm.model_params
    if hasattr(params, "load_mode"):
        return params.load_mode != 0
    return bool(params.use_mmap)


def _gpu_offload() -> bool:
    """Whether this llama.cpp can offload at all (without, n_gpu_layers is ignored)."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


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
            Without `use_mmap`, the file is mapped unless repacking may apply (`may_repack`),
            so that one copy of the weights is resident (see the module docstring).

    Raises:
        BackendError: this llama-cpp-python cannot turn repacking off (too old).
        InvalidModelError: llama.cpp refused the file or the context; the message gives the
            reason llama.cpp logged.
    """
    from llama_cpp import Llama

    from quantize import llama_log

    llama_log.install(verbose)
    if "use_mmap" not in kwargs and repack and not kwargs.get("vocab_only"):
        check_fields(_low_level().llama_model_params, [REPACK_FIELD])  # refuse before reading
        kwargs["use_mmap"] = not may_repack(path, kwargs.get("n_gpu_layers", 0))
    try:
        with _model_params(**{REPACK_FIELD: repack}):
            return Llama(model_path=str(path), verbose=verbose, **kwargs)
    except ValueError as exc:  # llama-cpp-python's "Failed to load model from file", ...
        why = llama_log.recent_errors() or "no reason given; run with verbose=True"
        raise InvalidModelError(f"llama.cpp could not load {path}: {why}; check the file "
                                "(`vibe-local doctor`), or rebuild or pull it again") from exc
