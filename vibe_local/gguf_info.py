"""Model geometry and weight sizes from a GGUF header, and the quants a model path offers.

The memory fit needs a model's shape (layers, heads, context) and how many bytes each layer's
weights take; both are in the GGUF header and tensor table, so nothing here reads tensor data
or restates a model's numbers in code.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from quantize.gguf_header import GGUFHeader, TensorInfo, parse_gguf_header

from .errors import InvalidModelError, ModelNotFoundError

__all__ = ["GGUFHeader", "TensorInfo", "read_header", "read_geometry", "options_from_path"]

_LAYER_RE = re.compile(r"^blk\.(\d+)\.")


@dataclass(frozen=True)
class ModelGeometry:
    """What a GGUF header says about a model's shape and the bytes of its weights."""

    architecture: str
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    n_vocab: int
    n_ctx_train: int
    layer_bytes: tuple[int, ...]  # weights of blk.N.*, in layer order
    token_embd_bytes: int
    output_bytes: int  # output_norm + output.weight; the token_embd copy when tied
    tied_embeddings: bool
    file_bytes: int
    file_type: int | None

    @property
    def n_embd_kv(self) -> int:
        """Width of one token's K (or V) row across all KV heads."""
        return self.n_head_kv * self.head_dim_k

    @property
    def tensor_bytes(self) -> int:
        """Bytes of every weight in the file (the tied output counted once)."""
        tied_copy = self.token_embd_bytes if self.tied_embeddings else 0
        return sum(self.layer_bytes) + self.token_embd_bytes + self.output_bytes - tied_copy


@dataclass(frozen=True)
class QuantOption:
    """One file a model can be run from."""

    quant: str
    path: Path
    bpw: float
    bytes: int


def read_header(path: str | Path) -> GGUFHeader:
    """Metadata and tensor table of a GGUF file, without touching tensor data.

    Raises:
        ModelNotFoundError: no such file.
        InvalidModelError: not a GGUF file, or truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"no such model file: {path}")
    try:
        return parse_gguf_header(path)
    except (ValueError, EOFError, KeyError, OverflowError, struct.error, OSError) as exc:
        what = "is truncated" if isinstance(exc, EOFError) else "is not a readable GGUF model"
        raise InvalidModelError(f"{path} {what} ({exc}); download or convert it again") from exc


def read_geometry(path: str | Path) -> ModelGeometry:
    """Read a model's geometry and per-layer weight bytes from its GGUF header only.

    Raises:
        ModelNotFoundError: no such file.
        InvalidModelError: not a GGUF file, truncated, or missing the hyperparameters.
    """
    path = Path(path)
    header = read_header(path)
    fields = header.fields
    arch = str(fields.get("general.architecture"))
    hp = {key: fields.get(f"{arch}.{key}") for key in (
        "block_count", "embedding_length", "feed_forward_length", "attention.head_count",
        "attention.head_count_kv", "context_length", "attention.key_length",
        "attention.value_length")}
    try:
        n_layer, n_embd = int(hp["block_count"]), int(hp["embedding_length"])
        n_head = int(hp["attention.head_count"])
        n_head_kv = int(hp["attention.head_count_kv"] or n_head)
        head_dim_k = int(hp["attention.key_length"] or n_embd // n_head)
        head_dim_v = int(hp["attention.value_length"] or head_dim_k)
        n_ff, n_ctx_train = int(hp["feed_forward_length"]), int(hp["context_length"])
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise InvalidModelError(f"{path} lacks the model hyperparameters llama.cpp needs "
                                f"({exc}); convert it again") from exc
    sizes = {t.name: t.n_bytes for t in header.tensors}
    layers = [0] * n_layer
    for name, n_bytes in sizes.items():
        match = _LAYER_RE.match(name)
        if match and int(match.group(1)) < n_layer:
            layers[int(match.group(1))] += n_bytes
    embd = next((t for t in header.tensors if t.name == "token_embd.weight"), None)
    if embd is None or len(embd.shape) != 2:
        raise InvalidModelError(f"{path} has no token_embd.weight; convert it again")
    n_vocab = int(fields.get("tokenizer.ggml.tokens") or embd.shape[1])
    tied = "output.weight" not in sizes
    output = sizes.get("output_norm.weight", 0) + sizes.get("output.weight", embd.n_bytes)
    file_type = fields.get("general.file_type")
    return ModelGeometry(arch, n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim_k, head_dim_v,
                         n_vocab, n_ctx_train, tuple(layers), embd.n_bytes, output, tied,
                         path.stat().st_size, None if file_type is None else int(file_type))


def _quant_name(fields: dict, path: Path) -> str:
    """"Q4_K_M" from general.file_type via gguf's LlamaFileType, "Q4_K_M-imat" when the file
    records an importance matrix (llama.cpp's quantize.imatrix.file); the stem if unknown."""
    import gguf

    from quantize.imatrix.quant_params import KEY_FILE
    from quantize.quant_names import imatrix_name

    try:
        name = gguf.LlamaFileType(fields.get("general.file_type")).name.split("_", 1)[1]
    except (ValueError, TypeError):
        return path.stem
    return imatrix_name(name) if KEY_FILE in fields else name


def _single_option(path: Path) -> QuantOption:
    """The option a lone .gguf file offers, with bits per weight from its tensor table."""
    header = read_header(path)
    n_bytes = sum(t.n_bytes for t in header.tensors)
    n_elements = sum(t.n_elements for t in header.tensors)
    bpw = round(8 * n_bytes / n_elements, 4) if n_elements else 0.0
    quant = _quant_name(header.fields, path)
    return QuantOption(quant, path, bpw, path.stat().st_size)


def options_from_path(path: str | Path) -> list[QuantOption]:
    """The quants a model offers: one .gguf file, or a ladder directory with manifest.json.

    Ladder entries whose file is not on disk are left out. Sorted by bits per weight, highest
    (best quality) first.

    Raises:
        ModelNotFoundError: no such path, or a directory without a manifest or any of its files.
        InvalidModelError: a file that is not a readable GGUF model.
    """
    from quantize.errors import CheckpointError
    from quantize.manifest import MANIFEST_NAME, load_manifest

    path = Path(path)
    if path.is_file():
        return [_single_option(path)]
    if not path.is_dir():
        raise ModelNotFoundError(f"no such model file or ladder directory: {path}")
    try:
        manifest = load_manifest(path)
    except CheckpointError as exc:
        raise InvalidModelError(str(exc)) from exc
    if manifest is None:
        raise ModelNotFoundError(f"{path} has no {MANIFEST_NAME}; pass a .gguf file or a "
                                 "ladder directory built by `vibe-quantize ladder`")
    options = [QuantOption(f.quant, path / f.file, f.bpw, f.bytes)
               for f in manifest.files if (path / f.file).is_file()]
    if not options:
        raise ModelNotFoundError(f"none of the files listed in {path / MANIFEST_NAME} exist")
    return sorted(options, key=lambda o: o.bpw, reverse=True)
