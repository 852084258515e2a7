"""`vibe-quantize imatrix`: a model and a calibration choice in, an imatrix file out.

MODEL is a GGUF file or a ladder directory (its 16-bit master is used: an importance matrix
describes the unquantized model's activations). The file is written only when the whole run
has finished, atomically, so Ctrl+C leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..atomic import check_output_file
from ..errors import CheckpointNotFoundError, QuantizeError
from ..manifest import load_manifest
from .calibration import DEFAULT_NAME, default_text
from .collector import MIN_ROWS
from .imatrix_file import Imatrix, write_imatrix
from .run import RunOptions, collect_imatrix

SELF_DEFAULT_CHUNKS = 16  # the model writes ~8k tokens at 512 a chunk
ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ImatrixRequest:
    """What `vibe-quantize imatrix` was asked for."""

    model: str | Path
    out: str | Path
    calibration: str = "default"  # "default", "self" or a text file
    chunks: int | None = None
    n_ctx: int = 512
    threads: int | None = None
    verbose: bool = False


def resolve_model(model: str | Path) -> Path:
    """A GGUF file, or the master GGUF of a ladder directory.

    Raises:
        CheckpointNotFoundError: neither exists.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        manifest = load_manifest(path)
        entry = manifest.entry(manifest.master) if manifest else None
        if entry is None or not (path / entry.file).is_file():
            raise CheckpointNotFoundError(f"{path} has no ladder master (manifest.json and its "
                                          "16-bit file); give a GGUF file instead")
        return path / entry.file
    if not path.is_file():
        raise CheckpointNotFoundError(f"model {path} does not exist; give a GGUF file or a "
                                      "ladder directory")
    return path


def make_imatrix(request: ImatrixRequest, *, on_chunk: ProgressFn = lambda *_: None,
                 on_writing: ProgressFn = lambda *_: None) -> Imatrix:
    """Collect the importance matrix of `request.model` and write it to `request.out`.

    Args:
        on_chunk: progress of the statistics pass, per chunk.
        on_writing: progress of `self`'s generation, per token.

    Raises:
        QuantizeError: bad numbers, a missing model or text, an unusable output path.
    """
    if request.n_ctx < MIN_ROWS:
        raise QuantizeError(f"--ctx {request.n_ctx} is too small: llama.cpp's statistics skip "
                            f"products of fewer than {MIN_ROWS} tokens")
    if request.chunks is not None and request.chunks < 1:
        raise QuantizeError(f"--chunks {request.chunks} must be at least 1")
    out = check_output_file(request.out, example="model.imatrix.gguf")
    model = resolve_model(request.model)
    options = RunOptions(n_ctx=request.n_ctx, chunks=request.chunks, threads=request.threads,
                         verbose=request.verbose)
    text, dataset = _calibration(request, model, options, on_writing)
    imatrix = collect_imatrix(model, text, dataset=dataset, options=options, on_chunk=on_chunk)
    write_imatrix(imatrix, out)
    return imatrix


def _calibration(request: ImatrixRequest, model: Path, options: RunOptions,
                 on_writing: ProgressFn) -> tuple[str | list[int], str]:
    """The calibration text (or tokens, for `self`) and the name recorded for it."""
    if request.calibration == "default":
        return default_text(), DEFAULT_NAME
    if request.calibration == "self":
        from .self_text import self_tokens

        chunks = request.chunks or SELF_DEFAULT_CHUNKS
        tokens = self_tokens(model, chunks * request.n_ctx, options=options,
                             on_progress=on_writing)
        return tokens, f"self: {model.name} on vibe-quantize's problems"
    path = Path(request.calibration).expanduser()
    if not path.is_file():
        raise QuantizeError(f"calibration {request.calibration!r} is neither `default`, `self` "
                            "nor a text file")
    try:
        return path.read_text(encoding="utf-8"), path.name
    except (OSError, UnicodeDecodeError) as exc:
        raise QuantizeError(f"cannot read calibration text {path} ({exc})") from None
