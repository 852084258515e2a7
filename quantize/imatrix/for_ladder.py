"""The importance matrix a ladder run quantizes with: a given file, or `auto`.

`auto` is computed once from the ladder's master on the default calibration text and kept in
the ladder directory as NAME.imatrix.gguf; a later run reuses it (unless --force). The manifest
records, per file, which imatrix made it (file, sha256, dataset, chunks), so a file made with
another imatrix is rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..manifest import sha256_file
from .imatrix_file import Imatrix, read_imatrix
from .quant_params import ImatrixInput

AUTO = "auto"


@dataclass(frozen=True)
class LadderImatrix:
    """The matrix, the label the GGUF records, and the manifest's record of it."""

    input: ImatrixInput
    record: dict[str, Any]


def given_imatrix(spec: str | None) -> LadderImatrix | None:
    """Read an --imatrix FILE at once, so a bad file is refused before any work; None for
    no imatrix or `auto` (made later, from the master).

    Raises:
        ImatrixFileError: the file is missing or not an imatrix.
    """
    if spec is None or spec == AUTO:
        return None
    path = Path(spec).expanduser()
    return _described(read_imatrix(path), path, label=spec)


def auto_imatrix(out: Path, model_name: str, master: Path, *, force: bool,
                 report: Callable[[str], None]) -> LadderImatrix:
    """NAME.imatrix.gguf in the ladder directory: reused when present, made otherwise."""
    from ..display import progress_bar
    from .make import ImatrixRequest, make_imatrix

    path = out / f"{model_name}.imatrix.gguf"
    if path.is_file() and not force:
        report(f"imatrix: reusing {path.name}")
        return _described(read_imatrix(path), path, label=path.name)
    report(f"imatrix: computing {path.name} from {master.name} on the default calibration text")
    imatrix = make_imatrix(ImatrixRequest(master, path), on_chunk=progress_bar("imatrix"))
    return _described(imatrix, path, label=path.name)


def _described(imatrix: Imatrix, path: Path, *, label: str) -> LadderImatrix:
    record = {"file": label, "sha256": sha256_file(path),
              "dataset": imatrix.datasets[0] if imatrix.datasets else "",
              "chunks": imatrix.chunk_count}
    return LadderImatrix(ImatrixInput(imatrix, label), record)
