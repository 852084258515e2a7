"""The statistic llama-imatrix collects, gathered from llama.cpp's eval callback.

For every weight matrix of a transformer block (`blk.*`) multiplied by an F32 activation of at
least 16 rows, the sum over rows of each input column's square, and the number of rows summed.
Those are llama-imatrix's rules (tools/imatrix/imatrix.cpp, `collect_imatrix`): small batches
are skipped, the output matrix is left out, a 3-D activation against a 2-D weight is flattened,
and the count grows by the number of rows per matrix. Indirect (`MUL_MAT_ID`, mixture-of-experts)
products are not collected: VibeThinker is a dense model.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import numpy as np

from . import ggml_tensor
from .imatrix_file import ImatrixEntry

MIN_ROWS = 16  # llama-imatrix ignores products of fewer rows (single-token generation steps)
_LAYER_PREFIX = "blk."


def weight_name(name: str) -> str:
    """A backend may decorate a weight's name ("CUDA0#blk.0.attn_k.weight#0"); strip that."""
    parts = name.split("#")
    return parts[1] if len(parts) > 1 else name


class Collector:
    """Accumulates sums of squares and counts per weight; `callback` is what llama.cpp calls.

    An exception inside a ctypes callback cannot propagate through C, so the first one (a
    Ctrl+C included) is kept, the computation is stopped, and `raise_pending` re-raises it
    once llama_decode has returned.
    """

    def __init__(self) -> None:
        self.sums: dict[str, np.ndarray] = {}  # float64 [n_mat, n_cols]
        self.counts: dict[str, np.ndarray] = {}  # int64 [n_mat]
        self._pending: BaseException | None = None
        self._layout_checked = False
        self.callback = self._make_callback()

    def _make_callback(self) -> Any:
        from llama_cpp import ggml_backend_sched_eval_callback

        def on_node(address: int | None, ask: bool, user_data: Any) -> bool:
            if self._pending is not None or not address:
                return False
            try:
                if ask:
                    return self.wants(address)
                self.collect(address)
                return True
            except BaseException as exc:  # noqa: BLE001 - re-raised after llama_decode
                self._pending = exc
                return False

        return ggml_backend_sched_eval_callback(on_node)

    def wants(self, address: int) -> bool:
        """Whether this graph node is a product whose input statistics we keep."""
        node = ggml_tensor.tensor_at(address)
        if ggml_tensor.op_name(node.op) != "MUL_MAT":
            return False
        weight, activation = node.src[0], node.src[1]
        if not weight or not activation:
            return False
        if activation.contents.ne[1] < MIN_ROWS or \
                ggml_tensor.type_name(activation.contents.type) != "f32":
            return False
        return weight_name(weight.contents.name.decode()).startswith(_LAYER_PREFIX)

    def collect(self, address: int) -> None:
        """Add this product's input rows to its weight's sums and count."""
        node = ggml_tensor.tensor_at(address)
        weight = node.src[0].contents
        activation_address = ctypes.addressof(node.src[1].contents)
        if not self._layout_checked:
            ggml_tensor.check_layout(activation_address)
            self._layout_checked = True
        name = weight_name(weight.name.decode())
        n_mat = int(weight.ne[2] * weight.ne[3])
        rows = ggml_tensor.float_rows(activation_address)
        if n_mat == 1:
            squares = np.einsum("ij,ij->j", rows, rows, dtype=np.float64)[None, :]
        else:
            squares = _per_matrix_squares(node.src[1].contents, weight, rows)
        if name not in self.sums:
            self.sums[name] = np.zeros_like(squares)
            self.counts[name] = np.zeros(n_mat, dtype=np.int64)
        elif self.sums[name].shape != squares.shape:
            raise ValueError(f"inconsistent input size for {name}")
        self.sums[name] += squares
        self.counts[name] += rows.shape[0] // n_mat
        if not np.isfinite(self.sums[name]).all():
            raise ValueError(f"non-finite activations reached {name}; the model is broken")

    def raise_pending(self) -> None:
        """Re-raise what went wrong inside the callback, if anything did."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            raise pending

    def entries(self) -> dict[str, ImatrixEntry]:
        """The statistics gathered so far, one entry per weight name."""
        return {name: ImatrixEntry(self.sums[name].copy(), self.counts[name].copy())
                for name in self.sums}


def _per_matrix_squares(activation: Any, weight: Any, rows: np.ndarray) -> np.ndarray:
    """A stacked (3-D/4-D) weight: activation slice (i2, i3) feeds matrix
    (i3 % ne3) * ne2 + (i2 % ne2), as llama-imatrix assigns it."""
    ne0, ne1, ne2, ne3 = (int(activation.ne[i]) for i in range(4))
    w2, w3 = int(weight.ne[2]), int(weight.ne[3])
    blocks = rows.reshape(ne3, ne2, ne1, ne0)
    out = np.zeros((w2 * w3, ne0), dtype=np.float64)
    for i3 in range(ne3):
        for i2 in range(ne2):
            block = blocks[i3, i2]
            out[(i3 % w3) * w2 + (i2 % w2)] += np.einsum("ij,ij->j", block, block,
                                                          dtype=np.float64)
    return out


ProgressFn = Callable[[int, int, str], None]
