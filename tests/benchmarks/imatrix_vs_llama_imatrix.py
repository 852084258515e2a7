"""Benchmark: `vibe-quantize imatrix` against llama.cpp's `llama-imatrix`, then quantizing with it.

On one master GGUF (normally the checkpoint with VibeThinker-1.5B's shapes), both tools collect
an importance matrix from the same text (vibe-quantize's default calibration text written to a
file), the same chunks and context, the same thread count; runs alternate (ours, theirs, ours,
…) and the medians are reported, so load from other work on the machine cancels out. Printed:

- per-tensor relative difference of the statistics, max |ours - theirs| / max |theirs| over each
  tensor's sums (target <= 1e-3), and whether every count agrees;
- wall-time ratio ours / theirs (target <= 1.1) and each side's peak RSS;
- our Q4_K_M made with llama-imatrix's file vs `llama-quantize --imatrix` with the same file on
  the same master: byte-identical or not (target: identical).

llama-imatrix is run with `-b CTX` so it evaluates one chunk per batch as we do (its default
packs 2048 / CTX chunks into one batch; the statistic is the same), `--no-ppl` (we compute no
perplexity) and `--parse-special` (we read <|im_start|> as the special token it is).

    python tests/benchmarks/imatrix_vs_llama_imatrix.py \
        --master /work/scratch/b15/ladder/vibethinker-1.5b-synthetic-BF16.gguf \
        --bin /work/scratch/llama-build/bin --chunks 2 --reps 2 --workdir /tmp/imat-bench

Not a test: machines here are noisy, so it reports ratios measured in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from quantize.imatrix.calibration import default_text  # noqa: E402
from quantize.imatrix.imatrix_file import read_imatrix  # noqa: E402
from quantize.imatrix.quant_params import ImatrixInput  # noqa: E402
from quantize.llama_quantize import quantize_gguf  # noqa: E402


def timed(command: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes) of one child process; fails loudly on an error."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"failed ({status}): {' '.join(command)}\n"
                         f"{child.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss * 1024


def compare(ours: Path, theirs: Path) -> tuple[float, str, bool]:
    """(largest per-tensor relative difference, that tensor, all counts equal)."""
    a, b = read_imatrix(ours), read_imatrix(theirs)
    if set(a.entries) != set(b.entries):
        raise SystemExit(f"different tensors: only ours {sorted(set(a.entries) - set(b.entries))}"
                         f", only theirs {sorted(set(b.entries) - set(a.entries))}")
    worst, where, counts = 0.0, "", True
    for name, entry in a.entries.items():
        other = b.entries[name]
        diff = float(np.abs(entry.sums - other.sums).max() / np.abs(other.sums).max())
        if diff > worst:
            worst, where = diff, name
        counts &= entry.counts.tolist() == other.counts.tolist()
    return worst, where, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--master", required=True)
    parser.add_argument("--bin", required=True, help="directory with llama-imatrix and "
                        "llama-quantize")
    parser.add_argument("--chunks", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    text = work / "calibration.txt"
    text.write_text(default_text(), encoding="utf-8")
    common = ["--chunks", str(args.chunks)]
    ours_cmd = [sys.executable, "-m", "quantize.cli", "imatrix", args.master, "--calibration",
                str(text), "--ctx", str(args.ctx), "--threads", str(args.threads), *common,
                "-o", str(work / "ours.imatrix.gguf")]
    theirs_cmd = [str(Path(args.bin) / "llama-imatrix"), "-m", args.master, "-f", str(text),
                  "-c", str(args.ctx), "-b", str(args.ctx), "-t", str(args.threads),
                  "--no-ppl", "--parse-special", *common, "-o", str(work / "theirs.imatrix.gguf")]
    runs: dict[str, list[tuple[float, int]]] = {"ours": [], "theirs": []}
    for rep in range(args.reps):
        for side, command in (("ours", ours_cmd), ("theirs", theirs_cmd)):
            runs[side].append(timed(command))
            print(f"rep {rep + 1} {side}: {runs[side][-1][0]:.1f} s", flush=True)
    worst, where, counts = compare(work / "ours.imatrix.gguf", work / "theirs.imatrix.gguf")
    wall = {side: statistics.median(r[0] for r in runs[side]) for side in runs}
    rss = {side: max(r[1] for r in runs[side]) for side in runs}
    print(f"statistics: max per-tensor relative difference {worst:.2e} ({where}); counts "
          f"{'equal' if counts else 'DIFFER'}  (target <= 1e-3)")
    print(f"wall time: ours {wall['ours']:.1f} s, llama-imatrix {wall['theirs']:.1f} s, ratio "
          f"{wall['ours'] / wall['theirs']:.3f}  (target <= 1.1)")
    print(f"peak RSS: ours {rss['ours'] / 2**20:,.0f} MiB, llama-imatrix "
          f"{rss['theirs'] / 2**20:,.0f} MiB")
    quantize_check(args, work)


def quantize_check(args: argparse.Namespace, work: Path) -> None:
    """Our Q4_K_M with llama-imatrix's file against llama-quantize's, byte for byte."""
    matrix = str(work / "theirs.imatrix.gguf")
    ours, theirs = work / "ours-Q4_K_M.gguf", work / "theirs-Q4_K_M.gguf"
    quantize_gguf(Path(args.master), ours, "Q4_K_M", threads=args.threads,
                  imatrix=ImatrixInput(read_imatrix(matrix), matrix))
    timed([str(Path(args.bin) / "llama-quantize"), "--imatrix", matrix, args.master, str(theirs),
           "Q4_K_M", str(args.threads)])
    same = ours.read_bytes() == theirs.read_bytes()
    print(f"Q4_K_M with that imatrix vs llama-quantize --imatrix: "
          f"{'byte-identical' if same else 'DIFFERENT'} ({ours.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
