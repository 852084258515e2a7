"""An importance matrix handed to `llama_model_quantize`, as llama-quantize hands it.

`llama_model_quantize_params.imatrix` takes a NULL-terminated array of (tensor name, float
array, size) and `kv_overrides` a key-terminated array of metadata entries; llama-quantize fills
them with each entry's mean square (sum / count) and the `quantize.imatrix.*` keys below, in this
order. Doing the same makes our files byte-identical to `llama-quantize --imatrix`'s.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

from .imatrix_file import Imatrix

KEY_FILE = "quantize.imatrix.file"
KEY_DATASET = "quantize.imatrix.dataset"
KEY_ENTRIES = "quantize.imatrix.entries_count"
KEY_CHUNKS = "quantize.imatrix.chunks_count"
_STR_MAX = 127  # llama_model_kv_override.val_str holds 128 bytes with the terminator


@dataclass(frozen=True)
class ImatrixInput:
    """An importance matrix and the file name the quantized GGUF records for it."""

    imatrix: Imatrix
    label: str  # what llama-quantize records: the --imatrix argument as given


class QuantizeArrays:
    """The ctypes arrays for one quantization; they must outlive the llama_model_quantize call,
    so this object holds every buffer they point into."""

    def __init__(self, source: ImatrixInput) -> None:
        import llama_cpp

        self._means = {name: entry.importance() for name, entry in source.imatrix.entries.items()}
        self._names = {name: name.encode() for name in self._means}
        data = (llama_cpp.llama_model_imatrix_data * (len(self._means) + 1))()
        for slot, (name, mean) in zip(data, self._means.items()):
            slot.name = self._names[name]
            slot.data = mean.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            slot.size = mean.size
        self.imatrix = data  # the last slot stays zeroed: the terminator
        self.kv_overrides = _overrides(llama_cpp, source)

    def apply(self, params: Any) -> None:
        """Point a llama_model_quantize_params at these arrays."""
        params.imatrix = ctypes.cast(self.imatrix, ctypes.POINTER(type(self.imatrix[0])))
        params.kv_overrides = ctypes.cast(self.kv_overrides,
                                          ctypes.POINTER(type(self.kv_overrides[0])))


def _overrides(llama_cpp: Any, source: ImatrixInput) -> Any:
    """The quantize.imatrix.* metadata in llama-quantize's order (dataset and chunk count only
    when known), terminated by an empty key."""
    imatrix = source.imatrix
    values: list[tuple[str, str | int]] = [(KEY_FILE, source.label)]
    if imatrix.datasets:
        values.append((KEY_DATASET, imatrix.datasets[0]))
    values.append((KEY_ENTRIES, len(imatrix.entries)))
    if imatrix.chunk_count > 0:
        values.append((KEY_CHUNKS, imatrix.chunk_count))
    array = (llama_cpp.llama_model_kv_override * (len(values) + 1))()
    for slot, (key, value) in zip(array, values):
        slot.key = key.encode()
        if isinstance(value, str):
            slot.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_STR
            slot.value.val_str = value.encode()[:_STR_MAX]
        else:
            slot.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
            slot.value.val_i64 = value
    return array

