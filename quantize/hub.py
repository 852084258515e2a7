"""Fetch a source checkpoint from the Hugging Face Hub with huggingface_hub.

Only what conversion needs is downloaded: config, tokenizer, chat template, model card and
safetensors weights (never *.bin, *.pt or other formats a repo may also carry). Files land in
the user's huggingface_hub cache (HF_HOME), so other tools share them.
"""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path

from .errors import SourceDownloadError
from .hub_errors import explain, hub_errors
from .manifest import matches_checksum

CHECKPOINT_PATTERNS = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "README.md",
    "*.safetensors",
    "model.safetensors.index.json",
]

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def looks_like_repo_id(text: str) -> bool:
    """"owner/name" that is not an existing local path."""
    return bool(_REPO_ID.match(text)) and not Path(text).expanduser().exists()


def fetch_checkpoint(repo_id: str, revision: str | None = None) -> tuple[Path, str]:
    """Download (or reuse from cache) the checkpoint files of a Hub repo.

    Returns:
        (snapshot directory, commit sha it was resolved to).

    Raises:
        SourceDownloadError: unknown repo or revision, gated repo, or no network and nothing
            cached; the message says what to do.
    """
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(repo_id, revision=revision,
                                      allow_patterns=CHECKPOINT_PATTERNS))
    except hub_errors() as exc:
        failure = explain(exc, repo_id, revision=revision)
        fix = f"{failure.fix}, or pass a local directory" if failure.offline else failure.fix
        raise SourceDownloadError(f"{failure.cause}; {fix}") from None
    verify_checkpoint(repo_id, path.name, path)
    return path, path.name


def verify_checkpoint(repo_id: str, commit: str, snapshot: Path) -> None:
    """Check every checkpoint file in `snapshot` against a checksum the Hub gave for it.

    huggingface_hub does not check what it downloads, and a silently corrupted weight file
    would give a model that loads but answers wrongly. The checksums come from the Hub in two
    ways: `model_info`'s file list (sha256 for LFS files, git blob sha1 for the others), and the
    one the Hub sent with each file when it was downloaded, which huggingface_hub names the
    cached blob after. The second still works offline, or when the metadata call fails after
    the transfer. A bad file is removed from the cache so the next run downloads it again; a
    file with no checksum at all is refused and left in place, never used unchecked.

    Raises:
        SourceDownloadError: a file does not match its checksum, or has none to check.
    """
    published = _published_checksums(repo_id, commit)
    for local in sorted(snapshot.rglob("*")):
        name = local.relative_to(snapshot).as_posix()
        if not local.is_file() or not any(fnmatch(name, p) for p in CHECKPOINT_PATTERNS):
            continue
        expected = published.get(name) or _checksum_in_cache_name(local)
        if expected is None:
            raise SourceDownloadError(
                f"{name} from {repo_id} cannot be verified: the Hub's file list is unavailable "
                f"and the cached copy ({local}) is not stored under its checksum; it was kept, "
                "run the command again online (HF_HUB_OFFLINE unset) to check it")
        if not matches_checksum(local, expected):
            evict(local)
            raise SourceDownloadError(
                f"{name} from {repo_id} is corrupted (its checksum does not match the Hub's); "
                "it was removed from the cache, run the command again")


def _published_checksums(repo_id: str, commit: str) -> dict[str, str]:
    """File name -> the checksum `model_info` lists; empty offline or when the call fails."""
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        return {}
    try:
        info = HfApi().model_info(repo_id, revision=commit, files_metadata=True)
    except hub_errors():
        return {}  # the cache names below still hold the checksums sent with each file
    return {s.rfilename: s.lfs.sha256 if s.lfs else s.blob_id
            for s in info.siblings or [] if (s.lfs or s.blob_id)}


def cached_copy_matches(snapshot_file: Path) -> bool | None:
    """Whether a file of the huggingface_hub cache still matches the checksum the Hub sent with
    it; None when its copy is not stored under one (nothing to compare with)."""
    expected = _checksum_in_cache_name(snapshot_file)
    return None if expected is None else matches_checksum(snapshot_file, expected)


def _checksum_in_cache_name(snapshot_file: Path) -> str | None:
    """The checksum huggingface_hub named the cached blob after (the file's ETag: sha256 for
    LFS files, git blob sha1 otherwise); None when the copy is not a link to a blob."""
    blob = snapshot_file.resolve()
    if blob == snapshot_file or not _HEX.fullmatch(blob.name):
        return None
    return blob.name


def evict(snapshot_file: Path) -> None:
    """Remove a cached file: the snapshot symlink and the blob it points to."""
    blob = snapshot_file.resolve()
    snapshot_file.unlink(missing_ok=True)
    if blob != snapshot_file:
        blob.unlink(missing_ok=True)
