"""Reading the ggml tensors that llama.cpp's eval callback hands us, through ctypes.

llama-cpp-python declares the callback type (`ggml_backend_sched_eval_callback`) but not the
`struct ggml_tensor` it receives, so the layout is written here from ggml.h; `check_layout`
compares it with what libggml itself reports (name and byte size) on the first tensor seen, so a
changed layout is refused instead of read wrongly. Operation and type names come from
`ggml_op_name` / `ggml_type_name`, never from enum numbers, which move between ggml versions.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import numpy as np

from ..errors import QuantizeError

_MAX_DIMS, _MAX_SRC, _MAX_OP_PARAMS, _MAX_NAME = 4, 10, 64, 64  # ggml.h


class GgmlTensor(ctypes.Structure):
    """`struct ggml_tensor` as ggml.h declares it (ggml 0.9 / llama-cpp-python 0.3.x)."""


GgmlTensor._fields_ = [
    ("type", ctypes.c_int),
    ("buffer", ctypes.c_void_p),
    ("ne", ctypes.c_int64 * _MAX_DIMS),
    ("nb", ctypes.c_size_t * _MAX_DIMS),
    ("op", ctypes.c_int),
    ("op_params", ctypes.c_int32 * (_MAX_OP_PARAMS // 4)),
    ("flags", ctypes.c_int32),
    ("src", ctypes.POINTER(GgmlTensor) * _MAX_SRC),
    ("view_src", ctypes.POINTER(GgmlTensor)),
    ("view_offs", ctypes.c_size_t),
    ("data", ctypes.c_void_p),
    ("name", ctypes.c_char * _MAX_NAME),
    ("extra", ctypes.c_void_p),
    ("padding", ctypes.c_char * 8),
]


@functools.cache
def _lib() -> Any:
    """libggml as llama-cpp-python loaded it, with the few functions we call declared."""
    from llama_cpp._ggml import libggml

    signatures = {
        "ggml_op_name": ([ctypes.c_int], ctypes.c_char_p),
        "ggml_type_name": ([ctypes.c_int], ctypes.c_char_p),
        "ggml_get_name": ([ctypes.c_void_p], ctypes.c_char_p),
        "ggml_nbytes": ([ctypes.c_void_p], ctypes.c_size_t),
        "ggml_backend_buffer_is_host": ([ctypes.c_void_p], ctypes.c_bool),
        "ggml_backend_tensor_get": ([ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                     ctypes.c_size_t], None),
    }
    for name, (args, result) in signatures.items():
        function = getattr(libggml, name)
        function.argtypes, function.restype = args, result
    return libggml


@functools.cache
def op_name(op: int) -> str:
    """ggml's name of an operation number ("MUL_MAT")."""
    return _lib().ggml_op_name(op).decode()


@functools.cache
def type_name(ggml_type: int) -> str:
    """ggml's name of a tensor type number ("f32")."""
    return _lib().ggml_type_name(ggml_type).decode()


def tensor_at(address: int) -> GgmlTensor:
    """The tensor struct at a C address (no copy: it reads the live struct)."""
    return GgmlTensor.from_address(address)


def check_layout(address: int) -> None:
    """Refuse to go on when our struct layout disagrees with libggml's view of a tensor.

    Raises:
        QuantizeError: this llama.cpp build lays out `struct ggml_tensor` differently.
    """
    tensor = tensor_at(address)
    lib = _lib()
    if tensor.name != lib.ggml_get_name(address) or nbytes(address) != _strided_bytes(tensor):
        raise QuantizeError("this llama-cpp-python's ggml tensor layout is not the one "
                            "vibe-quantize reads; install the version pyproject.toml asks for")


def nbytes(address: int) -> int:
    return int(_lib().ggml_nbytes(address))


def _strided_bytes(tensor: GgmlTensor) -> int:
    """ggml_nbytes for a non-quantized tensor, computed from our reading of ne/nb."""
    if any(tensor.ne[i] <= 0 for i in range(_MAX_DIMS)):
        return 0
    extent = sum((tensor.ne[i] - 1) * tensor.nb[i] for i in range(_MAX_DIMS))
    return int(extent + tensor.nb[0]) if type_name(tensor.type) in ("f32", "f16", "bf16") \
        else nbytes(ctypes.addressof(tensor))


def float_rows(address: int) -> np.ndarray:
    """An F32 tensor's values as rows of ne[0] columns, [ne1*ne2*ne3, ne0].

    Host memory is read in place; a tensor on a GPU is copied out first with
    `ggml_backend_tensor_get`, as llama-imatrix does.
    """
    tensor = tensor_at(address)
    size = nbytes(address)
    lib = _lib()
    if tensor.buffer and not lib.ggml_backend_buffer_is_host(tensor.buffer):
        host = np.empty(size, dtype=np.uint8)
        lib.ggml_backend_tensor_get(address, host.ctypes.data, 0, size)
        buffer: Any = host
    else:
        buffer = (ctypes.c_char * size).from_address(tensor.data)
    shape = tuple(tensor.ne[i] for i in reversed(range(_MAX_DIMS)))
    strides = tuple(tensor.nb[i] for i in reversed(range(_MAX_DIMS)))
    values = np.ndarray(shape, dtype=np.float32, buffer=buffer, strides=strides)
    return values.reshape(-1, shape[-1])
