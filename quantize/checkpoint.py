"""A Hugging Face checkpoint directory: config, tokenizer files and (sharded) safetensors.

Opening a checkpoint reads only JSON and safetensors headers; tensor data stays on disk until
the converter streams it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CheckpointError, CheckpointNotFoundError
from .safetensors_file import TensorRecord, read_header

INDEX_FILE = "model.safetensors.index.json"


@dataclass
class Checkpoint:
    """What the converter needs to know about a checkpoint before reading any weights."""

    path: Path
    config: dict[str, Any]
    tensors: dict[str, TensorRecord]

    @property
    def architecture(self) -> str:
        """The `architectures[0]` class name from config.json, e.g. "Qwen2ForCausalLM"."""
        archs = self.config.get("architectures") or []
        return archs[0] if archs else str(self.config.get("model_type", "unknown"))

    @property
    def weights_dtype(self) -> str:
        """The safetensors dtype most parameters are stored in ("BF16", "F16" or "F32")."""
        counts: Counter[str] = Counter()
        for record in self.tensors.values():
            counts[record.dtype] += record.n_elements
        return counts.most_common(1)[0][0]

    @property
    def n_parameters(self) -> int:
        return sum(r.n_elements for r in self.tensors.values())

    def json_file(self, name: str) -> dict[str, Any] | None:
        """Parse an optional JSON file of the checkpoint; None when it is absent."""
        file = self.path / name
        return read_json(file) if file.is_file() else None


def open_checkpoint(path: str | Path) -> Checkpoint:
    """Open a checkpoint directory and index its tensors.

    Raises:
        CheckpointNotFoundError: not a directory, no config.json, or no safetensors files.
        CheckpointError: malformed JSON, a shard listed in the index is missing, or a
            safetensors file is corrupt or truncated.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise CheckpointNotFoundError(f"{root} is not a directory; pass a checkpoint directory")
    config_file = root / "config.json"
    if not config_file.is_file():
        raise CheckpointNotFoundError(
            f"{root} has no config.json; is this a Hugging Face checkpoint directory?"
        )
    config = read_json(config_file)
    tensors: dict[str, TensorRecord] = {}
    for shard in _shard_files(root):
        for record in read_header(shard):
            tensors[record.name] = record
    _check_index(root, tensors)
    return Checkpoint(root, config, tensors)


def read_json(file: Path) -> dict[str, Any]:
    """Read a JSON object, turning syntax errors into a CheckpointError naming the file."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{file.name} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{file.name} should hold a JSON object")
    return data


def _shard_files(root: Path) -> list[Path]:
    """The safetensors files of the checkpoint, from the index when there is one."""
    index_file = root / INDEX_FILE
    if index_file.is_file():
        weight_map = read_json(index_file).get("weight_map") or {}
        names = sorted(set(weight_map.values()))
        missing = [n for n in names if not (root / n).is_file()]
        if missing:
            raise CheckpointError(
                f"{INDEX_FILE} lists {', '.join(missing)} but the file is missing; "
                "download the checkpoint again"
            )
        return [root / n for n in names]
    shards = sorted(root.glob("*.safetensors"))
    if not shards:
        raise CheckpointNotFoundError(
            f"{root} has no *.safetensors weights (pytorch_model.bin checkpoints are not "
            "supported; convert them to safetensors first)"
        )
    return shards


def _check_index(root: Path, tensors: dict[str, TensorRecord]) -> None:
    """Every tensor the index promises must be in the shard it names."""
    index_file = root / INDEX_FILE
    if not index_file.is_file():
        return
    for name, shard in (read_json(index_file).get("weight_map") or {}).items():
        record = tensors.get(name)
        if record is None or record.path.name != shard:
            raise CheckpointError(f"tensor {name!r} is listed in {INDEX_FILE} but not in {shard}")
