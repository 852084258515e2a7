"""Benchmark: `vibe-local bench speed` against llama.cpp's own `llama-bench`, same files.

    uv run python tests/benchmarks/speed_vs_llama_bench.py /tmp/bench/ladder --quants Q4_K_M \
        --llama-bench /tmp/ref/build/bin/llama-bench --threads 2

Runs our `measure_speed` (one child process per quant, llama-bench's method through
`Llama.eval`), then `llama-bench -m FILE -p 512 -n 128 -r 5 -t T --repack R -fa on -b 512
-ub 512 -ctk f16 -ctv f16 -o json` on each file with the settings our report used (repack as the
backend self-test allows), and prints pp and tg side by side with ours / llama-bench ratios.

It also answers "does Llama.eval's Python overhead matter?": on the self-test's tiny model, where
a decode takes microseconds, it times single-token decodes through `Llama.eval` and through a raw
`llama_decode` loop on a one-token llama_batch; the difference is eval's Python cost per token,
shown against the real model's milliseconds per generated token.

Not a test: the machine may be shared, so figures hold for one run; load averages are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from vibe_local.bench.speed import SpeedReport, format_speed_table, measure_speed  # noqa: E402

OVERHEAD_TOKENS = 128
OVERHEAD_ROUNDS = 7


def llama_bench(exe: Path, path: str, report: SpeedReport) -> dict[str, tuple[float, float]]:
    """llama-bench's pp and tg (mean, sd) for one file, with our report's settings."""
    s = report.settings
    command = [str(exe), "-m", path, "-p", str(s.pp), "-n", str(s.tg), "-r", str(s.reps),
               "-t", str(s.threads), "--repack", str(int(s.repack)),
               "-fa", "on" if s.flash_attn else "off", "-b", str(s.n_batch),
               "-ub", str(s.n_ubatch), "-ctk", s.kv_type, "-ctv", s.kv_type, "-o", "json"]
    print("  " + " ".join(command), file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"llama-bench failed ({done.returncode}): {done.stderr[-2000:]}")
    found = {}
    for test in json.loads(done.stdout):
        found["pp" if test["n_gen"] == 0 else "tg"] = (test["avg_ts"], test["stddev_ts"])
    return found


def eval_overhead_us(threads: int) -> tuple[float, float]:
    """Microseconds per single-token decode: (Llama.eval, raw llama_decode), best round each."""
    import llama_cpp

    from vibe_local.backend import open_llama
    from vibe_local.selftest import selftest_model

    llm = open_llama(selftest_model(), repack=False, n_ctx=OVERHEAD_TOKENS + 8, n_batch=512,
                     n_ubatch=512, n_threads=threads, n_threads_batch=threads,
                     flash_attn=True)
    memory = llama_cpp.llama_get_memory(llm.ctx)
    batch = llama_cpp.llama_batch_init(1, 0, 1)
    batch.n_tokens, batch.n_seq_id[0], batch.seq_id[0][0], batch.logits[0] = 1, 1, 0, True

    def through_eval() -> float:
        llm.reset()
        started = time.perf_counter()
        for i in range(OVERHEAD_TOKENS):
            llm.eval([1 + i % 200])
            llama_cpp.llama_synchronize(llm.ctx)
        return time.perf_counter() - started

    def raw() -> float:
        llama_cpp.llama_memory_clear(memory, False)
        started = time.perf_counter()
        for i in range(OVERHEAD_TOKENS):
            batch.token[0], batch.pos[0] = 1 + i % 200, i
            if llama_cpp.llama_decode(llm.ctx, batch) != 0:
                raise SystemExit("llama_decode failed")
            llama_cpp.llama_synchronize(llm.ctx)
        return time.perf_counter() - started

    times = {"eval": [], "raw": []}
    for _ in range(OVERHEAD_ROUNDS):  # alternate, so machine noise hits both alike
        times["eval"].append(through_eval())
        times["raw"].append(raw())
    llama_cpp.llama_batch_free(batch)
    llm.close()
    return tuple(min(times[k]) / OVERHEAD_TOKENS * 1e6 for k in ("eval", "raw"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a .gguf file or a ladder directory with manifest.json")
    parser.add_argument("--quants", help="comma-separated quants (default: all)")
    parser.add_argument("--llama-bench", type=Path, default=Path("/tmp/ref/build/bin/llama-bench"))
    parser.add_argument("--threads", type=int, help="default: physical cores")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--pp", type=int, default=512)
    parser.add_argument("--tg", type=int, default=128)
    parser.add_argument("--remeasure-bandwidth", action="store_true",
                        help="measure the RAM bandwidth again instead of using the cached value")
    args = parser.parse_args()

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    load_before, started = os.getloadavg(), time.perf_counter()
    say("vibe-local bench speed ...")
    report = measure_speed(args.model, args.quants.split(",") if args.quants else None,
                           reps=args.reps, pp=args.pp, tg=args.tg, threads=args.threads,
                           progress=say, refresh_bandwidth=args.remeasure_bandwidth)
    say("llama-bench ...")
    theirs = {row.quant: llama_bench(args.llama_bench, row.path, report)
              for row in report.rows if row.error is None}
    say("Llama.eval overhead on the tiny self-test model ...")
    eval_us, raw_us = eval_overhead_us(report.settings.threads)
    load_after = os.getloadavg()

    s, bw = report.settings, report.memory_bandwidth
    print(f"\n{report.model}: {s.threads} threads, repack {int(s.repack)}, flash attention on, "
          f"f16 KV, n_batch {s.n_batch}, {s.reps} reps after a warm-up; llama-cpp-python "
          f"{report.llama_cpp_python}; {report.machine['cpu_name']}")
    print("\n| quant | test | llama-bench t/s | vibe-local t/s | ratio |\n|---|---|--:|--:|--:|")
    for row in report.rows:
        if row.error is not None:
            print(f"| {row.quant} | error | | {row.error} | |")
            continue
        for test, ours in (("pp", row.pp), ("tg", row.tg)):
            ref = theirs[row.quant][test]
            print(f"| {row.quant} | {test}{getattr(s, test)} | {ref[0]:.2f} ± {ref[1]:.2f} | "
                  f"{ours[0]:.2f} ± {ours[1]:.2f} | {ours[0] / ref[0]:.3f} |")
    print("\nvibe-local bench speed's own table:\n" + format_speed_table(report))
    print(f"\nRAM bandwidth measured: {bw['bytes_per_s'] / 1e9:.2f} GB/s ({bw['method']})")
    for row in report.rows:
        if row.error is None:
            ref_tg = theirs[row.quant]["tg"][0]
            print(f"{row.quant}: {row.traffic['total'] / 1e6:.1f} MB read per token; effective "
                  f"{row.bandwidth / 1e9:.2f} GB/s ({report.percent_of_measured(row):.0f}% of "
                  f"measured), llama-bench {row.traffic['total'] * ref_tg / 1e9:.2f} GB/s; "
                  f"load {row.load_s:.2f} s, peak RSS {row.peak_rss_bytes / 2**30:.2f} GiB")
    token_ms = [1000 / row.tg[0] for row in report.rows if row.error is None]
    print(f"\nLlama.eval per token {eval_us:.1f} us, raw llama_decode {raw_us:.1f} us: "
          f"{eval_us - raw_us:+.1f} us of Python per token"
          + (f", {100 * (eval_us - raw_us) / 1000 / min(token_ms):.4f}% of the fastest real "
             f"token ({min(token_ms):.0f} ms)" if token_ms else ""))
    print(f"wall {time.perf_counter() - started:.0f} s; load average (1, 5, 15 min) "
          f"{load_before} before, {load_after} after: the machine is shared, both tools feel it")


if __name__ == "__main__":
    main()
