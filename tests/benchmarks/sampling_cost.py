"""Benchmark: what sampling one token costs, vibe-local's nucleus against llama.cpp's chain.

    uv run python tests/benchmarks/sampling_cost.py MODEL.gguf [--tokens 48] [--rounds 30]

Both samplers read the same logits from the same llama.cpp context, as the runtime does:
- llama.cpp: the chain vibe-local used before (LlamaSampler temp 0.6 -> top-p 0.95 -> dist),
  whose top-p sorts the whole vocabulary when the 256 likeliest tokens hold under 95 %;
- vibe-local: `sampler.build_sampler(0.6, 0.95, 0, 0, seed)` (nucleus.py), VibeThinker's default.
Logits: "real" ones, taken from the model while it generates `--tokens` tokens after a short
prompt (a random-weight checkpoint gives flat ones, a trained model peaked ones), and synthetic
ones: flat (Gaussian, sd 1 and 2) and peaked (Zipf-like ranks, and one token far ahead). Each
timed sample follows a real decode step, so the caches are as cold as in generation, with the
logits written into llama.cpp's buffer as the step would leave them. For each kind the two
samplers alternate (A B A B ...) over `--rounds` rounds; medians per token are printed with the
nucleus size (tokens kept).

Not a test: the machine may be shared, so figures hold for one run; load averages are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from vibe_local.nucleus import Nucleus  # noqa: E402
from vibe_local.sampler import build_sampler, logits_view  # noqa: E402

PROMPT = "Let's think step by step: what is the sum of the first 100 odd numbers?"


def llama_chain(seed: int):
    from llama_cpp._internals import LlamaSampler

    chain = LlamaSampler()
    chain.add_temp(0.6)
    chain.add_top_p(0.95, 1)
    chain.add_dist(seed)
    return chain


def real_logits(llm, tokens: int) -> list[np.ndarray]:
    """Logits at each of `tokens` generated positions (sampled with our default sampler)."""
    sampler = build_sampler(0.6, 0.95, 0, 0.0, seed=1)
    llm.reset()
    llm.eval(llm.tokenize(PROMPT.encode(), add_bos=False, special=True))
    found = []
    for _ in range(tokens):
        found.append(logits_view(llm._ctx, -1).copy())
        llm.eval([sampler.sample(llm._ctx, -1)])
    return found


def synthetic_logits(n: int) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    zipf = [(-np.log(rng.permutation(n) + 1.0) * 2.5).astype(np.float32) for _ in range(4)]
    ahead = []
    for _ in range(4):
        logits = rng.standard_normal(n).astype(np.float32) * 2
        logits[rng.integers(n)] += 12
        ahead.append(logits)
    return {"flat sd 1": [rng.standard_normal(n).astype(np.float32) for _ in range(4)],
            "flat sd 2": [rng.standard_normal(n).astype(np.float32) * 2 for _ in range(4)],
            "peaked: Zipf ranks": zipf, "peaked: one far ahead": ahead}


def time_one(sample, ctx) -> float:
    started = time.perf_counter()
    sample(ctx, -1)
    return time.perf_counter() - started


def compare(llm, logits_set: list[np.ndarray], rounds: int) -> dict:
    """Alternate the two samplers on each logits vector. Each sample follows a real decode step
    (which streams the weights through the caches, as in generation), after which the logits
    are written into llama.cpp's buffer, where the decode would have left its own."""
    ctx = llm._ctx
    import llama_cpp

    ours, chain = build_sampler(0.6, 0.95, 0, 0.0, seed=2), llama_chain(seed=2)
    times: dict[str, list[float]] = {"llama.cpp": [], "vibe-local": []}
    position, token = llm.n_tokens, int(llm._input_ids[llm.n_tokens - 1])
    for r in range(rounds):
        for logits in logits_set:
            pair = [("llama.cpp", chain.sample), ("vibe-local", ours.sample)]
            for name, sample in pair if r % 2 else pair[::-1]:
                llm.n_tokens = position  # the same step again: the context never fills
                llm.eval([token])
                np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx.ctx, -1),
                                      shape=(llm.n_vocab(),))[:] = logits
                times[name].append(time_one(sample, ctx))
    kept = [_kept_count(logits) for logits in logits_set]
    return {name: statistics.median(t) * 1000 for name, t in times.items()} | {
        "kept": (min(kept), statistics.median(kept), max(kept))}


def _kept_count(logits: np.ndarray) -> int:
    kept = Nucleus(logits.size, 0.6, 0.95).keep(logits)
    listed = kept.ids.size
    return listed + (int(np.count_nonzero(kept.grid)) if kept.grid is not None else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--tokens", type=int, default=48, help="real-logit positions")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    from vibe_local.backend import open_llama
    from vibe_local.hardware import default_threads

    threads = args.threads or default_threads()
    load_before = os.getloadavg()[0]
    llm = open_llama(args.model, n_ctx=512, n_threads=threads, n_threads_batch=threads)
    kinds = {"real (this model)": real_logits(llm, args.tokens)} | synthetic_logits(llm.n_vocab())
    print(f"model {args.model.name}, vocabulary {llm.n_vocab():,}, temperature 0.6, top-p 0.95; "
          f"median ms per token over {args.rounds} alternating rounds\n")
    print(f"| {'logits':<22} | {'tokens kept (min/median/max)':>28} | {'llama.cpp ms':>12} | "
          f"{'vibe-local ms':>13} | {'speed-up':>8} |")
    print(f"|{'-' * 24}|{'-' * 29}:|{'-' * 13}:|{'-' * 14}:|{'-' * 9}:|")
    for name, logits_set in kinds.items():
        rounds = max(2, args.rounds * 4 // len(logits_set))
        row = compare(llm, logits_set, rounds)
        low, mid, high = row["kept"]
        print(f"| {name:<22} | {f'{low:,} / {mid:,.0f} / {high:,}':>28} | "
              f"{row['llama.cpp']:>12.3f} | {row['vibe-local']:>13.3f} | "
              f"{row['llama.cpp'] / row['vibe-local']:>7.1f}x |", flush=True)
    llm.close()
    print(f"\n1-minute load average {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end "
          f"({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
