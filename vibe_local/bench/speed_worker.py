"""Child process of `vibe-local bench speed`: measures one GGUF file, prints one JSON line.

    python -m vibe_local.bench.speed_worker FILE --pp 512 --tg 128 --reps 5 --threads 2 --repack 0

One fresh process per quant, so its peak RSS (ru_maxrss) is that quant's alone, and a crash
inside llama.cpp (SIGILL, SIGSEGV, out of memory) loses only that quant's row.

The method is llama-bench's (llama.cpp tools/llama-bench/llama-bench.cpp):
- pp: one prompt of `pp` random tokens (BOS first if the vocabulary adds one), decoded in
  n_batch batches into an empty KV cache; t/s = pp / time.
- tg: `tg` single-token decodes of random tokens from an empty cache, no sampling; t/s = tg / time.
- one warm-up first (a whole pp run; one tg token), then `reps` repetitions, each from an empty
  cache; the t/s of every repetition is reported.
Tokens go through `Llama.eval`, the runtime's own decode call, rather than a raw `llama_decode`
loop: its extra Python work per call (a llama_batch filled from a list, one cache-trim call)
measured 0.03-0.34 ms per token on a busy 2-core machine, under 0.05% of a 1.5B Q4_K_M token
there (tests/benchmarks/speed_vs_llama_bench.py measures it, and compares with llama-bench).

Settings are the runtime's (api.load): n_batch = n_ubatch = 512, flash attention on, f16 KV
cache, weight repacking as the backend self-test allows, the given threads for both phases; the
context holds pp + tg tokens. Progress lines go to stderr prefixed with "progress: "; a failure
is one line "error: ..." on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

N_BATCH = 512  # as api.load opens models
FLASH_ATTN = True  # what fitting plans and api.load passes
KV_TYPE = "f16"  # the runtime's KV cache unless memory forces q8_0
PROGRESS = "progress: "
ERROR = "error: "


def _progress(text: str) -> None:
    print(PROGRESS + text, file=sys.stderr, flush=True)


def peak_rss_bytes() -> int | None:
    """This process's peak resident set size; None where the OS does not say."""
    try:
        import resource
    except ImportError:  # Windows
        import psutil

        return getattr(psutil.Process().memory_info(), "peak_wset", None)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS: bytes; Linux: KiB


def open_model(path: Path, *, threads: int, repack: bool, n_ctx: int):
    """Load the model as the runtime does (backend.open_llama); (llm, seconds to load).

    Raises:
        InvalidModelError: llama.cpp refused the file.
    """
    from ..api import GGML_TYPE
    from ..backend import open_llama

    started = time.perf_counter()
    llm = open_llama(path, repack=repack, n_ctx=n_ctx, n_batch=N_BATCH, n_ubatch=N_BATCH,
                     n_threads=threads, n_threads_batch=threads, flash_attn=FLASH_ATTN,
                     type_k=GGML_TYPE[KV_TYPE], type_v=GGML_TYPE[KV_TYPE])
    return llm, time.perf_counter() - started


class Bench:
    """pp and tg runs on one loaded model, with llama-bench's random tokens."""

    def __init__(self, llm, seed: int):
        import llama_cpp

        self.llm, self.rng = llm, random.Random(seed)
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        self.bos = llama_cpp.llama_vocab_bos(vocab) \
            if llama_cpp.llama_vocab_get_add_bos(vocab) else None
        self._sync = lambda: llama_cpp.llama_synchronize(llm.ctx)  # GPU backends run async

    def _token(self) -> int:
        return self.rng.randrange(self.n_vocab)

    def prompt(self, n: int) -> float:
        """Seconds to decode n random tokens (BOS first) into an empty cache."""
        tokens = [self._token() for _ in range(n)]
        if self.bos is not None:
            tokens[0] = self.bos
        self.llm.reset()  # the next eval trims the cache to n_tokens = 0
        started = time.perf_counter()
        self.llm.eval(tokens)
        self._sync()
        return time.perf_counter() - started

    def generate(self, n: int) -> float:
        """Seconds for n single-token decodes from an empty cache."""
        token = self.bos if self.bos is not None else self._token()
        self.llm.reset()
        started = time.perf_counter()
        for _ in range(n):
            self.llm.eval([token])
            self._sync()
            token = self._token()
        return time.perf_counter() - started


def repeat(name: str, n: int, reps: int, run, warm_up) -> list[float]:
    """`warm_up()`, then `reps` timed `run()`s of n tokens each; tokens/s of each."""
    _progress(f"{name}: warm-up")
    warm_up()
    rates = []
    for rep in range(reps):
        rates.append(n / run())
        _progress(f"{name}: {rep + 1}/{reps} {rates[-1]:.2f} t/s")
    return rates


def measure(path: Path, *, pp: int, tg: int, reps: int, threads: int, repack: bool,
            seed: int = 0) -> dict:
    """Every figure of one row (see the module docstring)."""
    from .roofline import token_traffic

    traffic = token_traffic(path, n_gen=tg, kv_type=KV_TYPE)  # fails fast on a broken file
    _progress("loading")
    llm, load_s = open_model(path, threads=threads, repack=repack, n_ctx=pp + tg)
    try:
        bench = Bench(llm, seed)
        pp_ts = repeat(f"pp{pp}", pp, reps, lambda: bench.prompt(pp),
                       warm_up=lambda: bench.prompt(pp))
        # llama-bench warms generation up with one token, not a whole run
        tg_ts = repeat(f"tg{tg}", tg, reps, lambda: bench.generate(tg),
                       warm_up=lambda: bench.generate(1))
    finally:
        llm.close()
    return {"file_bytes": path.stat().st_size, "load_s": load_s, "pp_ts": pp_ts,
            "tg_ts": tg_ts, "peak_rss_bytes": peak_rss_bytes(), "traffic": traffic.to_dict()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vibe_local.bench.speed_worker")
    parser.add_argument("path", type=Path)
    for name, default in (("--pp", 512), ("--tg", 128), ("--reps", 5), ("--threads", 1),
                          ("--repack", 0), ("--seed", 0)):
        parser.add_argument(name, type=int, default=default)
    args = parser.parse_args(argv)
    from ..errors import VibeLocalError

    try:
        row = measure(args.path, pp=args.pp, tg=args.tg, reps=args.reps, threads=args.threads,
                      repack=bool(args.repack), seed=args.seed)
    except (VibeLocalError, RuntimeError) as exc:  # llama-cpp-python raises RuntimeError
        print(ERROR + " ".join(str(exc).split()), file=sys.stderr, flush=True)
        return 1
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
