"""Download one file from the Hugging Face Hub: resumable, verified, atomic.

huggingface_hub (2.4) retries a dropped transfer only within one call, from its last complete
10 MiB chunk, deletes its process-unique partial file on any other failure, and does not hash
what it downloads. For multi-GB GGUF files we want more: the partial file is kept under
`home_dir()/downloads/<sha256>.incomplete`, so the next `pull` continues with a Range request
(through the client's own `http_get`), and the file becomes usable only after it matches the
checksum the Hub lists (sha256 for LFS files, git blob sha1 otherwise) — then it is renamed into
place. A file the Hub lists no checksum for is refused, its bytes kept for a later check.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import CorruptDownloadError, DownloadError, OfflineError, UnverifiedDownloadError
from .paths import home_dir


@dataclass(frozen=True)
class RemoteFile:
    """A file of a Hub repo at a fixed commit, with what the Hub publishes about it."""

    repo: str
    filename: str
    commit: str
    size: int
    sha256: str | None  # LFS files only
    blob_id: str | None = None  # git blob sha1, for files kept in git rather than LFS

    @property
    def checksum(self) -> str | None:
        """What the Hub publishes to check the content by (None: nothing)."""
        return self.sha256 or self.blob_id


def downloads_dir() -> Path:
    """Where partial downloads wait to be resumed (same filesystem as the store)."""
    return home_dir() / "downloads"


def partial_path(remote: RemoteFile) -> Path:
    """The resumable partial file; keyed by content hash so a changed file never mixes in."""
    return downloads_dir() / f"{remote.sha256 or _commit_key(remote)}.incomplete"


def _commit_key(remote: RemoteFile) -> str:
    """The key of a file the Hub gave no sha256 for: the commit pins its content too."""
    return f"{remote.repo.replace('/', '--')}--{remote.commit}--" \
        f"{remote.filename.replace('/', '--')}"


def fetch_file(remote: RemoteFile, target: Path,
               report: Callable[[str], None] = lambda line: None) -> Path:
    """Download `remote` to `target`, continuing a partial download left by an earlier run.

    Raises:
        DownloadError: the transfer failed (the partial file is kept; run again to resume).
        CorruptDownloadError: the complete file does not match its sha256 (it is deleted).
        UnverifiedDownloadError: the Hub lists no checksum for it (the bytes are kept).
    """
    from huggingface_hub import hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    from quantize.display import format_bytes
    from quantize.hub_errors import hub_errors

    partial = partial_path(remote)
    partial.parent.mkdir(parents=True, exist_ok=True)
    _adopt_unverified(remote, partial)
    done = partial.stat().st_size if partial.exists() else 0
    if done > remote.size:  # not ours to continue: start again
        partial.unlink()
        done = 0
    if done:
        report(f"resuming {remote.filename} at {format_bytes(done)}")
    url = hf_hub_url(remote.repo, remote.filename, revision=remote.commit)
    try:
        with open(partial, "ab") as f:
            if not done or done < remote.size:  # complete but unverified last time: just check
                http_get(url, f, resume_size=done, headers=build_hf_headers(),
                         expected_size=remote.size, displayed_filename=remote.filename)
    except hub_errors() as exc:
        have = partial.stat().st_size if partial.exists() else 0
        raise hub_error(exc, remote.repo, revision=remote.commit, filename=remote.filename,
                        fix=f"{format_bytes(have)} of {format_bytes(remote.size)} are kept, "
                        "run the same command again to resume") from None
    verify_download(partial, remote)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)  # same filesystem: the store is under home_dir() too
    return target


def verify_download(path: Path, remote: RemoteFile) -> None:
    """Refuse a file that does not match the Hub's checksum, or that has none to check.

    Raises:
        CorruptDownloadError: mismatch; the file was removed so the next pull starts clean.
        UnverifiedDownloadError: the Hub listed no checksum for it; the bytes are kept and
            checked (not downloaded again) when the command is run again.
    """
    from quantize.manifest import matches_checksum

    if remote.checksum is None:
        raise UnverifiedDownloadError(
            f"{remote.filename} from {remote.repo} was downloaded but the Hub listed no "
            f"checksum for it, so it was not used; the bytes are kept in {path}: run the same "
            "command again to check them once the Hub lists it (is HF_ENDPOINT a mirror that "
            "leaves out file metadata?)")
    if not matches_checksum(path, remote.checksum):
        path.unlink(missing_ok=True)
        raise CorruptDownloadError(
            f"{remote.filename} from {remote.repo} is corrupted (its "
            f"{'sha256' if remote.sha256 else 'git blob sha1'} does not match the Hub's); it was "
            "deleted, run the command again to download it afresh")


def _adopt_unverified(remote: RemoteFile, partial: Path) -> None:
    """Continue from bytes kept under the commit key when the Hub gave no sha256 last time."""
    kept = downloads_dir() / f"{_commit_key(remote)}.incomplete"
    if kept != partial and kept.exists() and not partial.exists():
        os.replace(kept, partial)


def hub_error(exc: BaseException, repo: str, *, revision: str | None = None,
              filename: str | None = None, fix: str | None = None) -> DownloadError:
    """The project error for a failed Hub call (see quantize.hub_errors): OfflineError when
    the network is the cause, DownloadError otherwise; `fix` replaces the advice."""
    from quantize.hub_errors import explain

    failure = explain(exc, repo, revision=revision, filename=filename)
    message = f"{failure.cause}; {fix or failure.fix}"
    return OfflineError(message) if failure.offline else DownloadError(message)
