"""Device check (not a test): the fit and the engine on a real NVIDIA GPU.

Run on a machine with a CUDA build of llama-cpp-python. For a tiny fixture model and, with
--big, a model with VibeThinker-1.5B's exact shapes (random weights, Q4_K_M), it prints what the
hardware probe sees, the fit's choice (full offload expected), the VRAM the fit predicted for the
GPU part against what nvidia-smi measured after load plus a short generation, and the speed. It
then simulates a small GPU (partial offload) and checks that loading and generating still work.

    python tests/benchmarks/cuda_offload_check.py --work /tmp/cuda-check [--big]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "benchmarks")]

import vibe_local  # noqa: E402
from vibe_local.fitting import estimate, format_table  # noqa: E402


def vram_used() -> int:
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,"
                          "nounits"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) * 2**20


def gpu_bytes(choice) -> int:
    """The part of the chosen configuration the fit places in VRAM."""
    from vibe_local.gguf_info import read_geometry

    e = estimate(read_geometry(choice.path), ctx=choice.ctx, kv_type=choice.kv_type,
                 n_gpu_layers=choice.n_gpu_layers, flash_attn=choice.flash_attn)
    return e.gpu_bytes


def tiny_model(work: Path) -> Path:
    from fixtures.qwen2_checkpoint import TinyQwen2Spec, build_checkpoint
    from quantize.ladder import build_ladder

    spec = TinyQwen2Spec(hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
                         num_attention_heads=8, num_key_value_heads=2, vocab_size=4096,
                         max_position_embeddings=32768, num_shards=1)
    ckpt = build_checkpoint(work / "tiny-ckpt", spec)
    build_ladder(ckpt.path, work / "tiny-ladder", ["Q4_K_M"], name="tiny")
    return work / "tiny-ladder"


def big_model(work: Path) -> Path:
    from convert_vs_reference import build_checkpoint

    from quantize.ladder import build_ladder

    src = work / "vt15-synthetic"
    if not (src / "config.json").is_file():
        build_checkpoint(src)
    build_ladder(src, work / "vt15-ladder", ["Q4_K_M"], name="vt15")
    return work / "vt15-ladder"


def check(model: Path, label: str, **fit_args) -> None:
    print(f"\n=== {label}: {model.name} {fit_args or ''}", flush=True)
    result = vibe_local.fit(model, **fit_args)
    print(format_table(result))
    choice = result.choice
    before = vram_used()
    started = time.perf_counter()
    with vibe_local.load(model, quant=choice.quant, ctx=choice.ctx,
                         gpu=fit_args.get("gpu")) as loaded:
        load_s = time.perf_counter() - started
        reply = loaded.chat("Count from one to twenty.", max_tokens=64, seed=1)
        measured = vram_used() - before
        s = reply.stats
    print(f"n_gpu_layers {choice.n_gpu_layers}, ctx {choice.ctx:,}, kv {choice.kv_type}, "
          f"flash_attn {choice.flash_attn}, load {load_s:.1f} s")
    predicted = gpu_bytes(choice)
    print(f"VRAM predicted {predicted / 2**20:,.0f} MiB, measured {measured / 2**20:,.0f} "
          f"MiB, ratio {measured / max(predicted, 1):.3f}")
    print(f"prompt {s.prompt_tokens_per_s:,.0f} tok/s, generation "
          f"{s.generation_tokens_per_s:,.1f} tok/s, {s.completion_tokens} tokens, "
          f"{s.finish_reason}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--big", action="store_true")
    parser.add_argument("--skip-tiny", action="store_true")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    import llama_cpp

    print("gpu offload supported:", llama_cpp.llama_supports_gpu_offload())
    from vibe_local.hardware import probe

    print("hardware:", probe().to_dict())
    if not args.skip_tiny:
        tiny = tiny_model(args.work)
        check(tiny, "tiny, real GPU")
        check(tiny, "tiny, simulated 160 MiB GPU (partial offload)", gpu="cuda:160MiB")
    if args.big:
        big = big_model(args.work)
        check(big, "1.5B-shaped Q4_K_M, real GPU")
        check(big, "1.5B-shaped Q4_K_M, real GPU, ctx 8192", ctx=8192)


if __name__ == "__main__":
    main()
