"""Benchmark: what reading the file instead of mapping it costs at load, with repacking on.

`backend.open_llama` reads a model (use_mmap=False) when llama.cpp may repack its weights, so
that one copy is resident (see vibe_local/backend.py). This loads each file in fresh processes,
mapped and read in turn (A B A B ..., so load from other work cancels), with a warm page cache,
and prints the median load time and RSS after loading of each, and their ratio.

    python tests/benchmarks/load_time_read_vs_map.py FILE.gguf [FILE.gguf ...] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIB = 2**20

_CHILD = r"""
import json, sys, time
import psutil
sys.path.insert(0, sys.argv[1])
import llama_cpp
from vibe_local.backend import open_llama
path, mapped = sys.argv[2], sys.argv[3] == "1"
start = time.perf_counter()
llm = open_llama(path, repack=True, use_mmap=mapped, n_ctx=4096, n_batch=512, n_ubatch=512,
                 flash_attn=True, n_threads=2)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rss": psutil.Process().memory_info().rss}))
"""


def load_once(path: Path, mapped: bool) -> dict:
    """Load `path` in a fresh process; {"seconds": load time, "rss": bytes after loading}."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT), str(path), str(int(mapped))],
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from vibe_local.selftest import repack_allowed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    if not repack_allowed():
        sys.exit("the backend self-test does not allow repacking here; nothing to compare")
    print(f"{'file':<44} {'mapped s':>8} {'read s':>7} {'ratio':>6}  {'mapped RSS':>10} "
          f"{'read RSS':>9}")
    for path in args.files:
        load_once(path, True)  # warm the page cache
        runs: dict[bool, list[dict]] = {True: [], False: []}
        for _ in range(args.reps):
            for mapped in (True, False):
                runs[mapped].append(load_once(path, mapped))
        secs = {m: statistics.median(r["seconds"] for r in runs[m]) for m in runs}
        rss = {m: statistics.median(r["rss"] for r in runs[m]) for m in runs}
        print(f"{path.name:<44} {secs[True]:>8.2f} {secs[False]:>7.2f} "
              f"{secs[False] / secs[True]:>6.2f}  {rss[True] / MIB:>8.0f} MiB "
              f"{rss[False] / MIB:>5.0f} MiB", flush=True)
    print(f"medians of {args.reps} interleaved loads each, repacking on, n_ctx 4096")


if __name__ == "__main__":
    main()
