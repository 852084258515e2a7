"""Quantize a GGUF file with llama.cpp's own quantizer, through llama-cpp-python.

We do not re-implement K-quants: `llama_model_quantize` is the reference implementation, with
llama.cpp's per-tensor type mix for each file type (Q4_K_M keeps some tensors at Q6_K, etc.).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import TYPE_CHECKING

from . import llama_log
from .atomic import atomic_output
from .errors import QuantizeError
from .llama_params import set_fields
from .quant_types import check_imatrix_given, ftype_of

if TYPE_CHECKING:
    from .imatrix.quant_params import ImatrixInput

_backend_ready = False


def quantize_gguf(src: Path, dst: Path, type_name: str, *, threads: int | None = None,
                  verbose: bool = False, imatrix: ImatrixInput | None = None) -> None:
    """Write `dst` as the `type_name` quantization of the 16/32-bit GGUF `src`, atomically.

    Args:
        imatrix: an importance matrix for the quantizer, recorded in the file's
            `quantize.imatrix.*` keys as llama-quantize records it.

    Raises:
        UnknownQuantTypeError: type_name is not a type we can build.
        ImatrixRequiredError: the type needs an importance matrix and none was given.
        QuantizeError: llama.cpp refused or failed (its reason is quoted).
        DiskFullError: the disk filled up; nothing is left behind.
    """
    ftype = ftype_of(type_name)
    check_imatrix_given(type_name, imatrix is not None)
    import llama_cpp

    global _backend_ready
    llama_log.install(verbose)
    if not _backend_ready:
        llama_cpp.llama_backend_init()
        _backend_ready = True
    params = llama_cpp.llama_model_quantize_default_params()
    try:
        set_fields(params, {"ftype": ftype, "nthread": threads or os.cpu_count() or 1})
    except AttributeError as exc:  # an unset ftype would quietly give llama.cpp's default type
        raise QuantizeError(f"this llama-cpp-python cannot be told the quantization type ({exc}); "
                            "install the version pyproject.toml asks for") from None
    arrays = None
    if imatrix is not None:
        from .imatrix.quant_params import QuantizeArrays

        arrays = QuantizeArrays(imatrix)  # kept alive until llama_model_quantize returns
        arrays.apply(params)
    with atomic_output(dst) as temp:
        llama_log.clear()
        status = llama_cpp.llama_model_quantize(
            os.fsencode(src), os.fsencode(temp), ctypes.byref(params)
        )
        if status != 0 or not temp.is_file():
            _raise_if_disk_full(dst)
            raise QuantizeError(
                f"llama.cpp could not quantize {src.name} to {type_name}: "
                f"{llama_log.recent_errors() or 'no reason given'}"
            )


def _raise_if_disk_full(dst: Path) -> None:
    """llama.cpp reports write failures as a generic error; tell the user when space is out."""
    import errno
    import shutil

    if shutil.disk_usage(dst.parent).free < 1024 * 1024:
        raise OSError(errno.ENOSPC, "No space left on device")
