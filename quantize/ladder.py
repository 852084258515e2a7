"""The quantization ladder: one 16-bit master, then each requested type, plus manifest.json.

The master is converted once; every quantized file is made from it by llama.cpp's quantizer.
The manifest is rewritten after each step, so an interrupted run keeps what it finished, and a
re-run skips any file whose sha256 still matches (unless `force`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .atomic import check_output_dir
from .checkpoint import Checkpoint, open_checkpoint
from .convert import convert
from .display import format_bytes
from .errors import CheckpointNotFoundError
from .hub import fetch_checkpoint, looks_like_repo_id
from .imatrix.for_ladder import LadderImatrix, auto_imatrix, given_imatrix
from .llama_quantize import quantize_gguf
from .manifest import Manifest, describe_gguf, load_manifest, matches_checksum
from .quant_names import canonical, imatrix_name, split_name
from .quant_types import MASTER_TYPES, check_imatrix_given, ftype_of, parse_types
from .qwen2 import ARCH_NAME, check_supported
from .version import __version__

ReportFn = Callable[[str], None]
_FINGERPRINT_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json",
                      "generation_config.json", "chat_template.jinja")


@dataclass(frozen=True)
class Source:
    """Where the checkpoint came from: a local path, or a Hub repo at a commit."""

    path: Path
    label: str  # what the manifest records: the path, or "repo@revision"
    default_name: str


def resolve_source(src: str | Path, revision: str | None = None) -> Source:
    """A local checkpoint directory, or a Hub repo id fetched through huggingface_hub."""
    text = str(src)
    if looks_like_repo_id(text):
        path, commit = fetch_checkpoint(text, revision)
        return Source(path, f"{text}@{commit}", text.split("/")[-1])
    path = Path(text).expanduser()
    if not path.exists():
        raise CheckpointNotFoundError(
            f"{text} is neither a local directory nor a Hugging Face repo id (owner/name)"
        )
    return Source(path, str(path.resolve()), path.resolve().name)


def master_type(checkpoint: Checkpoint) -> str:
    """BF16 for bf16 checkpoints, F16 otherwise.

    A bf16 checkpoint copied to BF16 is bit-exact, while F16 would clip its wider exponent
    range; an f16 checkpoint is exact in F16; for f32 weights F16 keeps 3 more mantissa bits
    than BF16, and ordinary weights sit well inside F16's range.
    """
    return "BF16" if checkpoint.weights_dtype == "BF16" else "F16"


def source_fingerprint(checkpoint: Checkpoint) -> str:
    """Cheap identity of the checkpoint: its small files plus each tensor's place and size."""
    digest = hashlib.sha256()
    for name in _FINGERPRINT_FILES:
        file = checkpoint.path / name
        if file.is_file():
            digest.update(name.encode() + b"\0" + file.read_bytes())
    for record in sorted(checkpoint.tensors.values(), key=lambda r: r.name):
        digest.update(f"{record.name}:{record.dtype}:{record.shape}:{record.path.name}:"
                      f"{record.offset}:{record.path.stat().st_size}".encode())
    return digest.hexdigest()


def build_ladder(
    src: str | Path,
    out_dir: str | Path,
    types: str | list[str] | None = None,
    *,
    name: str | None = None,
    force: bool = False,
    revision: str | None = None,
    verbose: bool = False,
    imatrix: str | None = None,
    report: ReportFn = lambda message: None,
) -> Manifest:
    """Convert `src` to a 16-bit master and quantize it to each type; write manifest.json.

    Args:
        src: local checkpoint directory or Hugging Face repo id.
        out_dir: output directory (created when the first file is written).
        types: type names (list or comma-separated); None means the default ladder.
        name: model name used for file names and the manifest (default: source directory/repo).
        force: rebuild files even when their checksums match the manifest.
        revision: Hub revision (branch, tag or commit) when src is a repo id.
        verbose: let llama.cpp's own log lines through to stderr.
        imatrix: None, "auto" (computed from the master with the default calibration and kept
            in out_dir) or an imatrix file; every quantized file is then made with it and
            named "<TYPE>-imat". Without it, "<TYPE>-imat" names in `types` use "auto".
        report: called with one human-readable line per step.

    Raises:
        OutputPathError: out_dir is a file or cannot be written (checked before any work).
        ImatrixRequiredError: a type needs an importance matrix and `imatrix` is None.
        QuantizeError subclasses for every other bad input; see the CLI for the messages.
    """
    wanted = _plan(types if isinstance(types, list) else parse_types(types), imatrix is not None)
    given = given_imatrix(imatrix)  # a bad file is refused before any work
    out = check_output_dir(out_dir)  # before a download or conversion, not after
    source = resolve_source(src, revision)
    checkpoint = open_checkpoint(source.path)
    check_supported(checkpoint)
    master = master_type(checkpoint)
    manifest = _start_manifest(out, source, checkpoint, name, master, force)
    quants = [(base, imat) for base, imat in wanted if base != master]
    run = _Run(out, manifest, source, master, force, verbose, report, len(quants) + 1)
    run.step(1, master, None)
    matrix = given
    if matrix is None and any(imat for _, imat in quants):
        matrix = auto_imatrix(out, manifest.name, run.master_path, force=force, report=report)
    for index, (base, imat) in enumerate(quants, start=2):
        run.step(index, base, matrix if imat else None)
    return manifest


def _plan(names: list[str], imatrix_given: bool) -> list[tuple[str, bool]]:
    """(type, made with an imatrix) per requested name, validated and without repeats: a
    "-imat" name wants an imatrix, and with --imatrix every quantized type uses it.

    Raises:
        UnknownQuantTypeError, ImatrixRequiredError: before any work starts.
    """
    plan = []
    for name in names:
        ftype_of(name)
        base, imat = split_name(canonical(name))
        imat = (imat or imatrix_given) and base not in MASTER_TYPES
        check_imatrix_given(base, imat)
        plan.append((base, imat))
    return list(dict.fromkeys(plan))


@dataclass
class _Run:
    """One ladder run: builds a step's file unless the manifest says it is up to date."""

    out: Path
    manifest: Manifest
    source: Source
    master: str
    force: bool
    verbose: bool
    report: ReportFn
    total: int

    @property
    def master_path(self) -> Path:
        return self.out / f"{self.manifest.name}-{self.master}.gguf"

    def step(self, index: int, quant: str, matrix: LadderImatrix | None) -> None:
        label = imatrix_name(quant) if matrix else quant
        prefix = f"[{index}/{self.total}] {label}"
        target = self.out / f"{self.manifest.name}-{label}.gguf"
        record = matrix.record if matrix else None
        if not self.force and _still_valid(self.manifest, label, target, record):
            self.report(f"{prefix}: {target.name} is up to date (sha256 matches), skipped")
            return
        started = time.perf_counter()
        if quant == self.master:
            result = convert(self.source.path, target, quant.lower(), name=self.manifest.name)
            self.manifest.parameters = result.n_parameters
        else:
            quantize_gguf(self.master_path, target, quant, verbose=self.verbose,
                          imatrix=matrix.input if matrix else None)
        entry = describe_gguf(target, label, ftype_of(quant))
        entry.imatrix = record
        self.manifest.put(entry)
        self.manifest.save(self.out)
        self.report(f"{prefix}: wrote {target.name} ({format_bytes(entry.bytes)}, "
                    f"{entry.bpw:.2f} bpw) in {time.perf_counter() - started:.1f} s")


def _start_manifest(out: Path, source: Source, checkpoint: Checkpoint, name: str | None,
                    master: str, force: bool) -> Manifest:
    """Reuse the existing manifest when it describes the same source; start afresh otherwise."""
    fingerprint = source_fingerprint(checkpoint)
    existing = load_manifest(out)
    model_name = name or (existing.name if existing else None) or source.default_name
    if existing and not force and existing.source_fingerprint == fingerprint \
            and existing.name == model_name:
        return existing
    return Manifest(
        name=model_name,
        source=source.label,
        source_fingerprint=fingerprint,
        architecture=checkpoint.architecture,
        gguf_architecture=ARCH_NAME,
        parameters=checkpoint.n_parameters,
        master=master,
        created_by=f"vibe-quantize {__version__} (llama-cpp-python {_llama_cpp_version()})",
    )


def _still_valid(manifest: Manifest, quant: str, target: Path,
                 imatrix: dict | None = None) -> bool:
    """The manifest lists this file, made with the same imatrix (or none), and the file on
    disk still has that checksum."""
    entry = manifest.entry(quant)
    if entry is None or entry.file != target.name or not target.is_file():
        return False
    if (entry.imatrix or {}).get("sha256") != (imatrix or {}).get("sha256"):
        return False
    return target.stat().st_size == entry.bytes and matches_checksum(target, entry.sha256)


def _llama_cpp_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama-cpp-python")
    except PackageNotFoundError:
        return "unknown"
