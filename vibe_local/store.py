"""The local model store: one ladder directory per catalogue id, and how a `-m` value resolves.

Layout: `home_dir()/models/<id>/` holds `manifest.json` and the GGUF files it lists — the same
ladder directory `vibe-quantize ladder` writes, so the runtime needs nothing new to run it.
Raw downloads (checkpoints) stay in the huggingface_hub cache (`HF_HOME`); partial GGUF
downloads wait in `home_dir()/downloads/` to be resumed (see download.py).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .catalog import CatalogEntry, get_entry, split_ref
from .demo.bundled import build_bundled, is_bundled
from .errors import InvalidModelError, ModelNotFoundError, OfflineError
from .paths import home_dir


@dataclass(frozen=True)
class InstalledQuant:
    quant: str
    path: Path
    bytes: int


@dataclass(frozen=True)
class InstalledModel:
    """What the store holds for one id."""

    id: str
    path: Path
    quants: tuple[InstalledQuant, ...]

    @property
    def bytes(self) -> int:
        return sum(q.bytes for q in self.quants)


@dataclass(frozen=True)
class Resolved:
    """What a `-m` value names: a path the runtime can open, and the quant asked for."""

    path: Path
    quant: str | None  # None/"auto": let the fit choose
    entry: CatalogEntry | None = None  # set for catalogue ids


def models_dir() -> Path:
    return home_dir() / "models"


def model_dir(model_id: str) -> Path:
    return models_dir() / model_id


def installed(model_id: str) -> InstalledModel | None:
    """The quants of `model_id` whose files are on disk (per its manifest); None if none."""
    from quantize.errors import CheckpointError
    from quantize.manifest import load_manifest

    path = model_dir(model_id)
    try:
        manifest = load_manifest(path) if path.is_dir() else None
    except CheckpointError as exc:
        raise InvalidModelError(f"{exc} (or `vibe-local rm {model_id}`)") from None
    if manifest is None:
        return None
    quants = tuple(InstalledQuant(f.quant, path / f.file, f.bytes) for f in manifest.files
                   if (path / f.file).is_file())
    return InstalledModel(model_id, path, quants) if quants else None


def list_installed() -> list[InstalledModel]:
    """Every model in the store, by id."""
    root = models_dir()
    found = (installed(p.name) for p in sorted(root.iterdir()) if p.is_dir()) \
        if root.is_dir() else ()
    return [m for m in found if m is not None]


def remove(ref: str) -> list[str]:
    """Delete `ID` (the whole directory) or `ID:QUANT` (its file and manifest entry).

    Returns:
        The quants removed.

    Raises:
        ModelNotFoundError: the store does not hold that model or quant.
    """
    from .manifest_edit import drop_quant

    model_id, quant = split_ref(ref)
    model = installed(model_id)
    if model is None:
        raise ModelNotFoundError(f"{model_id!r} is not in the store ({models_dir()}); "
                                 "`vibe-local list` shows what is")
    if quant is None:
        shutil.rmtree(model.path)
        return [q.quant for q in model.quants]
    if not any(q.quant == quant for q in model.quants):
        raise ModelNotFoundError(f"{model_id} has no {quant} in the store; it has "
                                 f"{', '.join(q.quant for q in model.quants)}")
    drop_quant(model.path, quant)
    return [quant]


def resolve(model: str | Path, *, quant: str | None = "auto", assume_yes: bool = False,
            interactive: bool = False, report: Callable[[str], None] | None = None) -> Resolved:
    """Turn a `-m` value into something the runtime can open, pulling a catalogue id if needed.

    A path that exists is used as it is. `ID` or `ID:QUANT` is looked up in the catalogue: the
    store's directory when it holds the quant (any quant, for auto); otherwise it is pulled —
    with `assume_yes`, or after a y/N question when `interactive`.

    Raises:
        ModelNotFoundError: neither a path nor a catalogue id; or not downloaded and no consent.
        OfflineError: not downloaded, and the Hub is off (HF_HUB_OFFLINE) or unreachable.
        DownloadError, CorruptDownloadError, DiskSpaceError: the pull failed.
    """
    path = Path(model).expanduser()
    if path.exists():
        return Resolved(path, quant)
    if isinstance(model, Path) or path.suffix == ".gguf" or len(path.parts) > 1:
        raise ModelNotFoundError(f"no such model file or ladder directory: {model}")
    model_id, asked = split_ref(str(model))
    entry = get_entry(model_id)
    want = asked or (None if quant in (None, "auto") else quant.upper())
    have = installed(model_id)
    if have and (want is None or any(q.quant == want for q in have.quants)):
        return Resolved(have.path, want, entry)
    if is_bundled(entry):  # local and quick: built without asking, network or not
        return Resolved(build_bundled(entry, model_dir(model_id), report or _to_stderr), want,
                        entry)
    ref = f"{model_id}:{want}" if want else model_id
    if _hub_offline():
        raise OfflineError(f"{ref} is not downloaded and HF_HUB_OFFLINE is set; run "
                           f"`vibe-local pull {ref}` when online")
    if not (assume_yes or (interactive and _confirm(f"{ref} is not downloaded. Pull it now?"))):
        raise ModelNotFoundError(f"{ref} is not downloaded yet; pass --yes to download it, or "
                                 f"run `vibe-local pull {ref}`")
    from .pull import pull

    result = pull(ref, report=report or _to_stderr)
    return Resolved(result.path, want, entry)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)  # stdout may be a --json answer


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _confirm(question: str) -> bool:
    """Ask on the terminal; anything but y/yes is no."""
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")
