"""How a `-m` value becomes something the runtime can open: a path, or a catalogue id that the
store holds, that is built (the bundled demo) or that is pulled, with consent.

It sits above the store, the pull and the demo package, and below the public API.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from quantize.quant_names import canonical

from .catalog import CatalogEntry, get_entry, split_ref
from .demo.bundled import build_bundled, is_bundled
from .errors import ModelNotFoundError, OfflineError
from .store import installed, model_dir


@dataclass(frozen=True)
class Resolved:
    """What a `-m` value names: a path the runtime can open, and the quant asked for."""

    path: Path
    quant: str | None  # None/"auto": let the fit choose
    entry: CatalogEntry | None = None  # set for catalogue ids


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
    entry, want, have = _lookup(model, quant)
    if have is not None:
        return Resolved(have, want, entry)
    model_id = entry.id
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


def not_downloaded(model: str | Path, quant: str | None = "auto",
                   ) -> tuple[CatalogEntry, str | None] | None:
    """(entry, quant asked for) when `model` is a catalogue id the store lacks and that is
    not built locally (the bundled demo): what `fit` plans from the catalogue. Else None.

    Raises:
        ModelNotFoundError: neither a path nor a catalogue id.
    """
    if Path(model).expanduser().exists():
        return None
    entry, want, have = _lookup(model, quant)
    return None if have is not None or is_bundled(entry) else (entry, want)


def _lookup(model: str | Path, quant: str | None,
            ) -> tuple[CatalogEntry, str | None, Path | None]:
    """A `-m` value that is not an existing path, as (catalogue entry, quant asked for, store
    directory holding it or None)."""
    path = Path(model).expanduser()
    if isinstance(model, Path) or path.suffix == ".gguf" or len(path.parts) > 1:
        raise ModelNotFoundError(f"no such model file or ladder directory: {model}")
    model_id, asked = split_ref(str(model))
    entry = get_entry(model_id)
    want = asked or (None if quant in (None, "auto") else canonical(quant))
    have = installed(model_id)
    if have and (want is None or any(q.quant == want for q in have.quants)):
        return entry, want, have.path
    return entry, want, None


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
