"""The local model store: one ladder directory per catalogue id: what it holds, and removing it.

Layout: `home_dir()/models/<id>/` holds `manifest.json` and the GGUF files it lists — the same
ladder directory `vibe-quantize ladder` writes, so the runtime needs nothing new to run it.
Raw downloads (checkpoints) stay in the huggingface_hub cache (`HF_HOME`); partial GGUF
downloads wait in `home_dir()/downloads/` to be resumed (see download.py). The store only
reads and removes what is on disk; bringing a model in is pull.py's job, and turning a `-m`
value into a path (pulling or building when needed) is resolve.py's.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .catalog import split_ref
from .errors import InvalidModelError, ModelNotFoundError
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
    damaged: str | None = None  # why its manifest.json cannot be read; then quants is empty

    @property
    def bytes(self) -> int:
        return sum(q.bytes for q in self.quants)


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
    """Every model in the store, by id; one whose manifest is damaged comes with `damaged` set,
    so the rest are still listed and the damaged one can be named to `remove`."""
    root = models_dir()
    found = (_installed_or_damaged(p.name) for p in sorted(root.iterdir()) if p.is_dir()) \
        if root.is_dir() else ()
    return [m for m in found if m is not None]


def _installed_or_damaged(model_id: str) -> InstalledModel | None:
    try:
        return installed(model_id)
    except InvalidModelError as exc:
        return InstalledModel(model_id, model_dir(model_id), (), damaged=str(exc))


def remove(ref: str) -> list[str]:
    """Delete `ID` (the whole directory) or `ID:QUANT` (its file and manifest entry).

    Returns:
        The quants removed.

    Raises:
        ModelNotFoundError: the store does not hold that model or quant.
    """
    from .manifest_edit import drop_quant

    model_id, quant = split_ref(ref)
    if model_id in ("", ".", "..") or Path(model_id).name != model_id:  # never outside the store
        raise ModelNotFoundError(f"{model_id!r} is not a model id; `vibe-local list` shows them")
    model = _installed_or_damaged(model_id)
    if model is not None and model.damaged:
        if quant is not None:
            raise InvalidModelError(f"the manifest.json of {model_id} is damaged, so its quants "
                                    f"are unknown; `vibe-local rm {model_id}` removes it all")
        shutil.rmtree(model.path)
        return ["(damaged)"]
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
