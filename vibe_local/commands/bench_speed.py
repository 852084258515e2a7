"""`vibe-local bench speed [-m MODEL] [--quants Q4_K_M,Q8_0] [--reps N] [--threads N] [--json]`.

Per quant, in a fresh process each: prompt processing (pp, a 512-token prompt) and generation
(tg, 128 tokens) in tokens/s, mean ± sd over repetitions as llama-bench measures them; load
time; peak memory (RSS); and generation's effective memory bandwidth (bytes read per token x
tokens/s) against this machine's measured RAM bandwidth, the roofline of generation speed.
Progress goes to stderr; the table (or --json) to stdout.
"""

from __future__ import annotations

import argparse
import json

from .common import quant_list, to_stderr

SUMMARY = "prompt and generation tokens/s, load time, memory, bandwidth"
MODEL_HELP = "a catalogue id, a .gguf file or a ladder directory with manifest.json"
QUANTS_HELP = "quants to measure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `vibe-local bench speed` besides -m, -y and --quants."""
    parser.add_argument("--reps", type=int, default=5,
                        help="repetitions after the warm-up (default 5)")
    parser.add_argument("--pp", type=int, default=512, help="prompt tokens (default 512)")
    parser.add_argument("--tg", type=int, default=128, help="generated tokens (default 128)")
    parser.add_argument("--threads", type=int,
                        help="CPU threads (default: physical cores, as the runtime uses)")
    parser.add_argument("--remeasure-bandwidth", action="store_true",
                        help="measure the RAM bandwidth again instead of using the cached value")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..bench.speed import format_speed_table, measure_speed

    report = measure_speed(args.model, quant_list(args.quants), reps=args.reps, pp=args.pp,
                           tg=args.tg, threads=args.threads, progress=to_stderr,
                           assume_yes=args.yes, refresh_bandwidth=args.remeasure_bandwidth)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_speed_table(report))
    return 0 if all(row.error is None for row in report.rows) else 1

