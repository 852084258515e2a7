"""Bytes a generated token reads from memory: the roofline model for generation speed.

Generating one token multiplies one activation vector by every weight matrix, so each weight is
read once per token and reused for nothing else; with a model of hundreds of MB no cache holds
them between tokens, and generation speed is bounded by memory bandwidth / bytes per token. The
model counted here, from the GGUF header only (tensor table and hyperparameters):

- every tensor of the file, once, at its stored size (quantized blocks and their scales);
- the token embedding (`token_embd.weight`): only the one row the token looks up, unless the
  output projection is tied to it (no `output.weight`), when the whole matrix is read by it;
- the KV cache: K and V of every layer for each cached position, at the test's mean position.
  Generating n tokens from an empty cache, token i attends to i + 1 positions: mean (n + 1) / 2.

Left out: activations and scratch buffers (a few hundred KB per token, cache resident), the
single K/V row written per token, and llama.cpp's padding of the attended cache to 256 cells
(the padded cells are masked and skipped by the flash-attention kernel).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..gguf_info import GGUFHeader, read_geometry, read_header

EMBEDDING = "token_embd.weight"
OUTPUT = "output.weight"


@dataclass(frozen=True)
class TokenTraffic:
    """Bytes read from memory to generate one token."""

    weights: int  # every weight tensor once (the embedding: one row unless tied)
    kv_cache: float  # K and V at the mean attended position
    mean_position: float  # positions attended on average

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache

    def to_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


def weight_bytes_per_token(header: GGUFHeader) -> int:
    """Bytes of weights one generated token reads (see the module docstring).

    The embedding's row size is its bytes / rows: GGUF stores a row as whole quantization
    blocks, so the division is exact.
    """
    tied = all(t.name != OUTPUT for t in header.tensors)
    total = 0
    for tensor in header.tensors:
        if tensor.name == EMBEDDING and not tied:
            total += tensor.n_bytes // tensor.shape[-1]  # GGUF shape: (n_embd, n_vocab)
        else:
            total += tensor.n_bytes
    return total


def token_traffic(path: str | Path, *, n_gen: int, kv_type: str = "f16") -> TokenTraffic:
    """Bytes per generated token for `n_gen` tokens generated from an empty cache.

    Raises:
        ModelNotFoundError, InvalidModelError: not a readable, complete GGUF model.
        InvalidRequestError: unknown KV cache type.
    """
    from ..fitting import kv_bytes_per_token

    geometry = read_geometry(path)
    mean_position = (n_gen + 1) / 2
    kv = kv_bytes_per_token(geometry, kv_type) * mean_position
    return TokenTraffic(weight_bytes_per_token(read_header(path)), kv, mean_position)
