"""Benchmark: vibe-local's generation throughput against llama.cpp's `llama-bench`.

Measures prompt processing (a 512-token prompt) and generation (128 tokens) through vibe-local's
engine (`Model.stream`, the path the CLI uses, Python token loop included) and through llama.cpp's
own `llama-bench`, on the same GGUF with the same threads, weight-repacking and flash-attention
settings, alternating the two tools round by round so machine noise hits both alike:

    python tests/benchmarks/throughput_vs_llama_bench.py MODEL.gguf \
        --llama-bench /path/to/llama.cpp/build/bin/llama-bench --threads 2 --repack 0 --reps 3

Build `llama-bench` from the llama.cpp tree that llama-cpp-python was built from (the `vendor/`
directory of its sdist), CPU only, Release, default flags (GGML_NATIVE on), so both run the same
kernels.

How each side is measured (mean ± sample standard deviation over `--reps` rounds, after one
warm-up each, like llama-bench):
- pp512, llama-bench: one llama_decode of 512 random tokens into an empty cache.
  vibe-local: a chat prompt rendered and tokenized to exactly 512 tokens, cache cleared first
  (`cached_prompt_tokens` must be 0); the engine's `prompt_tokens_per_s` = 512 / time to first
  token (so it also includes sampler set-up and the first token's sampling).
- tg128, llama-bench: 128 single-token decodes, no sampling, after `-d D` cached tokens where D
  is the length of our tg prompt, so both tools decode at the same positions.
  vibe-local: a short chat prompt (D tokens), then 128 generated tokens with the engine's
  default sampling (temperature 0.6, top-p 0.95: the full-vocabulary sampler chain runs for
  every token); the engine's `generation_tokens_per_s` = (completion - 1) / time after the
  first token. Replies that stop early (a random-weight model can sample an end-of-generation
  token) are retried with the next seed; the number of retries is reported.
The per-token Python overhead is 1/ours_tg - 1/bench_tg: everything our loop adds to a token
besides llama.cpp's own decode (sampling, ctypes calls, detokenizing, the reasoning splitter, the
loop guard).

Not a test: machines here are noisy, so it reports ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

N_PROMPT = 512
N_GEN = 128
N_CTX = 1024
FILLER = (
    "The quick brown fox jumps over the lazy dog while the old man reads a book about the "
    "history of the river and the mountains that surround the small village in the north. "
    "Every morning the children walk to school along the narrow road, counting the birds and "
    "the trees, and every evening they return home to eat bread, cheese and apples with their "
    "family. Numbers such as 17, 42, 256 and 1024 appear in their homework, together with "
    "questions about time, distance and speed. "
)
TG_PROMPT = "Tell me a long story about a fox."
MAX_RETRIES = 10


def mean_sd(samples: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single sample), as llama-bench reports."""
    if not samples:
        return float("nan"), float("nan")
    return statistics.fmean(samples), statistics.stdev(samples) if len(samples) > 1 else 0.0


# --- llama-bench -------------------------------------------------------------------------------

def llama_bench_cmds(args: argparse.Namespace, tg_depth: int) -> list[list[str]]:
    """pp512 from an empty cache; tg128 after `tg_depth` cached tokens (our tg prompt's length,
    so both generate at the same positions). One repetition each: rounds alternate the tools."""
    common = ["-m", str(args.model), "-t", str(args.threads), "-r", "1", "--repack",
              str(args.repack), "-fa", "on" if args.flash_attn else "off", "-o", "json"]
    exe = str(args.llama_bench)
    return [[exe, "-p", str(N_PROMPT), "-n", "0", *common],
            [exe, "-p", "0", "-n", str(N_GEN), "-d", str(tg_depth), *common]]


def run_llama_bench(args: argparse.Namespace, tg_depth: int) -> tuple[dict[str, list[float]], dict]:
    """llama-bench's pp and tg tests (each with its own warm-up), t/s per test."""
    samples: dict[str, list[float]] = {"pp": [], "tg": []}
    info: dict = {}
    for command in llama_bench_cmds(args, tg_depth):
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"llama-bench failed ({done.returncode}):\n{done.stderr[-3000:]}")
        for test in json.loads(done.stdout):
            key = "pp" if test["n_gen"] == 0 else "tg"
            samples[key].extend(float(x) for x in test["samples_ts"])
            info = {k: test.get(k) for k in ("build_commit", "cpu_info", "backends", "n_threads",
                                              "repack", "flash_attn", "n_batch", "n_ubatch",
                                              "type_k", "type_v")}
    return samples, info


# --- vibe-local --------------------------------------------------------------------------------

class Ours:
    """vibe-local's engine on the model, with the prompts fixed once."""

    def __init__(self, args: argparse.Namespace):
        from vibe_local.backend import open_llama
        from vibe_local.engine import Model, ModelInfo

        self.llm = open_llama(args.model, repack=bool(args.repack), n_ctx=N_CTX, n_batch=N_PROMPT,
                              n_ubatch=N_PROMPT, n_threads=args.threads,
                              n_threads_batch=args.threads, flash_attn=bool(args.flash_attn))
        self.model = Model(self.llm, ModelInfo(Path(args.model), "?", N_CTX, 0, "f16",
                                               bool(args.repack)))
        self.sampling = {"temperature": args.temperature, "top_k": args.top_k}
        self.seed = args.seed
        self.pp_text = self._prompt_of(N_PROMPT)
        self.tg_prompt_tokens = self._count(TG_PROMPT)
        self.retries = 0
        self.finish_reasons: list[str] = []

    def _count(self, content: str) -> int:
        prompt = self.model.template.render([{"role": "user", "content": content}])
        return len(self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    def _prompt_of(self, n_tokens: int) -> str:
        """User text whose rendered chat prompt is exactly `n_tokens` tokens."""
        text = FILLER
        while self._count(text) < n_tokens:
            text += FILLER
        lo, hi = 1, len(text)  # binary search on the number of characters
        while lo < hi:
            mid = (lo + hi) // 2
            if self._count(text[:mid]) < n_tokens:
                lo = mid + 1
            else:
                hi = mid
        for end in range(lo, len(text) + 1):  # a character may add two tokens: walk on
            if self._count(text[:end]) == n_tokens:
                return text[:end]
            if self._count(text[:end]) > n_tokens + 1:
                break
        raise SystemExit(f"could not build a prompt of exactly {n_tokens} tokens")

    def _stream(self, content: str, max_tokens: int, seed: int):
        from vibe_local.generation import Done

        self.llm.reset()  # no prefix-cache reuse between repetitions
        stats = None
        for event in self.model.stream(content, max_tokens=max_tokens, seed=seed,
                                       **self.sampling):
            if isinstance(event, Done):
                stats = event.stats
        assert stats is not None and stats.cached_prompt_tokens == 0, stats
        return stats

    def pp(self, rep: int) -> float:
        stats = self._stream(self.pp_text, 1, self.seed + rep)
        if stats.prompt_tokens != N_PROMPT:
            raise SystemExit(f"prompt was {stats.prompt_tokens} tokens, not {N_PROMPT}")
        return stats.prompt_tokens_per_s

    def tg(self, rep: int):
        seed = self.seed + 1000 * rep
        for _ in range(MAX_RETRIES):
            stats = self._stream(TG_PROMPT, N_GEN, seed)
            if stats.completion_tokens == N_GEN and stats.finish_reason == "length":
                self.finish_reasons.append(stats.finish_reason)
                return stats
            self.retries += 1  # stopped early (end-of-generation token): next seed
            seed += 1
        raise SystemExit(f"generation kept stopping before {N_GEN} tokens "
                         f"({stats.completion_tokens}, {stats.finish_reason})")

    def warm_up(self) -> None:
        self.pp(-1)
        self._stream(TG_PROMPT, 8, self.seed - 1)


# --- main --------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the GGUF file")
    parser.add_argument("--llama-bench", type=Path, required=True, help="llama-bench executable")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repack", type=int, choices=(0, 1), default=0,
                        help="llama.cpp weight repacking (extra buffer types); default 0, "
                             "vibe-local's safe default")
    parser.add_argument("--flash-attn", type=int, choices=(0, 1), default=0,
                        help="flash attention for both tools (default 0: llama-cpp-python's "
                             "default, which vibe-local gets unless it asks)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=0.6,
                        help="vibe-local sampling temperature (default 0.6, its default)")
    parser.add_argument("--top-k", type=int, default=0,
                        help="vibe-local top-k (default 0: off, its default; the top-p step then "
                             "sorts the whole vocabulary whenever the 256 likeliest tokens hold "
                             "under 95%%, which random-weight models always do)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    log(f"loading {args.model.name} (threads {args.threads}, repack {args.repack}, "
        f"flash-attn {args.flash_attn}) ...")
    ours = Ours(args)
    ours.warm_up()
    bench: dict[str, list[float]] = {"pp": [], "tg": []}
    mine: dict[str, list[float]] = {"pp": [], "tg": [], "tg_steps": []}
    ttft: list[float] = []
    for rep in range(args.reps):
        log(f"round {rep + 1}/{args.reps}: llama-bench ...")
        samples, bench_info = run_llama_bench(args, ours.tg_prompt_tokens)
        for key, values in samples.items():
            bench[key].extend(values)
        log(f"round {rep + 1}/{args.reps}: vibe-local ...")
        mine["pp"].append(ours.pp(rep))
        stats = ours.tg(rep)
        mine["tg"].append(stats.generation_tokens_per_s)
        # The window after the first token holds `completion` decode+sample steps when the reply
        # ends by max_tokens (one more token is evaluated and sampled, then dropped).
        mine["tg_steps"].append(stats.generation_tokens_per_s * stats.completion_tokens
                                / (stats.completion_tokens - 1))
        ttft.append(stats.time_to_first_token_s)

    rows = []
    for key, name in (("pp", f"pp{N_PROMPT}"), ("tg", f"tg{N_GEN}"),
                      ("tg_steps", f"tg{N_GEN} per decode step")):
        b = mean_sd(bench["pp" if key == "pp" else "tg"])
        o = mean_sd(mine[key])
        rows.append({"test": name, "llama_bench_ts": b, "vibe_local_ts": o, "ratio": o[0] / b[0],
                     "llama_bench_samples": bench["pp" if key == "pp" else "tg"],
                     "vibe_local_samples": mine[key]})
    b_tg, o_tg = rows[1]["llama_bench_ts"][0], rows[1]["vibe_local_ts"][0]
    overhead_ms = (1 / o_tg - 1 / b_tg) * 1000
    steps_ms = (1 / rows[2]["vibe_local_ts"][0] - 1 / b_tg) * 1000
    result = {
        "model": str(args.model), "threads": args.threads, "repack": args.repack,
        "flash_attn": args.flash_attn, "reps": args.reps, "temperature": args.temperature,
        "top_k": args.top_k, "load_avg_1min": [load_before, os.getloadavg()[0]],
        "llama_bench_commands": llama_bench_cmds(args, ours.tg_prompt_tokens),
        "llama_bench": bench_info, "tg_prompt_tokens": ours.tg_prompt_tokens,
        "rows": rows, "overhead_ms_per_token": overhead_ms,
        "overhead_pct_of_token": 100 * overhead_ms / (1000 / b_tg),
        "overhead_ms_per_decode_step": steps_ms,
        "early_stop_retries": ours.retries, "wall_s": time.perf_counter() - started,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"\nmodel {args.model.name}  threads {args.threads}  repack {args.repack}  "
          f"flash-attn {args.flash_attn}  reps {args.reps} (alternating, one warm-up each)  "
          f"sampling: temperature {args.temperature}, top-p 0.95, top-k {args.top_k}")
    print(f"llama-bench build {bench_info.get('build_commit')}, {bench_info.get('cpu_info')}:")
    for command in result["llama_bench_commands"]:
        print("  " + " ".join(command))
    print(f"\n| {'test':<24} | {'llama-bench t/s':>17} | {'vibe-local t/s':>17} | {'ratio':>6} |")
    print(f"| {'-' * 24} | {'-' * 17}:| {'-' * 17}:| {'-' * 6}:|")
    for row in rows:
        (bm, bs), (om, os_) = row["llama_bench_ts"], row["vibe_local_ts"]
        print(f"| {row['test']:<24} | {bm:>9.2f} ± {bs:<5.2f} | {om:>9.2f} ± {os_:<5.2f} | "
              f"{row['ratio']:>6.3f} |")
    print(f"\nper-token overhead (1/ours_tg - 1/bench_tg): {overhead_ms:+.2f} ms/token "
          f"= {result['overhead_pct_of_token']:+.1f}% of llama-bench's {1000 / b_tg:.1f} ms token")
    print(f"  counting every decode step in the engine's timing window: {steps_ms:+.2f} ms/token")
    print(f"tg: every reply reached {N_GEN} tokens ({ours.retries} retr"
          f"{'y' if ours.retries == 1 else 'ies'} after early end-of-generation); "
          f"ttft of the short tg prompt {statistics.fmean(ttft) * 1000:.0f} ms")
    print(f"wall {result['wall_s']:.0f} s; 1-minute load average {load_before:.2f} at start, "
          f"{result['load_avg_1min'][1]:.2f} at end (other work on the machine skews both tools)")


if __name__ == "__main__":
    main()
