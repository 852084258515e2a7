"""Hugging Face checkpoint -> GGUF (F32, F16 or BF16), streamed one chunk at a time.

The output matches what llama.cpp's own `convert_hf_to_gguf.py` writes for a Qwen2 checkpoint:
same metadata keys and values, tensor names, types, shapes and data. The `gguf` package writes
the file; this module decides what goes in and feeds tensor data through `StreamedTensor`, whose
`tofile` converts and writes one chunk at a time, so peak memory stays near one chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

import gguf
import numpy as np

from . import qwen2
from .atomic import atomic_output, check_output_file
from .checkpoint import Checkpoint, open_checkpoint
from .errors import UnknownQuantTypeError
from .safetensors_file import TensorRecord, to_f32
from .vocab import load_vocab

OUTTYPES: dict[str, tuple[gguf.LlamaFileType, gguf.GGMLQuantizationType]] = {
    "f32": (gguf.LlamaFileType.ALL_F32, gguf.GGMLQuantizationType.F32),
    "f16": (gguf.LlamaFileType.MOSTLY_F16, gguf.GGMLQuantizationType.F16),
    "bf16": (gguf.LlamaFileType.MOSTLY_BF16, gguf.GGMLQuantizationType.BF16),
}

# Called after each tensor is written: (index, count, GGUF tensor name).
ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ConversionResult:
    """What `convert` wrote."""

    path: Path
    outtype: str
    ftype: int
    architecture: str
    name: str
    n_parameters: int
    bytes: int


class StreamedTensor:
    """A tensor the GGUF writer can `tofile` without ever holding it whole in memory.

    It quacks like the NumPy array `gguf.GGUFWriter` expects (shape, dtype, nbytes, tofile).
    """

    def __init__(self, record: TensorRecord, qtype: gguf.GGMLQuantizationType,
                 on_written: Callable[[], None] | None = None):
        self.record = record
        self.qtype = qtype
        self.shape = record.shape
        self.dtype = np.dtype(np.uint16) if qtype == gguf.GGMLQuantizationType.BF16 else (
            np.dtype(np.float16) if qtype == gguf.GGMLQuantizationType.F16 else np.dtype(np.float32)
        )
        self.nbytes = record.n_elements * self.dtype.itemsize
        self._on_written = on_written

    def tofile(self, fout: BinaryIO) -> None:
        for chunk in self.record.iter_chunks():
            fout.write(memoryview(np.ascontiguousarray(self._convert(chunk))).cast("B"))
        if self._on_written is not None:
            self._on_written()

    def _convert(self, chunk: np.ndarray) -> np.ndarray:
        if self.qtype == gguf.GGMLQuantizationType.BF16:
            if self.record.dtype == "BF16":
                return chunk  # already bf16 words: copy, no rounding
            return gguf.quants.quantize(to_f32(self.record, chunk), self.qtype).view(np.uint16)
        return to_f32(self.record, chunk).astype(self.dtype, copy=False)


def tensor_type(gguf_name: str, n_dims: int, outtype: str) -> gguf.GGMLQuantizationType:
    """llama.cpp keeps 1-D tensors and norms in F32; everything else takes the output type."""
    if n_dims <= 1 or gguf_name.endswith("_norm.weight"):
        return gguf.GGMLQuantizationType.F32
    return OUTTYPES[outtype][1]


def convert(
    src: str | Path,
    out: str | Path,
    outtype: str = "f16",
    *,
    name: str | None = None,
    on_tensor: ProgressFn | None = None,
) -> ConversionResult:
    """Convert a local Qwen2 checkpoint directory to one GGUF file, atomically.

    Args:
        src: checkpoint directory (config.json, tokenizer files, *.safetensors).
        out: output .gguf path; written under a temporary name and renamed when complete.
        outtype: "f32", "f16" or "bf16".
        name: general.name for the header; by default taken from the model card or directory.
        on_tensor: progress callback, called after each tensor is written.

    Raises:
        CheckpointNotFoundError, CheckpointError, UnsupportedArchitectureError: bad source.
        UnknownQuantTypeError: outtype is not one of f32, f16, bf16.
        OutputPathError: `out` is a directory or cannot be written (checked before reading).
        DiskFullError: the disk filled up; no partial file is left.
    """
    outtype = outtype.lower()
    if outtype not in OUTTYPES:
        raise UnknownQuantTypeError(f"unknown --outtype {outtype!r}; valid: {', '.join(OUTTYPES)}")
    out = check_output_file(out, example=f"{Path(src).resolve().name}-{outtype.upper()}.gguf")
    checkpoint = open_checkpoint(src)
    qwen2.check_supported(checkpoint)
    cfg = qwen2.Qwen2Config.from_hf(checkpoint.config)
    names = qwen2.check_tensors(checkpoint, cfg)
    vocab = load_vocab(checkpoint, cfg.n_vocab)

    writer = gguf.GGUFWriter(path=None, arch=qwen2.ARCH_NAME)
    _add_tensors(writer, checkpoint, names, cfg, outtype, on_tensor)
    n_params = writer.get_total_parameter_count()[0]
    model_name = _add_header(writer, checkpoint, cfg, outtype, n_params, name)
    vocab.add_to(writer)

    try:
        with atomic_output(out) as temp:
            writer.write_header_to_file(path=temp)
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file(progress=False)
    finally:
        writer.close()  # also on failure, so the temporary file is not held open
    ftype = int(OUTTYPES[outtype][0])
    return ConversionResult(out, outtype, ftype, checkpoint.architecture, model_name, n_params,
                            out.stat().st_size)


def _add_tensors(writer: gguf.GGUFWriter, checkpoint: Checkpoint, names: list[str],
                 cfg: qwen2.Qwen2Config, outtype: str, on_tensor: ProgressFn | None) -> None:
    """Declare every tensor to the writer; data is pulled later, tensor by tensor."""
    for index, hf_name in enumerate(names):
        record = checkpoint.tensors[hf_name]
        gguf_name = qwen2.gguf_tensor_name(hf_name, cfg.n_layer)
        qtype = tensor_type(gguf_name, len(record.shape), outtype)
        done = None if on_tensor is None else partial(on_tensor, index + 1, len(names), gguf_name)
        tensor = StreamedTensor(record, qtype, done)
        writer.add_tensor(gguf_name, tensor, raw_shape=record.shape, raw_dtype=qtype)


def _add_header(writer: gguf.GGUFWriter, checkpoint: Checkpoint, cfg: qwen2.Qwen2Config,
                outtype: str, n_params: int, name: str | None) -> str:
    """general.* keys (via gguf's Metadata, as llama.cpp's converter does), then hparams."""
    metadata = gguf.Metadata.load(None, checkpoint.path, name, n_params)
    if metadata.name is None:
        metadata.name = checkpoint.path.name
    if metadata.size_label is None and n_params > 0:
        metadata.size_label = gguf.size_label(n_params, 0, 0, 0)
    writer.add_type(gguf.GGUFType.MODEL)
    metadata.set_gguf_meta_model(writer)
    qwen2.add_hparams(writer, cfg)
    writer.add_file_type(OUTTYPES[outtype][0])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    return metadata.name
