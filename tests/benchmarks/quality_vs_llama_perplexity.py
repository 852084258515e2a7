"""Benchmark: `vibe-local bench quality`'s fidelity statistics against `llama-perplexity`.

On the same ladder files and the same text, runs llama.cpp's own tool

    llama-perplexity -m BASE -f TEXT -c 512 -t 2 --kl-divergence-base base.kld
    llama-perplexity -m QUANT -f TEXT -c 512 -t 2 --kl-divergence-base base.kld --kl-divergence

and our passes (one reference pass into the compact top-K cache, one pass per quant), then
prints mean KLD, same-top %, PPL(Q)/PPL(base), RMS Δp and PPL(base) side by side with relative
differences (target: within 1 %), and the time of our reference + quant pass against
llama-perplexity's two runs.

    python tests/benchmarks/quality_vs_llama_perplexity.py                   # tiny ladder, built
    python tests/benchmarks/quality_vs_llama_perplexity.py --ladder DIR --quants Q4_K_M,Q8_0
    python tests/benchmarks/quality_vs_llama_perplexity.py --demo             # the bundled nano

The text defaults to the bench's own generated corpus (written by the reference model), at
least 2 × ctx tokens long because llama-perplexity refuses less. Both sides use an F16 KV cache
and flash attention (llama-perplexity's `-fa auto` turns it on for this CPU backend). llama.cpp
keeps the reference as 16-bit-quantized log-probs of the whole vocabulary and drops tokens with
log-prob < -16 from the KLD sum; we keep float32 top-K (K=1024) plus a tail bucket, so small
differences are expected where the reference spreads its mass. Not a test: it reports numbers.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PERPLEXITY = Path("/tmp/ref/build/bin/llama-perplexity")
PATTERNS = {  # llama-perplexity's summary lines -> value
    "kld": r"Mean\s+KLD:\s+([-\d.]+)",
    "same_top": r"Same top p:\s+([-\d.]+)",
    "ppl_ratio": r"Mean PPL\(Q\)/PPL\(base\)\s+:\s+([-\d.]+)",
    "dp_rms": r"RMS Δp\s+:\s+([-\d.]+)",
    "ppl_base": r"Mean PPL\(base\)\s+:\s+([-\d.]+)",
}


def tiny_ladder(work: Path) -> Path:
    from fixtures.qwen2_checkpoint import TinyQwen2Spec, build_checkpoint
    from quantize.ladder import build_ladder

    checkpoint = build_checkpoint(work / "ckpt", TinyQwen2Spec())
    build_ladder(checkpoint.path, work / "ladder", name="tiny")
    return work / "ladder"


def demo_ladder(work: Path) -> Path:
    from quantize.ladder import build_ladder

    source = ROOT / "vibe_local" / "demo" / "vibethinker-nano"
    if not (source / "config.json").is_file():
        sys.exit(f"no demo checkpoint at {source}")
    build_ladder(source, work / "nano", name="nano")
    return work / "nano"


def llama_perplexity(binary: Path, model: Path, text: Path, ctx: int, threads: int,
                     base: Path, compare: bool) -> tuple[dict, float]:
    """Run llama-perplexity; stdout unbuffered (its summary is otherwise lost at exit)."""
    args = ["stdbuf", "-o0", "-e0", str(binary), "-m", str(model), "-f", str(text), "-c",
            str(ctx), "-t", str(threads), "--kl-divergence-base", str(base)]
    if compare:
        args.append("--kl-divergence")
    start = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    log = out.stdout + out.stderr
    values = {k: float(m.group(1)) for k, p in PATTERNS.items() if (m := re.search(p, log))}
    if "same_top" in values:
        values["same_top"] /= 100
        values["dp_rms"] /= 100
    return values, seconds


def ours(reference: Path, quant: Path, text: str, ctx: int, threads: int, top_k: int):
    from vibe_local.bench.fidelity import quant_pass, reference_pass
    from vibe_local.bench.logit_pass import make_chunks

    plan = make_chunks(reference, text, ctx, None)
    start = time.perf_counter()
    base = reference_pass(reference, plan, k=top_k, threads=threads)
    ref_seconds = time.perf_counter() - start
    start = time.perf_counter()
    stats = quant_pass(quant, base, plan, threads=threads)
    return stats, ref_seconds, time.perf_counter() - start, plan


def compare(name: str, reference: Path, quant: Path, text_file: Path, args, work: Path) -> None:
    base_file = work / f"base-{reference.stem}.kld"
    if not base_file.exists():
        _, t_base = llama_perplexity(args.perplexity, reference, text_file, args.ctx,
                                     args.threads, base_file, compare=False)
        compare.base_seconds = t_base
    theirs, t_quant = llama_perplexity(args.perplexity, quant, text_file, args.ctx,
                                       args.threads, base_file, compare=True)
    # A fresh home per quant: our reference pass really runs (no cached reference) each time.
    os.environ["VIBE_LOCAL_HOME"] = str(tempfile.mkdtemp(dir=work))
    stats, ref_s, quant_s, plan = ours(reference, quant, text_file.read_bytes().decode(),
                                       args.ctx, args.threads, args.top_k)
    mine = {"kld": stats.kld_mean, "same_top": stats.same_top, "ppl_ratio": stats.ppl_ratio,
            "dp_rms": stats.dp_rms, "ppl_base": stats.ppl_base}
    print(f"\n{name}: {plan.n_chunks} chunks of {args.ctx}, {plan.scored_tokens} scored tokens, "
          f"top-K {args.top_k}, reference's max tail mass "
          f"{stats.extra['reference_max_tail_mass']:.4f}")
    print(f"  {'statistic':<12}{'llama-perplexity':>18}{'vibe-local':>14}{'rel. diff':>11}")
    for key in PATTERNS:
        a, b = theirs.get(key, float("nan")), mine[key]
        rel = (b - a) / a if a else float("nan")
        print(f"  {key:<12}{a:>18.6f}{b:>14.6f}{100 * rel:>10.2f}%"
              + ("  (llama prints 3 decimals of %)" if key == "dp_rms" else ""))
    base_s = getattr(compare, "base_seconds", float("nan"))
    print(f"  time: llama-perplexity base {base_s:.2f} s + quant {t_quant:.2f} s = "
          f"{base_s + t_quant:.2f} s; vibe-local reference {ref_s:.2f} s + quant {quant_s:.2f} s "
          f"= {ref_s + quant_s:.2f} s (ratio {(ref_s + quant_s) / (base_s + t_quant):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ladder", type=Path, help="a ladder directory (default: build tiny)")
    parser.add_argument("--demo", action="store_true", help="use the bundled nano model")
    parser.add_argument("--quants", default="Q8_0,Q4_K_M,Q2_K")
    parser.add_argument("--text", type=Path, help="text file (default: generated corpus)")
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--chunks", type=int, default=8, help="chunks of generated text")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top-k", type=int, default=1024, help="reference log-probs kept")
    parser.add_argument("--perplexity", type=Path, default=PERPLEXITY)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="quality-bench-"))
    os.environ["VIBE_LOCAL_HOME"] = str(work / "home")
    ladder = args.ladder or (demo_ladder(work) if args.demo else tiny_ladder(work))
    from vibe_local.bench.corpus import generated_corpus
    from vibe_local.bench.quality import split_ladder
    from vibe_local.gguf_info import options_from_path

    reference, quants = split_ladder(options_from_path(ladder), args.quants.split(","))
    text_file = args.text
    if text_file is None:
        text_file = work / "corpus.txt"
        text = generated_corpus(reference.path, args.chunks * args.ctx, threads=args.threads,
                                progress=lambda line: print(line, file=sys.stderr))
        text_file.write_bytes(text.encode("utf-8"))
    print(f"ladder {ladder}, reference {reference.quant}, text {text_file}")
    for option in quants:
        compare(option.quant, reference.path, option.path, text_file, args, work)


if __name__ == "__main__":
    main()
