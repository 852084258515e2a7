"""`run_quality`: what each quant of a model loses against its 16-bit reference.

    from vibe_local.bench.quality import run_quality
    from vibe_local.bench.quality_report import format_quality_table
    report = run_quality("~/models/vibethinker-1.5b", quants=["Q4_K_M", "Q8_0"])
    print(format_quality_table(report))

Fidelity (llama-perplexity's KL-divergence statistics, fidelity.py) runs the reference once
and each quant once over the same text; task accuracy, when asked, runs the same prompts and
seeds on every file through the tasks helper (`vibe_local.bench.accuracy.evaluate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError
from .kld_stats import FidelityStats

REFERENCE_TYPES = ("F32", "BF16", "F16")  # what counts as the unquantized reference
DEFAULT_CTX = 512  # llama-perplexity's default, so figures compare with published ones
GENERATED_CHUNKS = 4  # chunks of text the default corpus is written for

Progress = Callable[[str], None]


@dataclass
class QuantRow:
    """One file of the ladder and what the bench measured on it."""

    quant: str
    path: Path
    bytes: int
    bpw: float
    fidelity: FidelityStats | None = None
    task: Any = None  # accuracy.TaskResult, when a task ran
    endpoint: str | None = None  # an OpenAI-compatible server's URL instead of a local file

    def to_dict(self) -> dict:
        return {"quant": self.quant, "file": str(self.path), "bytes": self.bytes, "bpw": self.bpw,
                "fidelity": self.fidelity.to_dict() if self.fidelity else None,
                "task": self.task.to_dict() if self.task is not None else None,
                "endpoint": self.endpoint}


def endpoint_row(endpoint: Any) -> QuantRow:
    """A row for a model served elsewhere (bench/endpoint.py): accuracy only, no file."""
    return QuantRow(f"{endpoint.model} (endpoint)", Path(), 0, 0.0, endpoint=endpoint.url)


@dataclass
class QualityReport:
    """Everything `vibe-local bench quality` measured, for the table, JSON, Markdown and plot."""

    model: str
    reference: QuantRow
    rows: list[QuantRow]
    corpus: dict = field(default_factory=dict)  # source, tokens, ctx, chunks, scored_tokens
    fidelity: dict = field(default_factory=dict)  # top_k (None: all), vocab, exact, ppl, ...
    task: dict | None = None  # name and settings, when a task ran

    def to_dict(self) -> dict:
        return {"model": self.model, "reference": self.reference.to_dict(),
                "quants": [row.to_dict() for row in self.rows], "corpus": self.corpus,
                "fidelity": self.fidelity, "task": self.task}

    def save(self, directory: Path | None = None) -> Path:
        """Write `to_dict()` as JSON, atomically, under home_dir()/bench/reports by default.

        The CLI does this before anything else can fail, so a finished run is never lost.
        """
        import json
        import re
        from datetime import datetime, timezone

        from quantize.atomic import atomic_output

        from ..paths import home_dir

        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        name = re.sub(r"[^\w.-]+", "_", Path(self.model).name) or "model"
        target = (directory or home_dir() / "bench" / "reports") / f"quality-{name}-{stamp}.json"
        with atomic_output(target) as temp:
            temp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return target


def split_ladder(options: list, quants: Sequence[str] | None) -> tuple[Any, list]:
    """The reference option and the quants to compare with it (all the others by default).

    Raises:
        InvalidRequestError: no 16-bit reference in the ladder, or an unknown quant asked for.
    """
    floats = [o for o in options if o.quant.upper() in REFERENCE_TYPES]
    if not floats:
        have = ", ".join(o.quant for o in options)
        raise InvalidRequestError(
            f"the model has no 16-bit reference file (BF16, F16 or F32; it has {have}); the "
            "quality bench compares quants with it: build the ladder with `vibe-quantize "
            "ladder`, which keeps its master, or pull the model's whole ladder")
    reference = max(floats, key=lambda o: o.bpw)
    others = [o for o in options if o is not reference]
    if not quants:
        return reference, others
    by_name = {o.quant.upper(): o for o in options}
    missing = [q for q in quants if q.upper() not in by_name]
    if missing:
        raise InvalidRequestError(f"unknown quant(s) {', '.join(missing)}; this model has "
                                  f"{', '.join(o.quant for o in options)}")
    chosen = [by_name[q.upper()] for q in dict.fromkeys(quants)]
    return reference, [o for o in chosen if o is not reference]


def run_quality(model: str | Path, quants: Sequence[str] | None = None,
                corpus: str | Path | None = None, task: str | None = None, *,
                limit: int | None = None, samples: int = 1, seed: int = 0, greedy: bool = False,
                think_budget: int | None = None, max_tokens: int | None = None,
                ctx: int | None = None, chunks: int | None = None, top_k: int | None = None,
                fidelity: bool = True, threads: int | None = None, gpu_layers: int = 0,
                assume_yes: bool = False, progress: Progress | None = None,
                endpoint: Any = None) -> QualityReport:
    """Measure fidelity (and task accuracy) of each quant of `model` against its 16-bit file.

    Args:
        model: a catalogue id, or a ladder directory with manifest.json.
        quants: which quants to compare (default: every one in the ladder).
        corpus: a text file to score; default: text the reference writes for a fixed set of
            questions (cached), `chunks` (default 4) contexts long.
        task: "arithmetic", "gsm8k" or "humaneval" to measure accuracy too, with `limit`
            items, `samples` per item, `seed`, `greedy`, `think_budget`, `max_tokens`.
        ctx: tokens per chunk (default 512; half of each is scored); chunks: use only the
            first N.
        top_k: keep only the reference's top K log-probs per token (in memory, a lower bound
            on the KLD when the vocabulary is larger); default: the whole vocabulary, streamed
            to a file, exact.
        fidelity: False skips the KLD passes (accuracy only).
        progress: called with one line per step.
        endpoint: a `bench.endpoint.EndpointModel`: its task accuracy becomes one more row,
            asked with the same items and seeds (needs `task`).

    Everything that can be checked is checked before the first pass (quality_checks.py):
    numbers, options the request would ignore, the task's package and data, the corpus file,
    the model, and --ctx against the model's training context.

    Raises:
        ModelNotFoundError, InvalidModelError: the model is missing or unreadable.
        InvalidRequestError: a bad number or combination, no 16-bit reference, unknown quant
            or task, a missing package, corpus too short.
        OfflineError, DownloadError, CorruptDownloadError: the task's data cannot be had.
    """
    from ..gguf_info import options_from_path
    from ..resolve import resolve
    from .corpus import read_corpus
    from .quality_checks import check_context, check_settings, load_task

    check_settings(task=task, fidelity=fidelity, corpus=corpus, ctx=ctx, chunks=chunks,
                   top_k=top_k, limit=limit, samples=samples, greedy=greedy,
                   think_budget=think_budget, max_tokens=max_tokens, seed=seed, threads=threads,
                   gpu_layers=gpu_layers)
    task_obj = load_task(task, limit)[0] if task else None
    text = read_corpus(corpus) if corpus is not None else None
    path = resolve(model, quant=None, assume_yes=assume_yes).path
    reference, others = split_ladder(options_from_path(path), quants)
    if fidelity and not others:
        raise InvalidRequestError(
            f"nothing to compare with the reference {reference.quant}: the model has no other "
            "quant, or --quants named only the reference; name a quant, or use --no-kld "
            "--task NAME for the reference's accuracy alone")
    ctx = DEFAULT_CTX if ctx is None else ctx
    check_context(ctx, reference.path)
    rows = [QuantRow(o.quant, o.path, o.bytes, o.bpw) for o in others]
    ref_row = QuantRow(reference.quant, reference.path, reference.bytes, reference.bpw)
    report = QualityReport(str(model), ref_row, rows)
    if fidelity:
        _measure_fidelity(report, (text, str(corpus)) if text is not None else None, ctx=ctx,
                          chunks=chunks, top_k=top_k,
                          seed=seed, threads=threads, gpu_layers=gpu_layers, progress=progress)
    if task_obj is not None:
        settings = {"limit": limit, "samples": samples, "seed": seed, "greedy": greedy,
                    "think_budget": think_budget, "max_tokens": max_tokens}
        report.task = {"name": task, **settings}
        for row in [ref_row, *rows]:
            row.task = _accuracy(row, task_obj, settings, threads, progress)
        if endpoint is not None:
            report.rows.append(endpoint_row(endpoint))
            report.rows[-1].task = _accuracy(report.rows[-1], task_obj, settings, threads,
                                             progress, model=endpoint)
    return report


def endpoint_accuracy(endpoint: Any, task: str, *, limit: int | None = None, samples: int = 1,
                      seed: int = 0, greedy: bool = False, think_budget: int | None = None,
                      max_tokens: int | None = None, fidelity_options: dict | None = None,
                      progress: Progress | None = None) -> Any:
    """Task accuracy of a served model alone (`bench.endpoint.EndpointModel`), no ladder.

    `fidelity_options` (corpus, ctx, chunks, top_k) are refused when given: nothing here
    would use them. Checked like `run_quality`, before the first question.

    Raises:
        InvalidRequestError: a bad number or combination, unknown task, a missing package.
        OfflineError, DownloadError, CorruptDownloadError: the task's data cannot be had.
    """
    from .accuracy import evaluate
    from .quality_checks import check_settings, load_task

    unused = {key: None for key in ("corpus", "ctx", "chunks", "top_k")}
    check_settings(task=task, fidelity=False, **{**unused, **(fidelity_options or {})},
                   limit=limit, samples=samples, greedy=greedy, think_budget=think_budget,
                   max_tokens=max_tokens, seed=seed, threads=None, gpu_layers=0)
    task_obj = load_task(task, limit)[0]
    say = (lambda done, total: progress(f"{task} {done}/{total}")) if progress else None
    return evaluate(endpoint, task_obj, limit=limit, samples=samples, seed=seed, greedy=greedy,
                    think_budget=think_budget, max_tokens=max_tokens, progress=say)


def _measure_fidelity(report: QualityReport, corpus: tuple[str, str] | None, *, ctx: int,
                      chunks: int | None, top_k: int | None, seed: int, threads: int | None,
                      gpu_layers: int, progress: Progress | None) -> None:
    """The reference pass, then each quant's; `corpus` is (text, source) or None (generate)."""
    from .corpus import generated_corpus
    from .fidelity import quant_pass, reference_pass
    from .logit_pass import make_chunks

    ref = report.reference.path
    if corpus is not None:
        text, source = corpus
    else:
        text = generated_corpus(ref, (chunks or GENERATED_CHUNKS) * ctx, seed=seed,
                                threads=threads, progress=progress)
        source = "generated by the reference model"
    plan = make_chunks(ref, text, ctx, chunks)
    report.corpus = {"source": source, "tokens": int(len(plan.tokens)), "ctx": ctx,
                     "chunks": plan.n_chunks, "scored_tokens": plan.scored_tokens}
    passes = dict(threads=threads, gpu_layers=gpu_layers, progress=progress)
    base = reference_pass(ref, plan, k=top_k, **passes)
    for row in report.rows:
        row.fidelity = quant_pass(row.path, base, plan, label=row.quant, **passes)
    import numpy as np

    ln_ppl = float(-np.mean(base.next_logp))
    report.fidelity = {"top_k": base.k, "vocab": base.vocab, "exact": base.exact,
                       "reference_max_tail_mass": base.max_tail_mass,
                       "reference_ppl": float(np.exp(ln_ppl)),
                       "reference_seconds": base.seconds, "reference_cached": base.seconds == 0,
                       "kv_cache": "f16"}


def _accuracy(row: QuantRow, task: Any, settings: dict, threads: int | None,
              progress: Progress | None, model: Any = None) -> Any:
    """Task accuracy of the row's file, or of `model` (an endpoint) when given."""
    from ..api import load
    from .accuracy import evaluate

    start = time.perf_counter()
    name = task.name
    say = (lambda done, total: progress(f"{row.quant}: {name} {done}/{total}")) \
        if progress else None
    if model is not None:
        result = evaluate(model, task, progress=say, **settings)
    else:
        with load(row.path, threads=threads) as local:
            result = evaluate(local, task, progress=say, **settings)
    if progress is not None:
        progress(f"{row.quant}: {result.summary()} ({time.perf_counter() - start:.0f} s)")
    return result
