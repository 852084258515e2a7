"""The public Python API: `fit` (what would run here, and why) and `load` (run it).

    import vibe_local
    with vibe_local.load("vibethinker-1.5b") as model:   # catalogue id, ladder dir or .gguf
        reply = model.chat("What is 17 * 23?", think_budget=2048)
        print(reply.thinking, reply.answer, reply.stats.generation_tokens_per_s)
"""

from __future__ import annotations

from pathlib import Path

from .engine import DEFAULT_SAMPLING, Model, ModelInfo
from .errors import DoesNotFitError
from .fitting import FitResult, format_table, plan
from .generation import Sampling
from .gguf_info import options_from_path
from .hardware import default_threads, probe
from .speed_choice import speed_plan, speed_recorder

GGML_TYPE = {"f16": 1, "q8_0": 8}  # ggml_type numbers for the KV cache (llama_cpp.GGML_TYPE_*)


def fit(model: str | Path, *, quant: str | None = "auto", ctx: int | None = None,
        memory: str | int | None = None, gpu: str | None = None,
        recommended_ctx: int | None = None, assume_yes: bool = False,
        interactive: bool = False, min_speed: float | None = None,
        prefer: str = "speed") -> FitResult:
    """Estimate memory for every quant of `model` on this (or a simulated) machine and choose.

    Args:
        model: a .gguf file, a ladder directory with manifest.json, or a catalogue id
            (`vibethinker-3b`, `vibethinker-3b:Q4_K_M`) resolved through the store.
        quant: a quant name to force, or "auto"/None to let the fit choose.
        recommended_ctx: the context to aim for (default: the catalogue's, for an id).
        assume_yes: pull a catalogue id that is not in the store yet, then fit its files;
            without it such an id is planned from the catalogue (`FitResult.download_plan`),
            offline. interactive: ask y/N before a pull (see `resolve.resolve`).
        ctx: context length to plan for (default: the model's recommended length if it fits).
        memory: simulate this much RAM ("8GiB"); gpu: simulate a GPU ("none", "cuda:12GiB",
            "metal"). Both default to the real machine (or VIBE_LOCAL_MEMORY / VIBE_LOCAL_GPU).
        min_speed: generated tokens/s the chosen quant should reach (default
            speed_choice.DEFAULT_MIN_SPEED); prefer: "speed" (the best quant that fits and is
            that fast, else the fastest) or "quality" (the most bits that fit).

    Raises:
        ModelNotFoundError, InvalidModelError: the model path is wrong or not a GGUF model.
        InvalidRequestError: unknown quant, or ctx above the model's maximum.
        OfflineError, DownloadError, DiskSpaceError: a catalogue id that could not be pulled.
    """
    from .resolve import not_downloaded, resolve

    hardware = probe(memory=memory, gpu=gpu)
    missing = None if assume_yes else not_downloaded(model, quant)
    if missing is not None and missing[0].geometry is not None:  # a user's entry may lack it
        from .remote_fit import plan_download
        from .store import model_dir

        entry, forced = missing
        return plan_download(entry, hardware, model_dir(entry.id), ctx=ctx, quant=forced,
                             speed=speed_plan(hardware, min_speed=min_speed, prefer=prefer))
    target = resolve(model, quant=quant, assume_yes=assume_yes, interactive=interactive)
    options = options_from_path(target.path)
    forced = None if target.quant in (None, "auto") else target.quant
    if recommended_ctx is None and target.entry is not None:
        recommended_ctx = target.entry.context
    speed = speed_plan(hardware, min_speed=min_speed, prefer=prefer)
    return plan(options, hardware, ctx=ctx, quant=forced, recommended_ctx=recommended_ctx,
                speed=speed)


def load(model: str | Path, quant: str | None = "auto", ctx: int | None = None, *,
         memory: str | int | None = None, gpu: str | None = None,
         sampling: Sampling | None = None, threads: int | None = None,
         verbose: bool = False, assume_yes: bool = False, interactive: bool = False,
         min_speed: float | None = None, prefer: str = "speed") -> Model:
    """Choose what fits (see `fit`), refuse what does not, and load it with llama.cpp.

    `model` may be a catalogue id (see `fit`); its recommended sampling and context are then
    the defaults. Without one, VibeThinker's sampling (`engine.DEFAULT_SAMPLING`) is used.

    Raises:
        DoesNotFitError: nothing fits; the error carries the fit (`.fit`) with the table.
        ModelNotFoundError, InvalidModelError, InvalidRequestError: as for `fit`.
    """
    from .resolve import resolve

    target = resolve(model, quant=quant, assume_yes=assume_yes, interactive=interactive)
    if sampling is None:
        sampling = target.entry.sampling if target.entry else DEFAULT_SAMPLING
    result = fit(target.path, quant=target.quant, ctx=ctx, memory=memory, gpu=gpu,
                 recommended_ctx=target.entry.context if target.entry else None,
                 min_speed=min_speed, prefer=prefer)
    choice = result.choice
    if choice is None:
        # the first line is what the CLI prints; the table follows for API callers
        error = DoesNotFitError(f"{result.reason} (`vibe-local fit` with the same options shows "
                                f"every quant's numbers)\n{format_table(result)}")
        error.fit = result
        raise error
    from .backend import open_llama
    from .selftest import repack_allowed

    repack = repack_allowed()
    kv = GGML_TYPE[choice.kv_type]
    n_threads = threads or default_threads(Path(choice.path).stat().st_size,
                                           result.hardware.physical_cores)
    llm = open_llama(choice.path, repack=repack, verbose=verbose, n_ctx=choice.ctx,
                     n_gpu_layers=choice.n_gpu_layers, flash_attn=choice.flash_attn,
                     type_k=kv, type_v=kv, n_batch=512, n_ubatch=512,
                     n_threads=n_threads, n_threads_batch=n_threads)
    info = ModelInfo(Path(choice.path), choice.quant, choice.ctx, choice.n_gpu_layers,
                     choice.kv_type, repack, extra={"reason": choice.reason, "fit": result})
    return Model(llm, info, sampling, on_stats=speed_recorder(result))
