"""Predicted speed of a placement (generated and prompt tokens/s), learned from real runs.

Generating a token reads every weight of the layers on each device once, plus the KV cache of
the positions attended so far (bench/roofline.py), so a token takes the sum over devices of
bytes / bandwidth. On the CPU the arithmetic adds to that (2 FLOPs per weight, 4 per attended
position and head dimension, and the logits, at the CPU's measured matrix-product rate): a
laptop's few cores do not hide it behind the reads. The longer-of-the-two roofline this
replaced needed a bandwidth share fitted by hand (0.6) and still predicted BF16 25-32 % too
slow on a 2-core EPYC; the sum has no fitted constant and predicted 0.78-1.18 of the measured
speed for BF16, Q8_0, Q4_K_M and Q2_K there over two runs (tests/benchmarks/speed_prediction.py,
README). On
many cores the arithmetic term shrinks and the reads decide. A GPU also pays a fixed launch
cost per layer, which dominates small models on big GPUs. Processing a prompt shares each
weight read among a batch of tokens and is bounded by compute alone.

Kernels reach only a share of either roofline, and the share depends on the machine and the
quant (e.g. whether llama.cpp repacks that type for this CPU). So every real
generation is recorded (speed_store.py) as measured / roofline, and predictions use, in order:
the runs of this very file and placement ("measured"); the median over this machine's other
runs on the same kind of device ("learned"); else typical shares ("predicted").

`gen tok/s` is the mean over an 8,000-token reply from an empty cache (KV read at position
4,000), so `reply` = 8,000 / gen tok/s; VibeThinker's replies to hard problems are longer still.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from .fitting import Estimate, kv_bytes_per_token
from .gguf_info import ModelGeometry
from .machine_speed import DeviceSpeed, MachineSpeed
from .speed_store import Run

REPLY_TOKENS = 8000
PROMPT_TOKENS = 512  # the prompt speed shown is for a prompt this long (llama-bench's pp512)
# Shares of the roofline llama.cpp typically reaches on a GPU: generation ~70 % of the read
# bandwidth; prompts a third of the tensor-core peak. On the CPU, generation is bytes at the
# measured bandwidth plus FLOPs at the measured rate, and prompts run at about the float32 BLAS
# rate (llama.cpp's quantized kernels match it): no share.
GPU_GEN_SHARE = 0.7
CPU_PROMPT_SHARE, GPU_PROMPT_SHARE = 1.0, 0.3
ROOFLINE_VERSION = 2  # recorded with each run: ratios to another version's roofline are void
GPU_LAYER_S = 15e-6  # kernel launches and syncs per layer and token (CUDA graphs on)
RECENT_RUNS = 5  # the newest runs of a setup that its prediction follows


@dataclass(frozen=True)
class Traffic:
    """Per token and device: bytes read (generation) and FLOPs (prompt)."""

    cpu_bytes: float
    gpu_bytes: float
    cpu_flops: float
    gpu_flops: float
    gpu_layers: int
    cpu_gen_flops: float  # a generated token's FLOPs on the CPU (its layers and the logits)


@dataclass(frozen=True)
class SpeedPrediction:
    """What a placement is expected to do, and what the figure rests on."""

    gen_tok_s: float
    prompt_tok_s: float
    reply_s: float  # REPLY_TOKENS generated tokens
    source: str  # "measured" | "learned" | "predicted"

    def to_dict(self) -> dict:
        return asdict(self)


def layer_params(g: ModelGeometry) -> int:
    """Weights of one block's matrices (q, k, v, o and the three FFN projections)."""
    q_width = g.n_head * g.head_dim_k
    return (g.n_embd * q_width + g.n_embd * g.n_head_kv * (g.head_dim_k + g.head_dim_v)
            + g.n_head * g.head_dim_v * g.n_embd + 3 * g.n_embd * g.n_ff)


def traffic(g: ModelGeometry, n_gpu_layers: int, kv_type: str, position: float) -> Traffic:
    """Bytes and FLOPs per token at `position` for a layer split (as in fitting.estimate:
    n_gpu_layers = k puts the output and the top k - 1 blocks on the GPU)."""
    gpu_layers = max(0, min(n_gpu_layers, g.n_layer + 1) - 1)
    cpu_layers = g.n_layer - gpu_layers
    kv_layer = kv_bytes_per_token(g, kv_type) / g.n_layer * position
    cpu_bytes = sum(g.layer_bytes[:cpu_layers]) + kv_layer * cpu_layers
    cpu_bytes += g.token_embd_bytes / g.n_vocab  # the one embedding row looked up
    gpu_bytes = sum(g.layer_bytes[cpu_layers:]) + kv_layer * gpu_layers
    if n_gpu_layers > 0:
        gpu_bytes += g.output_bytes
    else:
        cpu_bytes += g.output_bytes
    per_layer = 2 * layer_params(g) + 4 * g.n_head * g.head_dim_k * position
    output = 2 * g.n_vocab * g.n_embd  # the logits: every generated token, a prompt's last only
    cpu_flops, gpu_flops = per_layer * cpu_layers, per_layer * gpu_layers
    return Traffic(cpu_bytes, gpu_bytes, cpu_flops, gpu_flops, gpu_layers,
                   cpu_flops + (0 if n_gpu_layers > 0 else output))


def roofline(g: ModelGeometry, n_gpu_layers: int, kv_type: str, machine: MachineSpeed,
             position: float) -> tuple[float, float]:
    """(generated tokens/s, prompt tokens/s) at `position` with the typical shares."""
    t = traffic(g, n_gpu_layers, kv_type, position)
    gen = t.cpu_bytes / machine.cpu.bytes_per_s + t.cpu_gen_flops / machine.cpu.flops
    prompt = t.cpu_flops / (machine.cpu.flops * CPU_PROMPT_SHARE)
    if t.gpu_bytes:
        gpu = machine.gpu or _absent_gpu(machine)
        gen += t.gpu_bytes / (gpu.bytes_per_s * GPU_GEN_SHARE) + GPU_LAYER_S * t.gpu_layers
        prompt += t.gpu_flops / (gpu.flops * GPU_PROMPT_SHARE)
    return 1 / gen, 1 / prompt


def _absent_gpu(machine: MachineSpeed) -> DeviceSpeed:
    """A plan with GPU layers on a machine without GPU figures runs at the CPU's speed."""
    return machine.cpu


def uses_gpu(n_gpu_layers: int) -> bool:
    return n_gpu_layers > 0


class SpeedModel:
    """Predictions for one machine, corrected by the runs recorded on it."""

    def __init__(self, machine: MachineSpeed, runs: list[Run]):
        self.machine = machine
        self.runs = [r for r in runs if r.roofline == ROOFLINE_VERSION]

    def predict(self, path: str, g: ModelGeometry, e: Estimate) -> SpeedPrediction:
        """Speed of `e` (one placement of the file at `path`) over an 8,000-token reply."""
        gen = roofline(g, e.n_gpu_layers, e.kv_type, self.machine,
                       min(REPLY_TOKENS, e.ctx) / 2)[0]
        prompt = roofline(g, e.n_gpu_layers, e.kv_type, self.machine,
                          min(PROMPT_TOKENS, e.ctx) / 2)[1]
        gen_ratio, prompt_ratio, source = self._correction(path, g.file_bytes, e)
        gen *= gen_ratio
        prompt *= prompt_ratio
        return SpeedPrediction(gen, prompt, REPLY_TOKENS / gen, source)

    def _correction(self, path: str, file_bytes: int, e: Estimate) -> tuple[float, float, str]:
        """(generation factor, prompt factor, source) from this machine's runs."""
        own = [r for r in self.runs
               if r.same_setup(path, file_bytes, e.n_gpu_layers, e.kv_type)][-RECENT_RUNS:]
        kind = [r for r in self.runs if uses_gpu(r.n_gpu_layers) == uses_gpu(e.n_gpu_layers)]
        for found, source in ((own, "measured"), (kind, "learned")):
            if found:
                prompts = [r.prompt_ratio for r in found if r.prompt_ratio]
                prompt = statistics.median(prompts) if prompts else 1.0
                return statistics.median(r.gen_ratio for r in found), prompt, source
        return 1.0, 1.0, "predicted"


MIN_RUN_TOKENS = 32  # shorter replies time mostly the first tokens' noise
MIN_PROMPT_TOKENS = 64  # shorter prompts are not compute-bound


def observe(machine: MachineSpeed, path: str, g: ModelGeometry, n_gpu_layers: int,
            kv_type: str, stats) -> Run | None:
    """The run to record for a finished generation (`generation.GenerationStats`), or None
    when it was too short to say anything."""
    if stats.completion_tokens < MIN_RUN_TOKENS or stats.generation_tokens_per_s <= 0:
        return None
    position = stats.prompt_tokens + stats.completion_tokens / 2
    gen = roofline(g, n_gpu_layers, kv_type, machine, position)[0]
    evaluated = stats.prompt_tokens - stats.cached_prompt_tokens
    prompt_speed = stats.prompt_tokens_per_s if evaluated >= MIN_PROMPT_TOKENS else None
    prompt_roof = roofline(g, n_gpu_layers, kv_type, machine, evaluated / 2)[1]
    return Run(machine.key, path, g.file_bytes, n_gpu_layers, kv_type,
               stats.generation_tokens_per_s, stats.generation_tokens_per_s / gen,
               prompt_speed, prompt_speed / prompt_roof if prompt_speed else None,
               roofline=ROOFLINE_VERSION)
