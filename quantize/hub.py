"""Fetch a source checkpoint from the Hugging Face Hub with huggingface_hub.

Only what conversion needs is downloaded: config, tokenizer, chat template, model card and
safetensors weights (never *.bin, *.pt or other formats a repo may also carry). Files land in
the user's huggingface_hub cache (HF_HOME), so other tools share them.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import SourceDownloadError
from .hub_errors import explain, hub_errors
from .manifest import sha256_file

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
    verify_lfs_checksums(repo_id, path.name, path)
    return path, path.name


def verify_lfs_checksums(repo_id: str, commit: str, snapshot: Path) -> None:
    """Compare each downloaded LFS file (the weights) with the sha256 the Hub publishes.

    huggingface_hub does not check what it downloads, and a silently corrupted weight file
    would give a model that loads but answers wrongly. A bad file is removed from the cache so
    the next run downloads it again. Offline, there is nothing to compare with: skipped.

    Raises:
        SourceDownloadError: a file does not match its published checksum.
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub import errors as hf_errors

    if constants.HF_HUB_OFFLINE:
        return
    try:
        info = HfApi().model_info(repo_id, revision=commit, files_metadata=True)
    except (hf_errors.HfHubHTTPError, OSError):
        return  # metadata unreachable right after a successful download: nothing to compare
    for sibling in info.siblings or []:
        local = snapshot / sibling.rfilename
        if sibling.lfs is None or not local.is_file():
            continue
        if sha256_file(local) != sibling.lfs.sha256:
            _evict(local)
            raise SourceDownloadError(
                f"{sibling.rfilename} from {repo_id} is corrupted (sha256 does not match the "
                "Hub's); it was removed from the cache, run the command again"
            )


def _evict(snapshot_file: Path) -> None:
    """Remove a cached file: the snapshot symlink and the blob it points to."""
    blob = snapshot_file.resolve()
    snapshot_file.unlink(missing_ok=True)
    if blob != snapshot_file:
        blob.unlink(missing_ok=True)
