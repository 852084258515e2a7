"""Will it fit? Memory estimates per quant, the choice of quant / GPU layers / context, and why.

Estimates model what llama.cpp (the version we ship) allocates, term by term:

* weights: the tensor bytes of the layers on each device. llama.cpp keeps the input embedding
  on the CPU and offloads from the top: `n_gpu_layers = k` puts the output layer and the last
  k-1 blocks on the GPU (llama-model.cpp: i_gpu_start = n_layer + 1 - n_gpu_layers), so full
  offload is k = n_layer + 1. With CUDA a tied output matrix is a second copy of token_embd.
* KV cache: 2 (K and V) x layers x kv_heads x head_dim x n_ctx x bytes per element (f16: 2,
  q8_0: 34/32, from gguf.GGML_QUANT_SIZES); n_ctx padded to 256 as llama.cpp does.
* compute: llama.cpp sizes one buffer for the worst stage of a full n_ubatch graph. Fitted to
  its "compute buffer size" log lines (4 model shapes x 3 contexts x 2 ubatch sizes x FA on/off
  x f16/q8_0 KV: never below, at most 8% above). Attention needs the mask (n_ctx x n_ubatch;
  f32, or f16 with flash attention) plus, without flash attention, the scores n_ctx x n_ubatch
  x n_head x 4 and (5 n_embd + 2 n_embd_kv) x n_ubatch x 4; the FFN stage the mask plus
  (3 n_ff + 4 n_embd) x n_ubatch x 4; the logits stage (n_vocab x outputs + 3 n_embd x
  n_ubatch) x 4. llama.cpp reserves n_ubatch outputs, but the engine reads one token's logits,
  so on the CPU (where untouched pages cost nothing) one output is counted; on a GPU the
  reservation is committed and counted in full. The CPU backend also keeps a work buffer for
  converting matmul inputs: n_ff x n_ubatch x 2, or without flash attention the scores in f16
  for the V product (n_ctx x n_ubatch x n_head x 2), measured as RSS.
* overhead: the Python runtime with llama.cpp loaded, per-model tables (vocabulary, graph) and
  the CUDA context, measured (see tests/benchmarks/fit_accuracy.py).

Flash attention is planned on: llama.cpp's own default ("auto") enables it where supported, it
drops the n_ctx x n_head score matrix (~1 GiB for the 1.5B model at 40k context), and a q8_0 V
cache requires it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from quantize.display import GIB, MIB, format_bytes, format_duration, text_table

from .errors import InvalidRequestError
from .gguf_info import ModelGeometry, QuantOption, read_geometry
from .hardware import GpuInfo, Hardware

CTX_PAD = 256  # llama.cpp rounds n_ctx up to a multiple of 256 (llama-context.cpp)
KV_TYPES = ("f16", "q8_0")
# RSS of Python 3.11 with numpy and llama_cpp imported and libllama loaded (measured 47.4 MiB);
# the UI and other programs live in the RAM margin, not here.
RUNTIME_BYTES = 48 * MIB
# Per loaded model, beyond its buffers: graph metadata, threadpool, llama-cpp-python's arrays
# (a constant), and vocabulary tables, logits output and sampler arrays (per token). Fitted to
# the RSS after load of three models with 32k, 50k and 152k vocabularies (+-0.5 MiB).
LOAD_BYTES = 3 * MIB
VOCAB_TOKEN_BYTES = 176
CUDA_RUNTIME_BYTES = 384 * MIB  # CUDA context + cuBLAS workspace (public reports: 250-500 MiB)
GOOD_BPW = 4.5  # Q4_K_M and above keep reasoning quality; below it is a last resort
DEFAULT_RECOMMENDED_CTX = 40960  # VibeThinker's recommended generation budget
VERDICTS = ("full GPU", "partial GPU", "CPU", "does not fit")


@dataclass(frozen=True)
class Estimate:
    """Bytes one configuration needs, split by where they live."""

    ctx: int
    kv_type: str
    flash_attn: bool
    n_gpu_layers: int
    weights_bytes: int
    kv_bytes: int
    compute_bytes: int
    overhead_bytes: int
    gpu_bytes: int  # the part in VRAM / the Metal working set
    cpu_bytes: int  # the part in RAM

    @property
    def total_bytes(self) -> int:
        return self.cpu_bytes + self.gpu_bytes


def kv_bytes_per_token(g: ModelGeometry, kv_type: str = "f16") -> float:
    """KV cache bytes per token of context (all layers, K and V)."""
    import gguf

    if kv_type not in KV_TYPES:
        raise InvalidRequestError(f"unknown KV cache type {kv_type!r}; use one of {KV_TYPES}")
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[kv_type.upper()]]
    return g.n_layer * g.n_head_kv * (g.head_dim_k + g.head_dim_v) * size / block


def compute_bytes(g: ModelGeometry, ctx: int, n_ubatch: int, *, flash_attn: bool,
                  n_outputs: int) -> int:
    """One device's compute buffer plus the CPU backend's work buffer (see module docstring)."""
    ub, f32 = n_ubatch, 4
    mask = ctx * ub * (2 if flash_attn else f32)
    stages = [mask + (3 * g.n_ff + 4 * g.n_embd) * ub * f32,
              (g.n_vocab * n_outputs + 3 * g.n_embd * ub) * f32]
    work = g.n_ff * ub * 2
    if not flash_attn:
        scores = ctx * ub * g.n_head
        stages.append(mask + scores * f32 + (5 * g.n_embd + 2 * g.n_embd_kv) * ub * f32)
        work = max(work, scores * 2)
    return max(stages) + work


def overhead_bytes(g: ModelGeometry) -> int:
    """RAM the process needs beyond buffers: runtime, per-model tables, logits output."""
    return RUNTIME_BYTES + LOAD_BYTES + g.n_vocab * VOCAB_TOKEN_BYTES


def estimate(g: ModelGeometry, *, ctx: int, kv_type: str = "f16", n_gpu_layers: int = 0,
             n_batch: int = 512, n_ubatch: int = 512, flash_attn: bool = True,
             gpu_backend: str = "cuda") -> Estimate:
    """Memory one llama.cpp configuration needs, split into GPU and CPU parts.

    Args:
        n_gpu_layers: llama.cpp's count; the output layer goes first, n_layer + 1 is everything.
        gpu_backend: "cuda" (separate VRAM; a tied output is copied) or "metal" (unified).
    """
    requested, ctx = ctx, -(-ctx // CTX_PAD) * CTX_PAD
    ub = min(n_ubatch, n_batch, requested)
    k = max(0, min(n_gpu_layers, g.n_layer + 1))
    gpu_layers = max(0, k - 1)
    kv_layer = kv_bytes_per_token(g, kv_type) * ctx / g.n_layer
    kv_gpu, kv_cpu = int(kv_layer * gpu_layers), int(kv_layer * (g.n_layer - gpu_layers))
    w_gpu = sum(g.layer_bytes[g.n_layer - gpu_layers:]) if gpu_layers else 0
    w_cpu = sum(g.layer_bytes[:g.n_layer - gpu_layers]) + g.token_embd_bytes
    c_gpu, o_gpu = 0, 0
    if k == 0:
        w_cpu += g.output_bytes - (g.token_embd_bytes if g.tied_embeddings else 0)
        c_cpu = compute_bytes(g, ctx, ub, flash_attn=flash_attn, n_outputs=1)
    else:
        w_gpu += g.output_bytes
        if g.tied_embeddings and gpu_backend == "metal":
            w_cpu -= g.token_embd_bytes  # one mapping serves both; count it on the GPU side
        c_gpu = compute_bytes(g, ctx, ub, flash_attn=flash_attn, n_outputs=ub)
        if gpu_layers < g.n_layer:  # CPU blocks run their own graph part; big batches copy
            c_cpu = compute_bytes(g, ctx, ub, flash_attn=flash_attn, n_outputs=1)
            c_gpu += max(g.layer_bytes)  # a CPU layer's weights to the GPU (op offload)
        else:  # only inputs stay on the host
            c_cpu = ctx * ub * (2 if flash_attn else 4) + g.n_embd * ub * 4
        o_gpu = CUDA_RUNTIME_BYTES if gpu_backend == "cuda" else 0
    o_cpu = overhead_bytes(g)
    return Estimate(requested, kv_type, flash_attn, k, w_cpu + w_gpu, kv_cpu + kv_gpu,
                    c_cpu + c_gpu, o_cpu + o_gpu, w_gpu + kv_gpu + c_gpu + o_gpu,
                    w_cpu + kv_cpu + c_cpu + o_cpu)


def ram_margin(ram_total: int) -> int:
    """RAM left for the OS, the UI and other programs: 10% of RAM, within 512 MiB .. 4 GiB."""
    return min(max(ram_total // 10, 512 * MIB), 4 * GIB)


def vram_margin(vram_total: int) -> int:
    """VRAM left for the display and fragmentation: 5% of VRAM, within 256 MiB .. 1 GiB."""
    return min(max(vram_total // 20, 256 * MIB), GIB)


@dataclass(frozen=True)
class Budget:
    """Bytes the plan may use: RAM, and the GPU's share (None without a usable GPU)."""

    ram: int
    gpu: int | None = None
    backend: str | None = None  # "cuda" | "metal"
    note: str = ""

    def fits(self, e: Estimate) -> bool:
        if e.gpu_bytes == 0:
            return e.cpu_bytes <= self.ram
        if self.gpu is None or e.gpu_bytes > self.gpu:
            return False
        return e.total_bytes <= self.ram if self.backend == "metal" else e.cpu_bytes <= self.ram


def budget_for(hardware: Hardware) -> Budget:
    """Usable memory: available RAM minus a margin (never plan to swap); free VRAM minus a
    margin on CUDA; the working set on Metal. Real GPUs count only if llama.cpp can use them."""
    ram = max(0, hardware.ram_available - ram_margin(hardware.ram_total))
    if not hardware.gpus:
        return Budget(ram)
    gpu: GpuInfo = max(hardware.gpus, key=lambda x: x.free_bytes)
    if "gpu" not in hardware.simulated:
        from .hardware import gpu_offload_supported

        if not gpu_offload_supported():
            return Budget(ram, note="this llama.cpp build cannot offload to the GPU")
    if gpu.backend == "metal":
        return Budget(ram, gpu.free_bytes, "metal")
    return Budget(ram, max(0, gpu.free_bytes - vram_margin(gpu.total_bytes)), "cuda")


@dataclass(frozen=True)
class Placement:
    """Where one quant runs at one context, or the closest miss (verdict "does not fit")."""

    verdict: str
    estimate: Estimate


def place(g: ModelGeometry, ctx: int, budget: Budget, kv_types=KV_TYPES) -> Placement:
    """Best placement: full GPU, else most layers on the GPU, else CPU; q8_0 KV only if f16
    fits nowhere."""
    for kv in kv_types:
        if budget.gpu is not None:
            for k in range(g.n_layer + 1, 0, -1):
                e = estimate(g, ctx=ctx, kv_type=kv, n_gpu_layers=k, gpu_backend=budget.backend)
                if budget.fits(e):
                    return Placement("full GPU" if k > g.n_layer else "partial GPU", e)
        e = estimate(g, ctx=ctx, kv_type=kv)
        if budget.fits(e):
            return Placement("CPU", e)
    k = g.n_layer + 1 if budget.gpu is not None else 0
    miss = estimate(g, ctx=ctx, n_gpu_layers=k, gpu_backend=budget.backend or "cuda")
    return Placement("does not fit", miss)


@dataclass(frozen=True)
class Choice:
    """What to load: pass these to the engine."""

    quant: str
    path: str
    n_gpu_layers: int
    ctx: int
    kv_type: str
    flash_attn: bool
    reason: str
    gen_tok_s: float | None = None  # predicted (speed_model.py), None without a speed plan
    reply_s: float | None = None  # an 8,000-token reply at that speed


@dataclass
class FitResult:
    """The decision, the table behind it and the machine it was made for."""

    hardware: Hardware
    choice: Choice | None
    rows: list[dict] = field(default_factory=list)
    reason: str = ""
    download_plan: bool = False  # planned from the catalogue before a download (remote_fit)
    speed: dict = field(default_factory=dict)  # the machine's figures and the speed rule

    def to_dict(self) -> dict:
        return {"hardware": self.hardware.to_dict(),
                "choice": asdict(self.choice) if self.choice else None,
                "rows": [dict(r) for r in self.rows], "reason": self.reason,
                "download_plan": self.download_plan, "speed": self.speed}


def _row(option: QuantOption, p: Placement) -> dict:
    e = p.estimate
    return {"quant": option.quant, "weights_bytes": e.weights_bytes, "kv_bytes": e.kv_bytes,
            "compute_bytes": e.compute_bytes, "overhead_bytes": e.overhead_bytes,
            "total_bytes": e.total_bytes, "gpu_bytes": e.gpu_bytes, "verdict": p.verdict,
            "n_gpu_layers": e.n_gpu_layers,
            "ctx": e.ctx, "kv_type": e.kv_type, "flash_attn": e.flash_attn}


def _ctx_steps(top: int, bottom: int) -> list[int]:
    """Contexts to try, longest first: top, then 2^k and 1.5 * 2^k below it, down to bottom."""
    ladder = sorted({m << s for s in range(8, 20) for m in (2, 3)} | {bottom}, reverse=True)
    return [top] + [c for c in ladder if bottom <= c < top]


def _pick(opts, geos, ctx, budget, good_only, speed=None):
    """Preferred (option, placement) at ctx: with a speed plan preferring speed, its choice
    (speed_choice.py); else a good quant fully on the GPU (decoding is memory-bound, so a
    layer left on the CPU costs more than a smaller quant), else the best good quant
    anywhere, else (good_only=False) the best quant that fits at all."""
    cands = [(o, place(geos[o.quant], ctx, budget)) for o in opts
             if not good_only or o.bpw >= GOOD_BPW]
    fitting = [(o, p) for o, p in cands if p.verdict != "does not fit"]
    if speed is not None and speed.prefer == "speed":
        return speed.choose(fitting, geos)
    full = [c for c in fitting if c[1].verdict == "full GPU"]
    return (full or fitting or [None])[0]


def _where(p: Placement, g: ModelGeometry, budget: Budget) -> str:
    e, ram = p.estimate, format_bytes(budget.ram)
    gpu_name = "Metal working set" if budget.backend == "metal" else "free VRAM"
    if p.verdict == "full GPU":
        return (f"fully on the GPU ({format_bytes(e.gpu_bytes)} of {format_bytes(budget.gpu)} "
                f"usable {gpu_name})")
    if p.verdict == "partial GPU":
        return (f"with {e.n_gpu_layers} of {g.n_layer + 1} layers on the GPU "
                f"(GPU {format_bytes(e.gpu_bytes)} of {format_bytes(budget.gpu)}, "
                f"RAM {format_bytes(e.cpu_bytes)} of {ram})")
    return f"in RAM on the CPU ({format_bytes(e.total_bytes)} of {ram} usable)"


def _alternative(row: dict, g: ModelGeometry, chosen: str, verdict: str) -> str:
    """Why the next better quant (one table row up) was not chosen."""
    if row["verdict"] == verdict:
        return f"{row['quant']} fits too"
    if row["verdict"] == "does not fit":
        return f"{row['quant']} would need {format_bytes(row['total_bytes'])}"
    if row["verdict"] == "partial GPU":
        return (f"{row['quant']} would fit only with {row['n_gpu_layers']} of {g.n_layer + 1} "
                "layers on the GPU")
    return f"{row['quant']} would fit only on the CPU"


def _reason(option, p, g, budget, rows, target, forced: bool, speed=None) -> str:
    e = p.estimate
    text = f"{option.quant} fits {_where(p, g, budget)} with {e.ctx:,} tokens of context"
    if e.kv_type != "f16":
        text += f" and a {e.kv_type} KV cache"
    if e.ctx < target:
        text += f" ({target:,} did not fit)"
    index = next(i for i, r in enumerate(rows) if r["quant"] == option.quant)
    why_not = speed.explain(option, rows) if speed is not None and not forced else ""
    if forced:
        text += " (the quant asked for)"
    elif why_not:
        text += "; " + why_not
    elif index > 0:
        text += "; " + _alternative(rows[index - 1], g, option.quant, p.verdict)
    return text + (f" ({budget.note})" if budget.note else "")


def _no_fit_reason(opts, geos, ctx, budget) -> str:
    smallest = min(opts, key=lambda o: o.bytes)
    need = place(geos[smallest.quant], ctx, budget).estimate.total_bytes
    gpu = f" and {format_bytes(budget.gpu)} of GPU memory" if budget.gpu is not None else ""
    text = (f"nothing fits with {ctx:,} tokens of context: the smallest quant, "
            f"{smallest.quant}, needs {format_bytes(need)}; usable: {format_bytes(budget.ram)} of "
            f"RAM{gpu}")
    for c in _ctx_steps(ctx, 512)[1:]:
        if pick := _pick(opts, geos, c, budget, good_only=False):
            return text + f"; {pick[0].quant} would fit with {c:,} tokens (pass ctx={c})"
    return text + "; free some memory or use a machine with more"


def plan(options: list[QuantOption], hardware: Hardware, *, ctx: int | None = None,
         recommended_ctx: int | None = None, min_ctx: int = 8192,
         quant: str | None = None,
         geometries: dict[str, ModelGeometry] | None = None, speed: Any = None) -> FitResult:
    """Choose the quant, GPU layers, KV type and context that fit this machine, and say why.

    Policy: the highest-quality quant (most bits per weight) at the recommended context
    (default min(n_ctx_train, 40960): VibeThinker's traces run that long); if nothing fits,
    shorter contexts down to `min_ctx`, never below unless `ctx` is given. Quants of at least
    4.5 bpw (Q4_K_M and up) are tried at every context before the weaker ones. Among them a
    quant that fits entirely on the GPU wins over a bigger one partially offloaded (decoding
    reads every weight per token, so the CPU share sets the speed). The KV cache goes q8_0 only
    when f16 fits nowhere.

    Args:
        options: the model's files (see `options_from_path`).
        hardware: from `hardware.probe()`, real or simulated.
        ctx: exact context to plan for (no search; may be below `min_ctx`).
        recommended_ctx: the context to aim for (the catalogue's); capped at n_ctx_train.
        min_ctx: the shortest context the search may settle for.
        quant: plan only this quant (case-insensitive).
        geometries: per quant, instead of reading each option's file (planning a download).
        speed: a `speed_choice.SpeedPlan`: adds predicted speed to every row and, unless it
            prefers quality, chooses by speed (see there). None: memory only.

    Raises:
        InvalidRequestError: no options, unknown `quant`, or `ctx` outside 1..n_ctx_train.
        InvalidModelError: a file that is not a readable GGUF model.
    """
    if not options:
        raise InvalidRequestError("no model files to choose from")
    opts = sorted(options, key=lambda o: o.bpw, reverse=True)
    geos = geometries or {o.quant: read_geometry(o.path) for o in opts}
    n_ctx_train = min(g.n_ctx_train for g in geos.values())
    if ctx is not None and not 1 <= ctx <= n_ctx_train:
        raise InvalidRequestError(f"context {ctx:,} is outside 1..{n_ctx_train:,}, the "
                                  "model's training context; pass a smaller ctx")
    chosen = list(opts)
    if quant is not None:
        chosen = [o for o in opts if o.quant.upper() == quant.strip().upper()]
        if not chosen:
            raise InvalidRequestError(f"no quant {quant!r} for this model; available: "
                                      f"{', '.join(o.quant for o in opts)}")
    budget = budget_for(hardware)
    target = ctx or min(recommended_ctx or DEFAULT_RECOMMENDED_CTX, n_ctx_train)
    steps = [ctx] if ctx else _ctx_steps(target, min(min_ctx, target))
    pick = None
    for good_only in (True, False):
        pick = next((p for c in steps
                     if (p := _pick(chosen, geos, c, budget, good_only, speed))), None)
        if pick:
            break
    row_ctx = pick[1].estimate.ctx if pick else steps[-1]
    rows = _rows(opts, geos, row_ctx, budget, speed)
    info = speed.summary(opts) if speed is not None and pick else {}
    if pick is None:
        return FitResult(hardware, None, rows, _no_fit_reason(chosen, geos, steps[-1], budget),
                         speed=info)
    option, p = pick
    reason = _reason(option, p, geos[option.quant], budget, rows, target, quant is not None,
                     speed)
    e = p.estimate
    mine = next(r for r in rows if r["quant"] == option.quant)
    choice = Choice(option.quant, str(option.path), e.n_gpu_layers, e.ctx, e.kv_type,
                    e.flash_attn, reason, mine.get("gen_tok_s"), mine.get("reply_s"))
    return FitResult(hardware, choice, rows, reason, speed=info)


def _rows(opts, geos, ctx, budget, speed) -> list[dict]:
    """The table: every quant placed at the chosen context, with its speed when planned."""
    rows = []
    for o in opts:
        p = place(geos[o.quant], ctx, budget)
        extra = speed.columns(o, geos[o.quant], p) if speed is not None else {}
        rows.append(_row(o, p) | extra)
    return rows


def format_table(result: FitResult) -> str:
    """The rows as a text table for the CLI, the chosen quant marked with '*', then the reason
    (and, with speed predicted, what the speeds rest on)."""
    head = ["", "quant", "weights", "KV cache", "compute", "total", "verdict"]
    chosen = result.choice.quant if result.choice else None
    timed = bool(result.speed)
    rows = []
    for r in result.rows:
        cells = ["*" if r["quant"] == chosen else "", r["quant"], format_bytes(r["weights_bytes"]),
                 f"{format_bytes(r['kv_bytes'])} {r['kv_type']}",
                 format_bytes(r["compute_bytes"]), format_bytes(r["total_bytes"])]
        if timed:
            gen = r.get("gen_tok_s")
            cells += [f"{gen:.1f}" if gen else "-", format_duration(r["reply_s"]) if gen else "-"]
        rows.append([*cells, r["verdict"]])
    if timed:
        head[6:6] = ["gen tok/s", "8k reply"]
    ctx = result.rows[0]["ctx"] if result.rows else 0
    right = (2, 3, 4, 5, 6, 7) if timed else (2, 3, 4, 5)
    notes = [result.speed["note"]] if timed and result.speed.get("note") else []
    return "\n".join([f"context {ctx:,} tokens", text_table(head, rows, right=right), "",
                      result.reason, *notes])
