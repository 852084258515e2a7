"""The status bar's line: what is loaded, how full the context is, how fast and how big.

A pure function of its inputs, so the app can inject a fixed memory reading in tests and
snapshots stay stable; rates come from the last reply's GenerationStats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .text import short_bytes, short_count

MemoryReader = Callable[[], int]


def process_rss() -> int:
    """Resident memory of this process (the model's weights and KV cache included)."""
    import psutil

    return psutil.Process().memory_info().rss


def offload(n_gpu_layers: int) -> str:
    """`CPU`, or how many layers llama.cpp put on the GPU."""
    return "CPU" if n_gpu_layers <= 0 else f"GPU {n_gpu_layers} layers"


def fit_estimate(info: Any) -> int | None:
    """The fit's total estimate (bytes) for what was loaded, when the loader recorded one."""
    result = getattr(info, "extra", {}).get("fit")
    if result is None or result.choice is None:
        return None
    for row in result.rows:
        if row.get("quant") == result.choice.quant:
            return row.get("total_bytes")
    return None


def status_line(state: str, info: Any | None = None, stats: Any | None = None,
                rss: int | None = None, model_label: str = "") -> str:
    """One line: `● ready · model · Q8_0 · CPU · ctx 310/4,096 · pp 812 t/s · tg 41.2 t/s · …`.

    Args:
        state: "loading …", "ready", "generating …", "error: …".
        info: the loaded ModelInfo (None while loading).
        stats: the last reply's GenerationStats, if any.
        rss: process memory in bytes (None to leave it out).
        model_label: what the user asked for (catalogue id or file name).
    """
    parts = [state]
    if model_label:
        parts.append(model_label)
    if info is not None:
        used = (stats.prompt_tokens + stats.completion_tokens) if stats else 0
        parts += [info.quant, offload(info.n_gpu_layers),
                  f"ctx {short_count(used)}/{short_count(info.ctx)}"]
    if stats is not None and stats.completion_tokens:
        parts.append(f"pp {stats.prompt_tokens_per_s:.0f} t/s · "
                     f"tg {stats.generation_tokens_per_s:.1f} t/s")
    if rss is not None:
        estimate = fit_estimate(info) if info is not None else None
        memory = f"mem {short_bytes(rss)}"
        parts.append(memory + (f" (fit est. {short_bytes(estimate)})" if estimate else ""))
    return " · ".join(parts)
