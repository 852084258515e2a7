"""Model geometry and weight sizes from a GGUF header, and the quants a model path offers.

The memory fit needs a model's shape (layers, heads, context) and how many bytes each layer's
weights take; both are in the GGUF header and tensor table, so nothing here reads tensor data
or restates a model's numbers in code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidModelError, ModelNotFoundError

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


def _field(reader, key: str, default=None):
    """A header value, or `default` when absent."""
    field = reader.fields.get(key)
    return field.contents() if field is not None else default


def _open_reader(path: Path):
    """gguf.GGUFReader on `path`, turning every parse failure into InvalidModelError."""
    import gguf

    if not path.is_file():
        raise ModelNotFoundError(f"no such model file: {path}")
    try:
        reader = gguf.GGUFReader(path)
    except (ValueError, IndexError, KeyError, TypeError, OSError, EOFError) as exc:
        raise InvalidModelError(
            f"{path} is not a readable GGUF model ({exc}); it may be truncated or not a GGUF "
            "file; download or convert it again") from exc
    end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    if end > path.stat().st_size:
        raise InvalidModelError(f"{path} is truncated ({path.stat().st_size:,} bytes, tensor "
                                f"data needs {end:,}); download or convert it again")
    return reader


def read_geometry(path: str | Path) -> ModelGeometry:
    """Read a model's geometry and per-layer weight bytes from its GGUF header only.

    Raises:
        ModelNotFoundError: no such file.
        InvalidModelError: not a GGUF file, truncated, or missing the hyperparameters.
    """
    path = Path(path)
    reader = _open_reader(path)
    try:
        arch = str(_field(reader, "general.architecture"))
        hp = {key: _field(reader, f"{arch}.{key}") for key in (
            "block_count", "embedding_length", "feed_forward_length", "attention.head_count",
            "attention.head_count_kv", "context_length", "attention.key_length",
            "attention.value_length")}
        n_layer, n_embd = int(hp["block_count"]), int(hp["embedding_length"])
        n_head = int(hp["attention.head_count"])
        n_head_kv = int(hp["attention.head_count_kv"] or n_head)
        head_dim_k = int(hp["attention.key_length"] or n_embd // n_head)
        head_dim_v = int(hp["attention.value_length"] or head_dim_k)
        n_ff, n_ctx_train = int(hp["feed_forward_length"]), int(hp["context_length"])
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise InvalidModelError(f"{path} lacks the model hyperparameters llama.cpp needs "
                                f"({exc}); convert it again") from exc
    sizes = {t.name: int(t.n_bytes) for t in reader.tensors}
    layers = [0] * n_layer
    for name, n_bytes in sizes.items():
        match = _LAYER_RE.match(name)
        if match and int(match.group(1)) < n_layer:
            layers[int(match.group(1))] += n_bytes
    if "token_embd.weight" not in sizes:
        raise InvalidModelError(f"{path} has no token_embd.weight; convert it again")
    embd = next(t for t in reader.tensors if t.name == "token_embd.weight")
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    n_vocab = len(tokens.data) if tokens is not None else int(embd.shape[1])
    tied = "output.weight" not in sizes
    output = sizes.get("output_norm.weight", 0) + sizes.get("output.weight", sizes[embd.name])
    file_type = _field(reader, "general.file_type")
    return ModelGeometry(arch, n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim_k, head_dim_v,
                         n_vocab, n_ctx_train, tuple(layers), sizes[embd.name], output, tied,
                         path.stat().st_size, None if file_type is None else int(file_type))


def _quant_name(file_type: int | None, path: Path) -> str:
    """"Q4_K_M" from general.file_type via gguf's LlamaFileType; the file stem if unknown."""
    import gguf

    try:
        return gguf.LlamaFileType(file_type).name.split("_", 1)[1]
    except (ValueError, TypeError):
        return path.stem


def _single_option(path: Path) -> QuantOption:
    """The option a lone .gguf file offers, with bits per weight from its tensor table."""
    reader = _open_reader(path)
    n_bytes = sum(int(t.n_bytes) for t in reader.tensors)
    n_elements = sum(int(t.n_elements) for t in reader.tensors)
    bpw = round(8 * n_bytes / n_elements, 4) if n_elements else 0.0
    quant = _quant_name(_field(reader, "general.file_type"), path)
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
