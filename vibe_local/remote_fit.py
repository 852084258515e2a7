"""Fit before downloading: which quant `pull MODEL` (auto) should fetch for this machine.

The real fit reads geometry from GGUF headers; before anything is downloaded there is no GGUF,
so the geometry comes from the checkpoint's `config.json` (one small file) and each quant's
weight bytes from the file size the Hub publishes, or, for a quant built locally, from the
parameter count and the quant's bits per weight (gguf's block sizes). `fit` plans a catalogue
model that is not downloaded the same way, with the geometry from the catalogue and no network
at all. After the pull, `run` and `fit` decide again from the real files.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from quantize.quant_names import split_name

from .catalog import CatalogEntry, Geometry
from .fitting import FitResult
from .gguf_info import ModelGeometry, QuantOption
from .hardware import Hardware

PLAN_NOTE = ("plan for a download ({id} is not downloaded yet; sizes estimated from bits per "
             "weight)")


def estimated_bpw(quant: str) -> float:
    """Bits per weight of a quant's main tensor type ("Q4_K_M" -> Q4_K: 4.5), from gguf.

    The K-quant mixes keep a few tensors at a higher type, so real files run ~5-10% larger;
    callers add a margin where an underestimate would hurt (disk space).
    """
    import gguf

    name = split_name(quant)[0].upper()  # an imatrix changes the values, not the sizes
    # a K-quant mix is named after its main type ("Q4_K_M" -> Q4_K); the IQ "_M" mixes are
    # built on the "_S" type ("IQ3_M" -> IQ3_S)
    for candidate in (name, name.rsplit("_", 1)[0], name.removesuffix("_M") + "_S"):
        try:
            block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[candidate]]
            return 8 * size / block
        except KeyError:
            continue
    return 16.0


def estimated_bytes(entry: CatalogEntry, quant: str) -> int:
    """Size of a GGUF file of `entry` at `quant`, from its parameter count."""
    return int(entry.parameters * estimated_bpw(quant) / 8)


def geometry_from_config(config: dict, file_bytes: int, bpw: float) -> ModelGeometry:
    """A Qwen2 geometry from config.json (read as the converter reads it).

    Raises:
        CheckpointError: config.json lacks a value the geometry needs (the message names it).
    """
    from quantize.qwen2 import Qwen2Config

    cfg = Qwen2Config.from_hf(config)
    shape = Geometry(cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.n_head_kv, cfg.head_dim, cfg.n_ff,
                     cfg.n_vocab, cfg.tied_embeddings, cfg.n_ctx_train)
    return geometry_from_shape(shape, file_bytes, bpw)


def geometry_from_shape(shape: Geometry, file_bytes: int, bpw: float) -> ModelGeometry:
    """A Qwen2 geometry for a file of `file_bytes` at `bpw`: the embedding matrix at bpw, the
    rest spread evenly over the layers."""
    from quantize.qwen2 import ARCH_NAME

    embd = int(shape.vocab * shape.hidden * bpw / 8)
    rest = max(0, file_bytes - embd - (0 if shape.tied else embd))
    return ModelGeometry(ARCH_NAME, shape.layers, shape.hidden, shape.ffn, shape.heads,
                         shape.kv_heads, shape.head_dim, shape.head_dim, shape.vocab,
                         shape.trained_context, tuple([rest // shape.layers] * shape.layers),
                         embd, embd, shape.tied, file_bytes, None)


def plan_download(entry: CatalogEntry, hardware: Hardware, store_dir: Path, *,
                  ctx: int | None = None, quant: str | None = None,
                  speed: Any = None) -> FitResult:
    """The fit for a catalogue model that is not downloaded: geometry from the catalogue, each
    quant's size from its bits per weight (K-quant mixes come out 5-15 % larger). The choice's
    path is where the pull would put the file (`store_dir`). No file or network is touched.
    `speed` (a speed_choice.SpeedPlan) adds the speed columns and the speed-aware choice, as for
    a downloaded model.

    Raises:
        InvalidRequestError: the entry has no geometry, an unknown quant, or ctx out of range.
    """
    from .errors import InvalidRequestError
    from .fitting import plan

    if entry.geometry is None:
        raise InvalidRequestError(f"the catalogue entry {entry.id!r} has no geometry to plan "
                                  f"from; pull it first: `vibe-local pull {entry.id}`")
    options, geometries = [], {}
    for name in entry.ladder:
        n_bytes, bpw = estimated_bytes(entry, name), estimated_bpw(name)
        options.append(QuantOption(name, store_dir / f"{entry.name}-{name}.gguf", bpw, n_bytes))
        geometries[name] = geometry_from_shape(entry.geometry, n_bytes, bpw)
    result = plan(options, hardware, ctx=ctx, quant=quant, recommended_ctx=entry.context,
                  geometries=geometries, speed=speed)
    result.download_plan = True
    result.reason = f"{PLAN_NOTE.format(id=entry.id)}: {result.reason}"
    if result.choice:
        result.choice = replace(result.choice, reason=result.reason)
    return result


def choose_quant(entry: CatalogEntry, config_path: Path, sizes: dict[str, int],
                 store_dir: Path) -> str | None:
    """The quant the fit would choose among `sizes` (quant -> file bytes); None if none fits.

    Raises:
        InvalidModelError: config.json is not JSON or lacks what the geometry needs.
    """
    from quantize.errors import CheckpointError

    from .errors import InvalidModelError
    from .fitting import plan
    from .hardware import probe

    options, geometries = [], {}
    try:
        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise TypeError(f"it holds a JSON {type(config).__name__}, not an object")
        for quant, n_bytes in sizes.items():
            bpw = 8 * n_bytes / entry.parameters if entry.parameters else estimated_bpw(quant)
            path = store_dir / f"{entry.name}-{quant}.gguf"
            options.append(QuantOption(quant, path, bpw, n_bytes))
            geometries[quant] = geometry_from_config(config, n_bytes, bpw)
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
        what = str(exc) if isinstance(exc, CheckpointError) else (
            f"no {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}")
        raise InvalidModelError(
            f"the config.json of {entry.source} cannot be used to choose a quant ({what}); "
            f"name one instead, e.g. `vibe-local pull {entry.id}:Q4_K_M`") from None
    result = plan(options, probe(), recommended_ctx=entry.context, geometries=geometries)
    return result.choice.quant if result.choice else None
