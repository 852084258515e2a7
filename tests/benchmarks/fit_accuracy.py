"""Benchmark: the memory fit's prediction against the RSS of a real llama.cpp process.

For a model shaped exactly like VibeThinker-1.5B (synthetic weights, the full 151,936-token
vocabulary), loads each file through `open_llama` in a fresh Python process exactly as the
runtime does (`api.load`: n_batch = n_ubatch = 512, f16 KV cache, flash attention, all on the
CPU, repacking as the backend self-test allows and the file mapped or read as `open_llama`
decides), evaluates a short prompt and one decode step, and compares the process's peak RSS with
`vibe_local.fitting.estimate(...).total_bytes`. Also prints llama.cpp's own buffer sizes next to
the predicted terms. `--repack both` measures with repacking off and on (on only where the
self-test allows it).

    python tests/benchmarks/fit_accuracy.py --workdir /tmp/bench [--ctx 4096 8192 32768]

Reuses `<workdir>/ladder` (from convert_vs_reference.py --ladder) when present, else builds the
synthetic checkpoint and the Q4_K_M + Q8_0 ladder there. `measure()` is also what the honesty test
in tests/test_fit.py runs on tiny models.

The estimate is a peak: the compute buffer is counted as if a full 512-token batch ran with the
context full. A short prompt touches little of it, so measured/predicted sits a little below 1;
`--fill` fills the context to reach the peak (slow for big models).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIB = 2**20

# Runs in a fresh interpreter so that nothing the caller allocated counts.
_CHILD = r"""
import collections, gc, json, resource, sys
import psutil
P = json.loads(sys.argv[1])
proc = psutil.Process()
def rss():
    gc.collect()
    return proc.memory_info().rss
sys.path.insert(0, P["root"])
import llama_cpp
from quantize import llama_log
from vibe_local.backend import is_mapped, open_llama
llama_log._recent = collections.deque(maxlen=100000)  # keep every line for the buffer sizes
imported = rss()
kv = {"type_k": 8, "type_v": 8} if P["kv_type"] == "q8_0" else {}  # GGML_TYPE_Q8_0
llm = open_llama(P["path"], repack=P["repack"], n_ctx=P["ctx"], n_batch=512, n_ubatch=512,
                 flash_attn=P["flash_attn"], n_threads=2, **kv)
loaded = rss()
mapped = is_mapped(llm)
n_vocab = llm.n_vocab()
tokens = [(i * 7919) % (n_vocab - 20) + 10 for i in range(P["n_prompt"])]
llm.eval(tokens)
llm.eval([tokens[0]])
after = rss()
def peak_rss():
    # VmHWM belongs to this address space; ru_maxrss on Linux also counts the parent's pages
    # from before exec (the forked copy), so it would report the caller's size
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
    except OSError:
        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
peak = peak_rss()
lines = [l.strip() for l in "".join(llama_log._recent).splitlines() if "buffer size" in l]
print(json.dumps({"imported": imported, "loaded": loaded, "rss": after, "peak": peak,
                  "mapped": mapped, "lines": lines}))
"""


def _buffers(lines: list[str]) -> dict[str, float]:
    """{"model": MiB, "KV": MiB, "compute": MiB, "output": MiB} from llama.cpp's log lines."""
    found: dict[str, float] = {}
    for line in lines:
        match = re.search(r"(model|KV|compute|output) buffer size =\s+([\d.]+) MiB", line)
        if match:
            found[match.group(1)] = found.get(match.group(1), 0.0) + float(match.group(2))
    return found


def measure(path: Path, ctx: int, *, n_prompt: int = 16, kv_type: str = "f16",
            flash_attn: bool = True, repack: bool = False, timeout: float = 600) -> dict:
    """Load `path` in a fresh process as the runtime does, run n_prompt tokens and one decode
    step. `repack`: what the runtime passes (`selftest.repack_allowed()`).

    Returns {"rss": bytes after the decode, "peak": the process's peak RSS, "imported": bytes
    before loading, "loaded": bytes after loading, "mapped": whether open_llama mapped the file,
    "buffers": llama.cpp's buffer sizes in MiB}. n_prompt = ctx - 1 fills the context, which
    touches the whole compute buffer.
    """
    params = {"root": str(ROOT), "path": str(path), "ctx": ctx, "kv_type": kv_type,
              "flash_attn": flash_attn, "n_prompt": n_prompt, "repack": repack}
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(params)],
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measurement of {path} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["buffers"] = _buffers(result.pop("lines"))
    return result


def _ladder(workdir: Path) -> Path:
    """A ladder directory with the 1.5B-shaped model: reuse the benchmark's, else build one."""
    from quantize.ladder import build_ladder
    from quantize.manifest import load_manifest

    for ladder in (workdir / "ladder", workdir / "fit-ladder"):
        if load_manifest(ladder) is not None:
            return ladder
    sys.path.insert(0, str(Path(__file__).parent))
    from convert_vs_reference import build_checkpoint

    src = workdir / "vibethinker-1.5b-synthetic"
    if not (src / "config.json").is_file():
        print(f"building synthetic checkpoint in {src} ...", flush=True)
        build_checkpoint(src)
    build_ladder(src, workdir / "fit-ladder", ["Q4_K_M", "Q8_0"])
    return workdir / "fit-ladder"


def _repack_settings(choice: str) -> list[bool]:
    """"auto": what the runtime would use here; "both": off, then on where the self-test allows."""
    from vibe_local.selftest import repack_allowed

    allowed = repack_allowed()
    if choice == "auto":
        return [allowed]
    if choice == "both":
        return [False, True] if allowed else [False]
    if choice == "on" and not allowed:
        sys.exit("the backend self-test does not allow repacking on this machine")
    return [choice == "on"]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from vibe_local.fitting import estimate
    from vibe_local.gguf_info import options_from_path, read_geometry

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench"))
    parser.add_argument("--ladder", type=Path, help="a ladder directory to measure (default: "
                        "<workdir>/ladder, else one built there)")
    parser.add_argument("--ctx", type=int, nargs="+", default=[4096, 8192, 32768])
    parser.add_argument("--quants", nargs="+", default=["Q4_K_M", "Q8_0", "BF16"])
    parser.add_argument("--repack", choices=("auto", "on", "off", "both"), default="both")
    parser.add_argument("--fill", action="store_true", help="fill the context (slow)")
    args = parser.parse_args()
    options = {o.quant: o for o in options_from_path(args.ladder or _ladder(args.workdir))}
    print(f"{'quant':<7} {'ctx':>6} {'repack':>6} {'mapped':>6}  {'weights':>8} {'KV':>7} "
          f"{'compute':>8} {'overhead':>8}  {'predicted':>9} {'peak':>9} {'ratio':>6}   "
          "llama.cpp model / KV / compute")
    for quant in [q for q in args.quants if q in options]:
        g = read_geometry(options[quant].path)
        for ctx in args.ctx:
            for repack in _repack_settings(args.repack):
                e = estimate(g, ctx=ctx)
                m = measure(options[quant].path, ctx, n_prompt=ctx - 1 if args.fill else 16,
                            repack=repack)
                b = m["buffers"]
                print(f"{quant:<7} {ctx:>6} {'on' if repack else 'off':>6} "
                      f"{'yes' if m['mapped'] else 'no':>6}  {e.weights_bytes / MIB:>8.1f} "
                      f"{e.kv_bytes / MIB:>7.1f} {e.compute_bytes / MIB:>8.1f} "
                      f"{e.overhead_bytes / MIB:>8.1f}  {e.total_bytes / MIB:>9.1f} "
                      f"{m['peak'] / MIB:>9.1f} {m['peak'] / e.total_bytes:>6.3f}   "
                      f"{b.get('model', 0):.1f} / {b.get('KV', 0):.1f} / "
                      f"{b.get('compute', 0):.1f} MiB", flush=True)
    print("sizes in MiB; peak = the process's peak RSS over load + prompt + one decode step")


if __name__ == "__main__":
    main()
