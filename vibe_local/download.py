"""Download one file from the Hugging Face Hub: resumable, verified, atomic.

huggingface_hub (2.4) retries a dropped transfer only within one call, from its last complete
10 MiB chunk, deletes its process-unique partial file on any other failure, and does not hash
what it downloads. For multi-GB GGUF files we want more: the partial file is kept under
`home_dir()/downloads/<sha256>.incomplete`, so the next `pull` continues with a Range request
(through the client's own `http_get`), and the file becomes usable only after its sha256 matches
the Hub's LFS metadata — then it is renamed into place.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import CorruptDownloadError, DownloadError, OfflineError
from .paths import home_dir


@dataclass(frozen=True)
class RemoteFile:
    """A file of a Hub repo at a fixed commit, with what the Hub publishes about it."""

    repo: str
    filename: str
    commit: str
    size: int
    sha256: str | None  # LFS files only


def downloads_dir() -> Path:
    """Where partial downloads wait to be resumed (same filesystem as the store)."""
    return home_dir() / "downloads"


def partial_path(remote: RemoteFile) -> Path:
    """The resumable partial file; keyed by content hash so a changed file never mixes in."""
    key = remote.sha256 or f"{remote.repo.replace('/', '--')}--{remote.commit}--" \
        f"{remote.filename.replace('/', '--')}"
    return downloads_dir() / f"{key}.incomplete"


def fetch_file(remote: RemoteFile, target: Path,
               report: Callable[[str], None] = lambda line: None) -> Path:
    """Download `remote` to `target`, continuing a partial download left by an earlier run.

    Raises:
        DownloadError: the transfer failed (the partial file is kept; run again to resume).
        CorruptDownloadError: the complete file does not match its sha256 (it is deleted).
    """
    from huggingface_hub import hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    from quantize.hub_errors import hub_errors

    partial = partial_path(remote)
    partial.parent.mkdir(parents=True, exist_ok=True)
    done = partial.stat().st_size if partial.exists() else 0
    if done > remote.size:  # not ours to continue: start again
        partial.unlink()
        done = 0
    if done:
        report(f"resuming {remote.filename} at {done / 2**20:,.1f} MiB")
    url = hf_hub_url(remote.repo, remote.filename, revision=remote.commit)
    try:
        with open(partial, "ab") as f:
            http_get(url, f, resume_size=done, headers=build_hf_headers(),
                     expected_size=remote.size, displayed_filename=remote.filename)
    except hub_errors() as exc:
        have = partial.stat().st_size if partial.exists() else 0
        raise hub_error(exc, remote.repo, revision=remote.commit, filename=remote.filename,
                        fix=f"{have / 2**20:,.1f} of {remote.size / 2**20:,.1f} MiB are kept, "
                        "run the same command again to resume") from None
    verify_sha256(partial, remote)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)  # same filesystem: the store is under home_dir() too
    return target


def verify_sha256(path: Path, remote: RemoteFile) -> None:
    """Refuse (and delete) a file whose sha256 differs from the Hub's.

    Raises:
        CorruptDownloadError: mismatch; the file was removed so the next pull starts clean.
    """
    from quantize.manifest import sha256_file

    if remote.sha256 is None:
        return  # not an LFS file: the Hub publishes no sha256 (GGUF files always are LFS)
    if sha256_file(path) != remote.sha256:
        path.unlink(missing_ok=True)
        raise CorruptDownloadError(
            f"{remote.filename} from {remote.repo} is corrupted (its sha256 does not match the "
            "Hub's); it was deleted, run the command again to download it afresh")


def hub_error(exc: BaseException, repo: str, *, revision: str | None = None,
              filename: str | None = None, fix: str | None = None) -> DownloadError:
    """The project error for a failed Hub call (see quantize.hub_errors): OfflineError when
    the network is the cause, DownloadError otherwise; `fix` replaces the advice."""
    from quantize.hub_errors import explain

    failure = explain(exc, repo, revision=revision, filename=filename)
    message = f"{failure.cause}; {fix or failure.fix}"
    return OfflineError(message) if failure.offline else DownloadError(message)
