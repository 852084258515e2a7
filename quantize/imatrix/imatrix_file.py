"""Importance-matrix files as llama.cpp writes and reads them.

GGUF format (what `llama-imatrix` writes today): for each weight matrix `<name>.in_sum2`, the
per-column sums of squares of its inputs (F32, one row per expert/matrix), and `<name>.counts`,
how many input rows were summed (F32, one per matrix); keys `imatrix.datasets`,
`imatrix.chunk_count`, `imatrix.chunk_size`. Legacy `.dat` format (read only): each entry holds
(sum / count) * ncall and ncall, so the mean is the stored value divided by ncall.

Written with the `gguf` package (llama.cpp's own Python writer); the `.dat` reader is hand
written because no library reads that format.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_output
from ..errors import QuantizeError

SUMS_SUFFIX, COUNTS_SUFFIX = ".in_sum2", ".counts"
_KEY_DATASETS, _KEY_CHUNK_COUNT, _KEY_CHUNK_SIZE = (
    "imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size")


class ImatrixFileError(QuantizeError, ValueError):
    """A file that is not an importance matrix llama.cpp could have written."""


@dataclass
class ImatrixEntry:
    """Statistics of one weight matrix: sums [n_mat, n_cols] and counts [n_mat]."""

    sums: np.ndarray
    counts: np.ndarray

    def importance(self) -> np.ndarray:
        """The flat float32 array llama-quantize hands to the quantizer: the mean square of
        each input column (sum / count, in float32 as llama.cpp divides), 1 where nothing
        was counted."""
        sums = self.sums.astype(np.float32)
        counts = self.counts.astype(np.float32)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.float32(1))
        return np.ascontiguousarray(mean, dtype=np.float32).reshape(-1)


@dataclass
class Imatrix:
    """A whole importance matrix: one entry per weight tensor name, plus provenance."""

    entries: dict[str, ImatrixEntry] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    chunk_count: int = 0
    chunk_size: int = 0


def write_imatrix(imatrix: Imatrix, path: str | Path) -> Path:
    """Write llama.cpp's GGUF imatrix format atomically (tensors in name order, as
    llama-imatrix orders them)."""
    import gguf

    target = Path(path)
    with atomic_output(target) as temp:
        writer = gguf.GGUFWriter(temp, arch="imatrix")
        # llama-imatrix writes no architecture key; GGUFWriter adds one, so it is dropped
        writer.kv_data[0].pop(gguf.Keys.General.ARCHITECTURE, None)
        writer.add_type("imatrix")
        writer.add_array(_KEY_DATASETS, list(imatrix.datasets))
        writer.add_uint32(_KEY_CHUNK_COUNT, imatrix.chunk_count)
        writer.add_uint32(_KEY_CHUNK_SIZE, imatrix.chunk_size)
        for name in sorted(imatrix.entries):
            entry = imatrix.entries[name]
            n_mat = len(entry.counts)
            writer.add_tensor(name + SUMS_SUFFIX,
                              entry.sums.astype(np.float32).reshape(n_mat, -1))
            writer.add_tensor(name + COUNTS_SUFFIX,
                              entry.counts.astype(np.float32).reshape(n_mat, 1))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return target


def read_imatrix(path: str | Path) -> Imatrix:
    """Read a GGUF imatrix, or a legacy `.dat` one (any file that is not GGUF).

    Raises:
        ImatrixFileError: missing, unreadable, or not an imatrix; the message says which.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ImatrixFileError(f"imatrix file {file} does not exist; make one with "
                               "`vibe-quantize imatrix MODEL -o FILE`")
    with open(file, "rb") as f:
        magic = f.read(4)
    try:
        return _read_gguf(file) if magic == b"GGUF" else _read_legacy(file)
    except (ValueError, KeyError, IndexError, struct.error) as exc:
        raise ImatrixFileError(f"{file} is not a readable imatrix file ({exc})") from None


def _read_gguf(file: Path) -> Imatrix:
    import gguf

    reader = gguf.GGUFReader(file)
    tensors = {t.name: np.array(t.data, dtype=np.float32) for t in reader.tensors}
    result = Imatrix(datasets=_string_array(reader, _KEY_DATASETS),
                     chunk_count=_scalar(reader, _KEY_CHUNK_COUNT),
                     chunk_size=_scalar(reader, _KEY_CHUNK_SIZE))
    for name, sums in tensors.items():
        if not name.endswith(SUMS_SUFFIX):
            continue
        base = name[: -len(SUMS_SUFFIX)]
        counts = tensors.get(base + COUNTS_SUFFIX)
        if counts is None:
            raise ValueError(f"{name} has no {base + COUNTS_SUFFIX}")
        counts = np.rint(counts.reshape(-1)).astype(np.int64)
        result.entries[base] = ImatrixEntry(sums.reshape(len(counts), -1), counts)
    if not result.entries:
        raise ValueError("it holds no .in_sum2 tensors")
    return result


def _string_array(reader, key: str) -> list[str]:
    fld = reader.get_field(key)
    if fld is None:
        return []
    return [bytes(fld.parts[i]).decode("utf-8", errors="replace") for i in fld.data]


def _scalar(reader, key: str) -> int:
    fld = reader.get_field(key)
    return int(fld.parts[fld.data[0]][0]) if fld is not None else 0


def _read_legacy(file: Path) -> Imatrix:
    """The `.dat` layout: int32 entry count; per entry int32 name length, name, int32 ncall,
    int32 nval, nval float32; then optionally int32 chunk count, int32 length, dataset name."""
    data = file.read_bytes()
    offset = 0

    def take(fmt: str) -> tuple:
        nonlocal offset
        values = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return values

    (n_entries,) = take("<i")
    if n_entries < 1:
        raise ValueError("no entries (neither GGUF nor llama.cpp's legacy .dat format)")
    result = Imatrix()
    for _ in range(n_entries):
        (length,) = take("<i")
        name = data[offset:offset + length].decode("utf-8")
        offset += length
        ncall, nval = take("<ii")
        if nval < 1 or offset + 4 * nval > len(data):
            raise ValueError(f"entry {name!r} is truncated")
        values = np.frombuffer(data, dtype="<f4", count=nval, offset=offset).astype(np.float32)
        offset += 4 * nval
        # (sum / count) * ncall with count ncall: the same mean as a raw sum and count
        result.entries[name] = ImatrixEntry(values.reshape(1, -1), np.array([ncall]))
    if offset + 8 <= len(data):
        (result.chunk_count, length) = take("<ii")
        if length > 0:
            result.datasets.append(data[offset:offset + length].decode("utf-8", "replace"))
    return result
