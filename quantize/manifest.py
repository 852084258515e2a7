"""`manifest.json`: what a ladder directory holds, with checksums the runtime can verify.

Schema (format 1)::

    {"format": 1, "name": ..., "source": "path" | "repo@revision", "source_fingerprint": ...,
     "architecture": "Qwen2ForCausalLM", "gguf_architecture": "qwen2", "parameters": N,
     "master": "BF16", "created_by": ...,
     "files": [{"quant", "file", "bytes", "sha256", "bpw", "ftype"[, "imatrix"]}, ...]}

A file made with an importance matrix is named "<TYPE>-imat" and its entry has "imatrix":
{"file", "sha256", "dataset", "chunks"}; plain files have no "imatrix" key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_output
from .errors import CheckpointError
from .gguf_header import parse_gguf_header

MANIFEST_NAME = "manifest.json"
FORMAT = 1


@dataclass
class ManifestFile:
    """One GGUF file of the ladder."""

    quant: str
    file: str
    bytes: int
    sha256: str
    bpw: float
    ftype: int
    imatrix: dict[str, Any] | None = None  # file, sha256, dataset, chunks when one was used


@dataclass
class Manifest:
    """The whole ladder directory."""

    name: str
    source: str
    source_fingerprint: str
    architecture: str
    gguf_architecture: str
    parameters: int
    master: str
    created_by: str
    files: list[ManifestFile] = field(default_factory=list)
    format: int = FORMAT

    def entry(self, quant: str) -> ManifestFile | None:
        """The file entry for a quant name, if the ladder has it."""
        return next((f for f in self.files if f.quant == quant), None)

    def put(self, item: ManifestFile) -> None:
        """Add or replace the entry for item.quant, keeping the original order."""
        for i, existing in enumerate(self.files):
            if existing.quant == item.quant:
                self.files[i] = item
                return
        self.files.append(item)

    def save(self, directory: Path) -> Path:
        """Write manifest.json atomically."""
        target = directory / MANIFEST_NAME
        data = asdict(self)
        for item in data["files"]:
            if item["imatrix"] is None:
                del item["imatrix"]
        with atomic_output(target) as temp:
            temp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return target


def load_manifest(directory: Path) -> Manifest | None:
    """Read DIR/manifest.json; None when absent.

    Raises:
        CheckpointError: the manifest exists but is not a valid format-1 manifest.
    """
    file = Path(directory) / MANIFEST_NAME
    if not file.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
        files = [_checked(ManifestFile(**entry)) for entry in data.pop("files")]
        return Manifest(**data, files=files)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CheckpointError(
            f"{file} is not a valid manifest ({exc}); delete it and rebuild"
        ) from None


def _checked(item: ManifestFile) -> ManifestFile:
    """The fields the runtime uses (names, sizes) have their types; JSON does not check them."""
    if not (isinstance(item.quant, str) and isinstance(item.file, str)
            and isinstance(item.bytes, int) and not isinstance(item.bytes, bool)):
        raise TypeError(f"bad file entry {asdict(item)}")
    return item


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    return _digest_file(path, hashlib.sha256())


def matches_checksum(path: Path, checksum: str) -> bool:
    """Whether a file matches a checksum the Hub gives: a sha256 (LFS files; 64 hex digits) or
    the git blob sha1 (files kept in git; 40 hex digits). Anything else matches nothing.
    """
    checksum = checksum.lower()
    if len(checksum) == 64:
        return sha256_file(path) == checksum
    if len(checksum) == 40:  # git hashes "blob <size>\0" + content
        header = b"blob %d\0" % path.stat().st_size
        return _digest_file(path, hashlib.sha1(header)) == checksum
    return False


def _digest_file(path: Path, digest) -> str:
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def describe_gguf(path: Path, quant: str, ftype: int) -> ManifestFile:
    """Checksum a GGUF file and measure its bits per weight from its tensor table."""
    tensors = parse_gguf_header(path).tensors
    n_bytes = sum(t.n_bytes for t in tensors)
    n_elements = sum(t.n_elements for t in tensors)
    bpw = round(8 * n_bytes / n_elements, 4) if n_elements else 0.0
    return ManifestFile(quant, path.name, path.stat().st_size, sha256_file(path), bpw, ftype)
