"""`pull ID[:QUANT]`: bring a catalogue model into the store, verified, for this machine.

Each wanted quant comes either ready-made from a GGUF repo the catalogue lists (one file,
resumable, sha256-checked; see download.py) or is built locally: the source checkpoint is
fetched through huggingface_hub into its cache (config, tokenizer, template, safetensors only)
and quantized with `quantize.build_ladder`. Before anything moves, the plan says which route,
how much will be downloaded and how much disk it needs, and is refused when the disk is short.

The Hub is asked first with one metadata call (short timeout, no retries), so a machine without
network fails in well under a second instead of sitting in the client's retry loop.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from quantize.quant_names import canonical

from .catalog import CatalogEntry, get_entry, split_ref
from .demo.bundled import build_bundled, is_bundled
from .download import RemoteFile, fetch_file, hub_error
from .errors import (
    DiskSpaceError,
    DoesNotFitError,
    DownloadError,
    InvalidRequestError,
    OfflineError,
)
from .remote_fit import choose_quant, estimated_bytes
from .store import installed, model_dir

Report = Callable[[str], None]
DISK_MARGIN = 1.1  # built quants are estimated from bits per weight; leave room


@dataclass
class PullPlan:
    """What a pull will do: quants fetched as GGUF files, quants built from the checkpoint."""

    entry: CatalogEntry
    gguf: dict[str, RemoteFile] = field(default_factory=dict)
    build: list[str] = field(default_factory=list)
    checkpoint: list[RemoteFile] = field(default_factory=list)  # files not yet in the HF cache
    commit: str | None = None  # of the source repo, when building
    store_bytes: int = 0  # disk the store needs
    cache_bytes: int = 0  # disk the huggingface_hub cache needs

    @property
    def route(self) -> str:
        parts = (["gguf"] if self.gguf else []) + (["checkpoint+quantize"] if self.build else [])
        return " + ".join(parts)

    @property
    def download_bytes(self) -> int:
        return sum(f.size for f in self.gguf.values()) + sum(f.size for f in self.checkpoint)


@dataclass(frozen=True)
class PullResult:
    path: Path
    pulled: list[str]  # quants added by this pull
    present: list[str]  # quants that were already in the store


def pull(ref: str, *, report: Report = print) -> PullResult:
    """Fetch or build `ID[:QUANT]` into the store (QUANT: a ladder name, auto or all).

    Raises:
        ModelNotFoundError: unknown id. InvalidRequestError: a quant not in the ladder.
        OfflineError: HF_HUB_OFFLINE or no network, and the files are not cached.
        DownloadError: unknown repo, failed transfer (resumable). CorruptDownloadError.
        UnverifiedDownloadError: the Hub lists no checksum for a file (its bytes are kept).
        DiskSpaceError: not enough free space; refused before downloading.
        DoesNotFitError: auto, and no quant fits this machine.
    """
    model_id, spec = split_ref(ref)
    entry = get_entry(model_id)
    if is_bundled(entry):
        return _pull_bundled(entry, report)
    wanted = _wanted(entry, spec or "AUTO")
    have = installed(model_id)
    present = [q.quant for q in have.quants] if have else []
    missing = [q for q in wanted if q not in present]
    target = model_dir(model_id)
    if not missing:
        report(f"{model_id}: {', '.join(wanted)} already in the store ({target})")
        return PullResult(target, [], present)
    plan = plan_pull(entry, missing)
    report(describe(plan, target))
    check_disk({target: plan.store_bytes, _hf_cache(): plan.cache_bytes})
    if plan.gguf:
        _fetch_ggufs(plan, target, report)
    if plan.build:
        _build(entry, plan, target, present + list(plan.gguf), report)
    report(f"{model_id}: {', '.join(missing)} ready in {target}")
    return PullResult(target, missing, present)


def _pull_bundled(entry: CatalogEntry, report: Report) -> PullResult:
    """A bundled checkpoint: build its whole ladder (seconds; files already built are kept)."""
    have = installed(entry.id)
    present = [q.quant for q in have.quants] if have else []
    target = build_bundled(entry, model_dir(entry.id), report)
    report(f"{entry.id}: {', '.join(entry.ladder)} ready in {target}")
    return PullResult(target, [q for q in entry.ladder if q not in present], present)


def _wanted(entry: CatalogEntry, spec: str) -> list[str]:
    spec = canonical(spec)
    if spec == "ALL":
        return list(entry.ladder)
    if spec == "AUTO":
        return [_auto_quant(entry)]
    if spec not in entry.ladder:
        raise InvalidRequestError(f"{entry.id} has no quant {spec!r}; choose one of "
                                  f"{', '.join(entry.ladder)}, auto or all")
    return [spec]


def _auto_quant(entry: CatalogEntry) -> str:
    """What the fit picks: among the store's files if it has any that fit, else from the Hub."""
    from .fitting import plan
    from .gguf_info import options_from_path
    from .hardware import probe

    have = installed(entry.id)
    if have:
        result = plan(options_from_path(have.path), probe(), recommended_ctx=entry.context)
        if result.choice:
            return result.choice.quant
    ggufs = _gguf_files(entry, list(entry.ladder))
    sizes = {q: ggufs[q].size if q in ggufs else estimated_bytes(entry, q) for q in entry.ladder}
    quant = choose_quant(entry, _config_json(entry), sizes, model_dir(entry.id))
    if quant is None:
        raise DoesNotFitError(f"no quant of {entry.id} fits this machine's memory; "
                              f"`vibe-local fit -m {entry.id}:Q2_K` shows the numbers")
    return quant


def plan_pull(entry: CatalogEntry, quants: list[str]) -> PullPlan:
    """Which quants come as GGUF files and which are built, with sizes (asks the Hub)."""
    plan = PullPlan(entry, gguf=_gguf_files(entry, quants))
    plan.build = [q for q in quants if q not in plan.gguf]
    plan.store_bytes = sum(f.size for f in plan.gguf.values())
    if plan.build:
        info = _model_info(entry.source, None)
        plan.commit = info.sha
        files = [_remote(entry.source, info.sha, s) for s in info.siblings or []
                 if _is_checkpoint_file(s.rfilename)]
        plan.checkpoint = [f for f in files if not _in_hf_cache(f)]
        plan.cache_bytes = sum(f.size for f in plan.checkpoint)
        weights = sum(f.size for f in files if f.filename.endswith(".safetensors"))
        built = sum(estimated_bytes(entry, q) for q in plan.build)
        plan.store_bytes += int((weights + built) * DISK_MARGIN)  # 16-bit master + quants
    return plan


def describe(plan: PullPlan, target: Path) -> str:
    """One line: route, what is downloaded from where, disk needed and free."""
    entry, gib = plan.entry, 2**30
    sources = [f"{f.repo}" for f in plan.gguf.values()][:1] + ([entry.source] if plan.build else [])
    need = plan.store_bytes + plan.cache_bytes
    return (f"{entry.id}: {', '.join([*plan.gguf, *plan.build])} via {plan.route}; "
            f"will download {plan.download_bytes / gib:,.2f} GiB from {', '.join(sources)}, "
            f"needs {need / gib:,.2f} GiB on disk ({_free(target) / gib:,.1f} GiB free at "
            f"{target.parent})")


def check_disk(needs: dict[Path, int]) -> None:
    """Refuse when a filesystem cannot hold what is to be written there (summed per device).

    Raises:
        DiskSpaceError: the message says how much is needed and free, and where.
    """
    per_device: dict[int, list] = {}
    for path, n_bytes in needs.items():
        anchor = _existing(path)
        per_device.setdefault(anchor.stat().st_dev, [anchor, 0])[1] += n_bytes
    for anchor, n_bytes in per_device.values():
        free = _free(anchor)
        if n_bytes > free:
            raise DiskSpaceError(
                f"not enough disk space: the pull needs {n_bytes / 2**30:,.2f} GiB at {anchor} "
                f"but only {free / 2**30:,.2f} GiB is free; free some space, pull a smaller "
                "quant, or set VIBE_LOCAL_HOME / HF_HOME to a bigger disk")


def _free(path: Path) -> int:
    return shutil.disk_usage(_existing(path)).free


def _existing(path: Path) -> Path:
    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    return path


def _hf_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _is_checkpoint_file(name: str) -> bool:
    from quantize.hub import CHECKPOINT_PATTERNS

    return any(fnmatch(name, pattern) for pattern in CHECKPOINT_PATTERNS)


def _remote(repo: str, commit: str, sibling) -> RemoteFile:
    lfs = sibling.lfs  # for an LFS file blob_id is the pointer's hash, not the content's
    return RemoteFile(repo, sibling.rfilename, commit, int(sibling.size or 0),
                      lfs.sha256 if lfs else None, None if lfs else sibling.blob_id)


def _in_hf_cache(remote: RemoteFile) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(remote.repo, remote.filename, revision=remote.commit)
    return isinstance(found, str)


def _model_info(repo: str, revision: str | None):
    """`model_info` with file sizes and sha256; one fast attempt, errors for people.

    Raises:
        OfflineError: HF_HUB_OFFLINE, or the Hub cannot be reached.
        DownloadError: unknown or gated repo or revision.
    """
    from huggingface_hub import HfApi, constants

    from quantize.hub_errors import hub_errors

    if constants.HF_HUB_OFFLINE:
        raise OfflineError(f"HF_HUB_OFFLINE is set, so {repo} cannot be downloaded; unset it "
                           "and run the command again when online")
    try:
        return HfApi().model_info(repo, revision=revision, files_metadata=True,
                                  timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except hub_errors() as exc:
        raise hub_error(exc, repo, revision=revision) from None


def _gguf_files(entry: CatalogEntry, quants: list[str]) -> dict[str, RemoteFile]:
    """The wanted quants that a catalogue GGUF repo offers, first repo first."""
    found: dict[str, RemoteFile] = {}
    for source in entry.gguf:
        info = _model_info(source.repo, source.revision)
        siblings = {s.rfilename: s for s in info.siblings or []}
        for quant in quants:
            name = source.filename(quant)
            if quant not in found and name in siblings:
                found[quant] = _remote(source.repo, info.sha, siblings[name])
    return found


def _config_json(entry: CatalogEntry) -> Path:
    """The source checkpoint's config.json (cached by huggingface_hub)."""
    from huggingface_hub import constants, hf_hub_download

    info = None if constants.HF_HUB_OFFLINE else _model_info(entry.source, None)
    try:  # offline: from the cache only, and without the client's retry loop
        return Path(hf_hub_download(entry.source, "config.json",
                                    revision=info.sha if info else None,
                                    local_files_only=info is None))
    except Exception as exc:  # noqa: BLE001 - the client raises many kinds; all mean "not here"
        raise OfflineError(f"cannot get config.json of {entry.source} to choose a quant "
                           f"({type(exc).__name__}); run `vibe-local pull {entry.id}:QUANT` "
                           "with a quant, or connect to the network") from None


def _fetch_ggufs(plan: PullPlan, target: Path, report: Report) -> None:
    from quantize.display import format_bytes

    from .manifest_edit import add_gguf

    for quant, remote in plan.gguf.items():
        path = target / f"{plan.entry.name}-{quant}.gguf"
        if not _copy_from_hf_cache(remote, path):
            fetch_file(remote, path, report)
        add_gguf(plan.entry, target, quant, path, remote)
        kind = "sha256" if remote.sha256 else "git blob sha1"
        report(f"{plan.entry.id}: {quant} verified ({format_bytes(remote.size)}, {kind} ok)")


def _copy_from_hf_cache(remote: RemoteFile, path: Path) -> bool:
    """Reuse a verified copy already in the huggingface_hub cache (hardlink, else copy)."""
    from huggingface_hub import try_to_load_from_cache

    from quantize.atomic import atomic_output
    from quantize.manifest import matches_checksum

    cached = try_to_load_from_cache(remote.repo, remote.filename, revision=remote.commit)
    if not isinstance(cached, str) or remote.checksum is None \
            or not matches_checksum(Path(cached), remote.checksum):
        return False
    with atomic_output(path) as temp:
        try:
            os.link(cached, temp)
        except OSError:
            shutil.copyfile(cached, temp)
    return True


def _build(entry: CatalogEntry, plan: PullPlan, target: Path, keep: list[str],
           report: Report) -> None:
    """Quantize the wanted quants from the checkpoint; drop a 16-bit master nobody asked for."""
    from quantize.errors import SourceDownloadError
    from quantize.ladder import build_ladder

    from .manifest_edit import drop_quant, merge_entries

    before = _load(target)
    try:
        manifest = build_ladder(entry.source, target, list(plan.build), name=entry.name,
                                revision=plan.commit, report=report)
    except SourceDownloadError as exc:
        raise DownloadError(str(exc)) from None
    merge_entries(target, manifest, before)
    if manifest.master not in plan.build and manifest.master not in keep:
        drop_quant(target, manifest.master)


def _load(target: Path):
    from quantize.manifest import load_manifest

    return load_manifest(target) if target.is_dir() else None
