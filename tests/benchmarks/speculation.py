"""Benchmark: self-speculative decoding (vibe_local/speculation.py), its cost and its speed-up.

    python tests/benchmarks/speculation.py cost   MODEL.gguf [--threads 2] [--reps 15]
    python tests/benchmarks/speculation.py replay MODEL.gguf [--threads 2] [--reps 2]
    python tests/benchmarks/speculation.py demo   [--threads 2] [--reps 3]
    python tests/benchmarks/speculation.py lookup MODEL.gguf

- cost: one llama_decode of the current token plus a 2-, 4- or 8-token draft, logits at every
  position (what verifying costs), against one single-token decode at the same position, after a
  512-token context. Rounds interleave all four; medians and the ratio to the single step.
- replay: a long worked solution (reasoning_trace.txt, a competition-style counting problem with
  the restatements and double-checks reasoning models write) is forced as the continuation of its
  question through the engine's own generation loop, speculation on and off, interleaved. The
  reply's real sampler (VibeThinker's defaults) still draws at every position, but the forced
  token is taken, so a random-weight model "writes" the text: this measures acceptance x cost
  without a trained 1.5B model. Reports tokens/s of each mode, the speed-up, drafted and accepted
  tokens, and how often the real sampler's draw at the same position, same seed, differed
  between batched and single-token evaluation (the floating-point flips), with temperature 0.6
  and with greedy sampling.
- lookup: no inference: the trace teacher-forced through the draft index alone, tokens per
  verifying step at fixed draft lengths 1, 2, 4, 8 (what the text allows, whatever the cost).
- demo: the bundled demo model (vibethinker-nano, BF16) solves arithmetic problems, speculation
  on and off, same seeds, interleaved: tokens/s of each and whether the replies are identical.

Not a test: machines here are noisy, so it reports medians and ratios measured in one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TRACE = Path(__file__).with_name("reasoning_trace.txt")
QUESTION = ("Find the number of ordered pairs of positive integers (a, b) such that a + b = 1000 "
            "and neither a nor b has a zero digit. Let's think step by step and output the final "
            "answer within \\boxed{}.")
DEMO_QUESTIONS = ("What is 482 + 379?", "What is 907 - 518?", "What is 6 * 734?",
                  "What is 345 + 678?", "What is 8 * 509?", "What is 731 - 286?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("cost", "replay", "demo", "lookup"))
    parser.add_argument("model", nargs="?", type=Path, help="GGUF file (cost, replay)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int)
    parser.add_argument("--repack", type=int, choices=(0, 1),
                        help="weight repacking (default: what the runtime's self-test allows)")
    parser.add_argument("--tokens", type=int, help="replay: only the first N tokens of the trace")
    parser.add_argument("--greedy-tokens", type=int, default=400,
                        help="replay: tokens of the greedy flip check (default 400)")
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in __import__('os').getloadavg())}")
    if args.what == "demo":
        return demo(args)
    if args.model is None:
        parser.error(f"{args.what} needs a MODEL.gguf")
    return {"cost": cost, "replay": replay, "lookup": lookup}[args.what](args)


def open_model(path: Path, args: argparse.Namespace, n_ctx: int):
    from vibe_local.backend import open_llama
    from vibe_local.selftest import repack_allowed

    repack = bool(args.repack) if args.repack is not None else repack_allowed()
    print(f"{path.name}: threads {args.threads}, repack {int(repack)}, ctx {n_ctx}")
    return open_llama(path, n_ctx=n_ctx, n_threads=args.threads, n_threads_batch=args.threads,
                      repack=repack)


# --- cost ----------------------------------------------------------------------------------------

def cost(args: argparse.Namespace) -> int:
    from vibe_local.sampler import evaluate_prompt
    from vibe_local.speculation import _evaluate_with_logits, _forget_after

    llm = open_model(args.model, args, 1024)
    context = [(i * 7919) % 30000 + 200 for i in range(512)]
    evaluate_prompt(llm, context)
    sizes = (0, 2, 4, 8)
    times: dict[int, list[float]] = {k: [] for k in sizes}
    for _ in range(args.reps or 15):
        for k in sizes:
            batch = [(j * 104729) % 30000 + 200 for j in range(k + 1)]
            started = time.perf_counter()
            if k == 0:
                llm.eval(batch)
            else:
                _evaluate_with_logits(llm, batch)
            times[k].append(time.perf_counter() - started)
            _forget_after(llm, len(context))
    base = statistics.median(times[0])
    print(f"{'step':<28}{'median ms':>10}{'x one step':>12}")
    for k in sizes:
        label = "one token (plain decode)" if k == 0 else f"token + {k}-token draft"
        median = statistics.median(times[k])
        print(f"{label:<28}{median * 1e3:>10.1f}{median / base:>12.2f}")
    return 0


# --- replay --------------------------------------------------------------------------------------

class ReplaySampler:
    """Draws with the real sampler (its cost and its random stream stay), returns the forced
    text's next token; keeps the real draws to compare the two modes position by position."""

    def __init__(self, real, forced: list[int]):
        self.real, self.forced, self.draws = real, forced, []

    def sample(self, ctx, idx: int) -> int:
        self.draws.append(self.real.sample(ctx, idx))
        return self.forced[len(self.draws) - 1]


def replay_once(llm, prompt: list[int], forced: list[int], speculate: bool,
                temperature: float) -> tuple[float, object, list[int]]:
    from vibe_local.generation import Generator, Sampling

    sampling = Sampling(temperature=temperature, max_tokens=len(forced), seed=1234,
                        speculate=speculate)
    generator = Generator(llm, prompt, sampling, threading.Event(), llm.n_ctx(), False)
    generator.sampler = ReplaySampler(generator.sampler, forced)
    stats = None
    for event in generator.run():
        stats = getattr(event, "stats", stats)
    assert stats is not None and stats.completion_tokens == len(forced), stats
    return stats.generation_tokens_per_s, stats, generator.sampler.draws


def replay(args: argparse.Namespace) -> int:
    text = TRACE.read_text()
    llm = open_model(args.model, args, 8192)
    prompt = llm.tokenize(f"<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
                          .encode(), add_bos=False, special=True)
    forced = llm.tokenize(text.encode(), add_bos=False, special=True)[:args.tokens]
    print(f"prompt {len(prompt)} tokens, forced continuation {len(forced)} tokens")
    rates: dict[bool, list[float]] = {True: [], False: []}
    draws: dict[bool, list[int]] = {}
    for rep in range(args.reps or 2):
        for speculate in (False, True):
            rate, stats, draws[speculate] = replay_once(llm, prompt, forced, speculate, 0.6)
            rates[speculate].append(rate)
            print(f"  round {rep + 1} {'speculate' if speculate else 'plain    '}: "
                  f"{rate:6.2f} tok/s  drafted {stats.draft_tokens}, "
                  f"accepted {stats.accepted_draft_tokens}", flush=True)
        if rep == 0:
            report_flips(draws, stats.draft_tokens, 0.6)
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    print(f"median: plain {off:.2f} tok/s, speculate {on:.2f} tok/s, speed-up {on / off:.2f}x "
          f"(identical output: the forced text)")
    greedy = forced[:args.greedy_tokens]
    _, stats, draws[True] = replay_once(llm, prompt, greedy, True, 0.0)
    _, _, draws[False] = replay_once(llm, prompt, greedy, False, 0.0)
    report_flips(draws, stats.draft_tokens, 0.0)
    return 0


def report_flips(draws: dict[bool, list[int]], batched: int, temperature: float) -> None:
    """Same seed, same positions: how often the real sampler's draw differed between the modes
    (batched vs single-token evaluation rounding differently)."""
    flips = sum(a != b for a, b in zip(draws[True], draws[False]))
    n = len(draws[False])
    print(f"  temperature {temperature}: the real sampler drew another token at {flips} of {n} "
          f"positions ({flips / n:.2%}); {batched} positions were evaluated inside a draft batch",
          flush=True)


def lookup(args: argparse.Namespace) -> int:
    from llama_cpp import Llama

    from vibe_local.speculation import DraftIndex

    vocab = Llama(str(args.model), vocab_only=True, verbose=False)
    prompt = vocab.tokenize(f"<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
                            .encode(), add_bos=False, special=True)
    forced = vocab.tokenize(TRACE.read_text().encode(), add_bos=False, special=True)
    for length in (1, 2, 4, 8):
        index, context, done, steps = DraftIndex(), list(prompt), 0, 0
        while done < len(forced):
            draft = index.propose(context, length)
            taken = 1 + next((i for i, t in enumerate(draft)
                              if done + i >= len(forced) or forced[done + i] != t), len(draft))
            context += forced[done:done + taken]
            done, steps = done + taken, steps + 1
        print(f"draft length {length}: {len(forced) / steps:.2f} tokens per step "
              f"({len(forced)} tokens)")
    return 0


# --- demo ----------------------------------------------------------------------------------------

def demo(args: argparse.Namespace) -> int:
    import tempfile

    from quantize.convert import convert
    from vibe_local.engine import Model, ModelInfo

    nano = ROOT / "vibe_local" / "demo" / "vibethinker-nano"
    with tempfile.TemporaryDirectory() as tmp:
        gguf = convert(nano, Path(tmp) / "nano-BF16.gguf", "bf16").path
        with Model(open_model(gguf, args, 1024), ModelInfo(gguf, "BF16", 1024, 0, "f16",
                                                            False)) as model:
            return demo_rounds(model, args.reps or 3)


def demo_rounds(model, reps: int) -> int:
    rates: dict[bool, list[float]] = {True: [], False: []}
    same = total = drafted = accepted = tokens = 0
    for rep in range(reps):
        for seed, question in enumerate(DEMO_QUESTIONS):
            replies = {}
            for speculate in (False, True):
                reply = model.chat(question, seed=seed + 100 * rep, speculate=speculate,
                                   max_tokens=400)
                replies[speculate] = reply
                rates[speculate].append(reply.stats.generation_tokens_per_s)
            on = replies[True]
            same += (on.thinking, on.answer) == (replies[False].thinking, replies[False].answer)
            total += 1
            drafted += on.stats.draft_tokens
            accepted += on.stats.accepted_draft_tokens
            tokens += on.stats.completion_tokens
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    print(f"{total} replies (temperature 0.6), {tokens / total:.0f} tokens each on average")
    print(f"median: plain {off:.1f} tok/s, speculate {on:.1f} tok/s, speed-up {on / off:.2f}x")
    print(f"drafted {drafted}, accepted {accepted} ({accepted / max(drafted, 1):.0%}); "
          f"identical replies: {same} of {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
