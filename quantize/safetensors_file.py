"""Lazy reader for `.safetensors` files, one chunk of one tensor at a time.

Hand-written on purpose: the `safetensors` package's NumPy backend cannot return bfloat16 (NumPy
has no such dtype) and the PyTorch backend would make torch a dependency. The format is simple:
an 8-byte little-endian header length, a JSON header, then raw little-endian tensor data.

Data is read with positioned reads into small buffers rather than through a long-lived memory
map: touched pages of a map stay counted in the process's resident memory until it is closed,
so converting a 3 GB checkpoint through one map would show a 3 GB peak. Chunked reads keep the
peak near one chunk, whatever the model size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import CheckpointError

# Storage dtypes we read. BF16 is returned as raw uint16 words (see bf16_to_f32).
_DTYPES: dict[str, np.dtype] = {
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "F64": np.dtype("<f8"),
}
_MAX_HEADER_BYTES = 100 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class TensorRecord:
    """Where one tensor lives in a safetensors file, and what it is."""

    name: str
    path: Path
    dtype: str  # safetensors dtype name: "BF16", "F16", "F32", "F64"
    shape: tuple[int, ...]
    offset: int  # absolute byte offset of the data in the file
    nbytes: int

    @property
    def storage_dtype(self) -> np.dtype:
        """NumPy dtype of the stored words (uint16 for BF16)."""
        return _DTYPES[self.dtype]

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    def iter_chunks(self, chunk_bytes: int | None = None) -> Iterator[np.ndarray]:
        """Yield the tensor's data as flat arrays of stored words, in order, a chunk at a time."""
        itemsize = self.storage_dtype.itemsize
        per_chunk = max(1, (chunk_bytes or _CHUNK_BYTES) // itemsize)
        with open(self.path, "rb", buffering=0) as f:
            done = 0
            while done < self.n_elements:
                count = min(per_chunk, self.n_elements - done)
                buf = np.empty(count, dtype=self.storage_dtype)
                f.seek(self.offset + done * itemsize)
                got = f.readinto(memoryview(buf).cast("B"))
                if got != count * itemsize:
                    raise CheckpointError(
                        f"{self.path.name}: tensor {self.name!r} ends early (file truncated?); "
                        "download the checkpoint again"
                    )
                yield buf
                done += count

    def read(self) -> np.ndarray:
        """Read the whole tensor (small tensors only: norms, biases, test fixtures)."""
        parts = list(self.iter_chunks())
        flat = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return flat.reshape(self.shape)


def read_header(path: Path) -> list[TensorRecord]:
    """Parse a safetensors header and check every tensor's extent against the file size.

    Raises:
        CheckpointError: the file is not safetensors, is truncated, or names an unknown dtype.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw_len = f.read(8)
        if len(raw_len) < 8:
            raise CheckpointError(f"{path.name}: not a safetensors file (shorter than 8 bytes)")
        header_len = int.from_bytes(raw_len, "little")
        if header_len > min(_MAX_HEADER_BYTES, size - 8):
            raise CheckpointError(f"{path.name}: not a safetensors file (bad header length)")
        try:
            header = json.loads(f.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{path.name}: corrupt safetensors header ({exc})") from None
    data_start = 8 + header_len
    records = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        records.append(_record(path, name, info, data_start, size))
    return records


def _record(path: Path, name: str, info: dict, data_start: int, size: int) -> TensorRecord:
    """Validate one header entry and turn it into a TensorRecord."""
    dtype = info.get("dtype")
    if dtype not in _DTYPES:
        raise CheckpointError(
            f"{path.name}: tensor {name!r} has dtype {dtype!r}; supported: {', '.join(_DTYPES)}"
        )
    shape = tuple(int(d) for d in info["shape"])
    begin, end = (int(x) for x in info["data_offsets"])
    expected = math.prod(shape) * _DTYPES[dtype].itemsize
    if end - begin != expected:
        raise CheckpointError(f"{path.name}: tensor {name!r} size does not match its shape")
    if data_start + end > size:
        raise CheckpointError(
            f"{path.name} is truncated: tensor {name!r} needs {data_start + end:,} bytes, "
            f"the file has {size:,}; download the checkpoint again"
        )
    return TensorRecord(name, path, dtype, shape, data_start + begin, expected)


def bf16_to_f32(words: np.ndarray) -> np.ndarray:
    """Widen raw bfloat16 words to float32 exactly (bf16 is the top half of an f32)."""
    return (words.astype(np.uint32) << 16).view(np.float32)


def to_f32(record: TensorRecord, chunk: np.ndarray) -> np.ndarray:
    """Convert a chunk of stored words from `record` to float32 values."""
    if record.dtype == "BF16":
        return bf16_to_f32(chunk)
    return chunk.astype(np.float32, copy=False)
