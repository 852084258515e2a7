"""Benchmark: `vibe-quantize convert` against llama.cpp's `convert_hf_to_gguf.py`.

Builds a synthetic checkpoint with VibeThinker-1.5B's exact shapes (random bf16 weights, the full
151,936-row vocabulary, two safetensors shards), converts it to F16 with both tools in the same
run (alternating, twice each), and prints wall time, peak RSS, their ratios, and whether the two
outputs are byte-identical. Optionally times the whole default ladder.

The reference needs its own environment (torch, transformers, llama.cpp's gguf-py), e.g. from the
llama-cpp-python sdist in a scratch directory; pass how to run it as a command template:

    python tests/benchmarks/convert_vs_reference.py --workdir /tmp/bench \
        --reference-cmd 'bash /tmp/ref/run_reference.sh {src} f16 {out}'

The synthetic tokenizer is small (its vocabulary is padded to 151,936 rows), so llama.cpp's
converter, which recognises pre-tokenizers by hashing the ids of a probe string, needs its
"unknown tokenizer" check bypassed (our run_reference.sh maps it to "qwen2"); conversion time is
dominated by tensors and unaffected.

Not a test: machines here are noisy, so it reports ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.qwen2_checkpoint import CHATML_TEMPLATE, train_tokenizer  # noqa: E402
from quantize.manifest import sha256_file  # noqa: E402
from quantize.qwen2 import Qwen2Config, expected_shapes  # noqa: E402

VIBETHINKER_1_5B = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
    "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
    "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936,
    "max_position_embeddings": 40960, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True, "torch_dtype": "bfloat16", "bos_token_id": 151643,
    "eos_token_id": 151645, "use_sliding_window": False, "sliding_window": 4096,
    "max_window_layers": 21, "attention_dropout": 0.0, "initializer_range": 0.02,
    "use_cache": True,
}


def tensor_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    """Hugging Face tensor name -> shape, from the converter's Qwen2 layout."""
    return dict(sorted(expected_shapes(Qwen2Config.from_hf(cfg), has_lm_head=False).items()))


def write_shard(path: Path, shapes: dict[str, tuple[int, ...]], rng: np.random.Generator) -> None:
    """Stream random bf16 tensors into one safetensors file (header first, then data)."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        nbytes = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little") + raw)
        for name, shape in shapes.items():
            n, done = int(np.prod(shape)), 0
            while done < n:
                count = min(n - done, 1 << 24)
                values = rng.standard_normal(count, dtype=np.float32) * 0.02
                if name.endswith("norm.weight"):
                    values += 1.0
                f.write((values.view(np.uint32) >> 16).astype(np.uint16).tobytes())
                done += count


def build_checkpoint(path: Path) -> None:
    """A checkpoint shaped like VibeThinker-1.5B, in two shards with an index."""
    path.mkdir(parents=True, exist_ok=True)
    cfg = VIBETHINKER_1_5B
    shapes = tensor_shapes(cfg)
    names = list(shapes)
    halves = [names[: len(names) // 2], names[len(names) // 2 :]]
    rng = np.random.default_rng(0)
    weight_map = {}
    for i, part in enumerate(halves, start=1):
        file = f"model-0000{i}-of-00002.safetensors"
        write_shard(path / file, {n: shapes[n] for n in part}, rng)
        weight_map |= {n: file for n in part}
    total = sum(int(np.prod(s)) * 2 for s in shapes.values())
    (path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
    (path / "config.json").write_text(json.dumps(cfg, indent=2))
    tokenizer = train_tokenizer(4000)
    tokenizer.save(str(path / "tokenizer.json"))
    ids = {t: tokenizer.token_to_id(t) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")}
    (path / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
        "tokenizer_class": "Qwen2Tokenizer", "model_max_length": 40960,
        "chat_template": CHATML_TEMPLATE}))
    cfg_ids = dict(cfg, bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"])
    (path / "config.json").write_text(json.dumps(cfg_ids, indent=2))


def run_measured(command: list[str]) -> tuple[float, int]:
    """Run a command; return (wall seconds, peak RSS bytes of the process)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {shlex.join(command)}\n{process.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--reference-cmd", required=True,
                        help="command template with {src} and {out}")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ladder", action="store_true", help="also time the default ladder")
    args = parser.parse_args()
    src = args.workdir / "vibethinker-1.5b-synthetic"
    if not (src / "config.json").is_file():
        print(f"building synthetic checkpoint in {src} ...", flush=True)
        build_checkpoint(src)
    ours_out, ref_out = args.workdir / "ours-F16.gguf", args.workdir / "reference-F16.gguf"
    ours_cmd = [sys.executable, "-m", "quantize.cli", "convert", str(src), "--outtype", "f16",
                "-o", str(ours_out)]
    ref_cmd = shlex.split(args.reference_cmd.format(src=src, out=ref_out))
    results: dict[str, list[tuple[float, int]]] = {"vibe-quantize": [], "reference": []}
    for _ in range(args.repeats):
        results["vibe-quantize"].append(run_measured(ours_cmd))
        results["reference"].append(run_measured(ref_cmd))
    report(results, sha256_file(ours_out) == sha256_file(ref_out))
    if args.ladder:
        seconds, rss = run_measured([sys.executable, "-m", "quantize.cli", "ladder", str(src),
                                     "--out", str(args.workdir / "ladder"), "--force"])
        print(f"default ladder (BF16 master + 6 quants): {seconds:.1f} s, peak RSS "
              f"{rss / 2**20:,.0f} MiB")


def report(results: dict[str, list[tuple[float, int]]], identical: bool) -> None:
    for tool, runs in results.items():
        times = ", ".join(f"{t:.1f}" for t, _ in runs)
        peak = max(r for _, r in runs)
        print(f"{tool:>14}: wall {times} s   peak RSS {peak / 2**20:,.0f} MiB")
    best = {tool: min(t for t, _ in runs) for tool, runs in results.items()}
    rss = {tool: max(r for _, r in runs) for tool, runs in results.items()}
    ratio = best["vibe-quantize"] / best["reference"]
    print(f"time ratio (ours / reference, best of each): {ratio:.2f}")
    print(f"peak RSS ratio: {rss['vibe-quantize'] / rss['reference']:.2f}")
    print(f"outputs byte-identical: {identical}")


if __name__ == "__main__":
    main()
