"""Benchmark: `vibe-local bench quality`'s fidelity statistics against `llama-perplexity`.

On the same ladder files and the same text, runs llama.cpp's own tool

    llama-perplexity -m BASE -f TEXT -c 512 -t 2 --chunks N --kl-divergence-base base.kld
    llama-perplexity -m QUANT -f TEXT -c 512 -t 2 --chunks N --kl-divergence-base base.kld \
        --kl-divergence

and `vibe-local bench quality -m LADDER --quants QUANT --corpus TEXT --ctx 512 --chunks N
--threads 2 --json` with its default settings (the exact KLD over the whole vocabulary), from a
fresh data directory so that its reference pass really runs once, as llama-perplexity's base
run does; later quants reuse it on both sides. Prints mean KLD, same-top %,
PPL(Q)/PPL(base), RMS Δp and PPL(base) side by side with relative differences (target: within
1 % for the first three), the wall time of each side, and each side's peak RSS against the
memory target (the two models' files + 0.5 GiB).

    python tests/benchmarks/quality_vs_llama_perplexity.py                   # tiny ladder, built
    python tests/benchmarks/quality_vs_llama_perplexity.py --ladder DIR --quants Q4_K_M,Q8_0 \
        --text FILE --chunks 4 --perplexity PATH/llama-perplexity
    python tests/benchmarks/quality_vs_llama_perplexity.py --demo             # the bundled nano
    ... --top-k 1024                          # our lower-bound form instead, to see the gap

The text defaults to the bench's own generated corpus (written by the reference model), at
least 2 × ctx tokens long because llama-perplexity refuses less. Both sides use an F16 KV cache
and flash attention (llama-perplexity's `-fa auto` turns it on for this CPU backend). llama.cpp
keeps the reference as 16-bit codes over the 16 nats below each token's top log-prob and leaves
tokens under log-prob −16 out of the KLD sum; we keep 16-bit codes over 32 nats with the 64 most
likely tokens exact, so differences of a few 0.01 % are expected. Not a test: it reports numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PATTERNS = {  # llama-perplexity's summary lines -> value
    "kld": r"Mean\s+KLD:\s+([-\d.]+)",
    "same_top": r"Same top p:\s+([-\d.]+)",
    "ppl_ratio": r"Mean PPL\(Q\)/PPL\(base\)\s+:\s+([-\d.]+)",
    "dp_rms": r"RMS Δp\s+:\s+([-\d.]+)",
    "ppl_base": r"Mean PPL\(base\)\s+:\s+([-\d.]+)",
}
GIB = 1 << 30


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


def measured(args: list[str], env: dict | None = None) -> tuple[str, float, int]:
    """Run `args`; its output, wall seconds and peak RSS in bytes (os.wait4's rusage)."""
    with tempfile.TemporaryFile("w+") as log:
        start = time.perf_counter()
        child = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()
    if child.returncode != 0:
        sys.exit(f"{args[0]} failed ({child.returncode}):\n{output[-3000:]}")
    return output, seconds, usage.ru_maxrss * 1024


def drain_shim(work: Path) -> dict:
    """Environment that keeps llama-perplexity's summary from being lost at exit.

    llama.cpp's logger writes from a thread and is leaked on purpose (common/log.cpp), so on a
    busy machine the process can end before the last lines (the KLD summary) are written. A
    preloaded library whose destructor waits a second lets them drain; without a C compiler
    the run goes ahead as is.
    """
    source, library = work / "drain.c", work / "drain.so"
    source.write_text("#include <unistd.h>\n"
                      "__attribute__((destructor)) static void drain(void) { sleep(1); }\n")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler and subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library),
                                    str(source)], capture_output=True).returncode == 0:
        return dict(os.environ, LD_PRELOAD=str(library))
    print("no C compiler: llama-perplexity's last lines may be lost", file=sys.stderr)
    return dict(os.environ)


def llama_perplexity(args, model: Path, text: Path, base: Path, compare: bool):
    """llama-perplexity's figures, seconds and peak RSS."""
    argv = [str(args.perplexity), "-m", str(model), "-f", str(text),
            "-c", str(args.ctx), "-t", str(args.threads), "--kl-divergence-base", str(base)]
    if args.chunks:
        argv += ["--chunks", str(args.chunks)]
    if compare:
        argv.append("--kl-divergence")
    log, seconds, rss = measured(argv, args.perplexity_env)
    values = {k: float(m.group(1)) for k, p in PATTERNS.items() if (m := re.search(p, log))}
    if "same_top" in values:
        values["same_top"] /= 100
        values["dp_rms"] /= 100
    return values, seconds, rss


def ours(args, ladder: Path, quant: str, text: Path, home: Path):
    """`vibe-local bench quality` on one quant in data directory `home`: report, s, RSS."""
    argv = [sys.executable, "-m", "vibe_local.cli", "bench", "quality", "-m", str(ladder),
            "--quants", quant, "--corpus", str(text), "--ctx", str(args.ctx), "--threads",
            str(args.threads), "--json"]
    if args.chunks:
        argv += ["--chunks", str(args.chunks)]
    if args.top_k:
        argv += ["--top-k", str(args.top_k)]
    env = dict(os.environ, VIBE_LOCAL_HOME=str(home), PYTHONPATH=str(ROOT))
    output, seconds, rss = measured(argv, env)
    return json.loads(output[output.index("{"):output.rindex("}") + 1]), seconds, rss


def compare(option, reference, ladder: Path, text: Path, args, work: Path) -> None:
    base_file = work / f"base-{reference.path.stem}.kld"
    if not base_file.exists():
        _, compare.base_seconds, compare.base_rss = llama_perplexity(
            args, reference.path, text, base_file, compare=False)
    theirs, t_quant, rss_quant = llama_perplexity(args, option.path, text, base_file, True)
    report, our_seconds, our_rss = ours(args, ladder, option.quant, text, work / "home")
    stats, fidelity = report["quants"][0]["fidelity"], report["fidelity"]
    mine = {"kld": stats["kld_mean"], "same_top": stats["same_top"],
            "ppl_ratio": stats["ppl_ratio"], "dp_rms": stats["dp_rms"],
            "ppl_base": stats["ppl_base"]}
    form = "exact, whole vocabulary" if fidelity["top_k"] is None \
        else f"top-K {fidelity['top_k']}, max tail mass {fidelity['reference_max_tail_mass']:.4f}"
    print(f"\n{option.quant}: {report['corpus']['chunks']} chunks of {args.ctx}, "
          f"{report['corpus']['scored_tokens']} scored tokens, vocabulary {fidelity['vocab']:,}, "
          f"ours: {form}")
    print(f"  {'statistic':<12}{'llama-perplexity':>18}{'vibe-local':>14}{'rel. diff':>11}")
    for key in PATTERNS:
        a, b = theirs.get(key, float("nan")), mine[key]
        rel = (b - a) / a if a else float("nan")
        print(f"  {key:<12}{a:>18.6f}{b:>14.6f}{100 * rel:>10.2f}%"
              + ("  (llama prints 3 decimals of %)" if key == "dp_rms" else ""))
    base_s = compare.base_seconds if fidelity["reference_seconds"] else 0.0  # both cached
    print(f"  time: llama-perplexity base {base_s:.1f} s + quant {t_quant:.1f} s = "
          f"{base_s + t_quant:.1f} s; vibe-local bench quality {our_seconds:.1f} s (reference "
          f"pass {fidelity['reference_seconds']:.1f} s + quant pass "
          f"{stats['extra']['seconds']:.1f} s); ratio {our_seconds / (base_s + t_quant):.2f}")
    budget = reference.bytes + option.bytes + GIB // 2
    print(f"  peak RSS: llama-perplexity {max(compare.base_rss, rss_quant) / GIB:.2f} GiB, "
          f"vibe-local {our_rss / GIB:.2f} GiB; target ≤ the two files + 0.5 GiB = "
          f"{budget / GIB:.2f} GiB: {'met' if our_rss <= budget else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ladder", type=Path, help="a ladder directory (default: build tiny)")
    parser.add_argument("--demo", action="store_true", help="use the bundled nano model")
    parser.add_argument("--quants", default="Q8_0,Q4_K_M,Q2_K")
    parser.add_argument("--text", type=Path, help="text file (default: generated corpus)")
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--chunks", type=int, help="use the first N chunks (default: all; 8 "
                        "of generated text)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top-k", type=int, help="our lower-bound form (default: exact)")
    parser.add_argument("--perplexity", type=Path,
                        default=shutil.which("llama-perplexity") or "llama-perplexity")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="quality-bench-"))
    os.environ["VIBE_LOCAL_HOME"] = str(work / "home")
    from vibe_local.selftest import run_selftest

    run_selftest()
    args.perplexity_env = drain_shim(work)
    ladder = args.ladder or (demo_ladder(work) if args.demo else tiny_ladder(work))
    from vibe_local.bench.corpus import generated_corpus
    from vibe_local.bench.quality import split_ladder
    from vibe_local.gguf_info import options_from_path

    reference, quants = split_ladder(options_from_path(ladder), args.quants.split(","))
    text_file = args.text
    if text_file is None:
        text_file = work / "corpus.txt"
        text = generated_corpus(reference.path, (args.chunks or 8) * args.ctx,
                                threads=args.threads,
                                progress=lambda line: print(line, file=sys.stderr))
        text_file.write_bytes(text.encode("utf-8"))
    print(f"ladder {ladder}, reference {reference.quant}, text {text_file}, load average "
          f"{os.getloadavg()[0]:.2f}")
    for option in quants:
        compare(option, reference, ladder, text_file, args, work)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
