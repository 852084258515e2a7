"""Edits to a store directory's manifest.json: add a pulled GGUF, drop a quant, merge after a build.

The manifest format is quantize's (`quantize.manifest`); it is always rewritten atomically, and
a file is listed only once it is complete and verified, unlisted before it is deleted.
"""

from __future__ import annotations

from pathlib import Path

from quantize.manifest import Manifest, ManifestFile, load_manifest, sha256_file

from . import __version__
from .catalog import CatalogEntry
from .download import RemoteFile
from .errors import InvalidModelError


def add_gguf(entry: CatalogEntry, directory: Path, quant: str, path: Path,
             remote: RemoteFile) -> ManifestFile:
    """List a downloaded, checksum-verified GGUF file in the directory's manifest.

    The sha256 is the Hub's (already checked), so the multi-GB file is not hashed twice; bits
    per weight and file type come from the GGUF header.

    Raises:
        InvalidModelError: the file is not a readable GGUF model (it is deleted).
    """
    from .gguf_info import options_from_path, read_header

    try:
        header = read_header(path)
        option = options_from_path(path)[0]
    except InvalidModelError:
        path.unlink(missing_ok=True)
        raise
    manifest = load_manifest(directory) or Manifest(
        name=entry.name, source=f"{remote.repo}@{remote.commit}", source_fingerprint="",
        architecture=entry.architecture,
        gguf_architecture=str(header.fields.get("general.architecture", "")),
        parameters=entry.parameters, master="", created_by=f"vibe-local {__version__} pull")
    ftype = header.fields.get("general.file_type")
    sha256 = remote.sha256 or sha256_file(path)  # a file kept in git was checked by sha1
    item = ManifestFile(quant, path.name, path.stat().st_size, sha256,
                        option.bpw, -1 if ftype is None else int(ftype))
    manifest.put(item)
    manifest.save(directory)
    return item


def drop_quant(directory: Path, quant: str) -> None:
    """Unlist a quant, then delete its file; the directory goes when nothing is left in it."""
    import shutil

    manifest = load_manifest(directory)
    item = manifest.entry(quant) if manifest else None
    if manifest is None or item is None:
        return
    manifest.files = [f for f in manifest.files if f.quant != quant]
    manifest.save(directory)
    (directory / item.file).unlink(missing_ok=True)
    if not any((directory / f.file).is_file() for f in manifest.files):
        shutil.rmtree(directory)


def merge_entries(directory: Path, manifest: Manifest, before: Manifest | None) -> None:
    """Keep entries a rebuilt manifest forgot (files pulled as GGUF) while their files exist.

    build_ladder starts a fresh manifest when the old one came from elsewhere (a GGUF repo).
    """
    if before is None:
        return
    kept = [f for f in before.files
            if manifest.entry(f.quant) is None and (directory / f.file).is_file()]
    if kept:
        for item in kept:
            manifest.put(item)
        manifest.save(directory)
