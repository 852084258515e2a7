"""The memory fit: geometry from GGUF headers, the estimate, the choice and its honesty."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gguf
import pytest
from benchmarks.fit_accuracy import measure

from fixtures.qwen2_checkpoint import TinyCheckpoint, TinyQwen2Spec, build_checkpoint
from vibe_local import hardware
from vibe_local.errors import InvalidModelError, InvalidRequestError, ModelNotFoundError
from vibe_local.fitting import (
    MIB,
    RUNTIME_BYTES,
    VERDICTS,
    budget_for,
    compute_bytes,
    estimate,
    format_table,
    kv_bytes_per_token,
    place,
    plan,
    ram_margin,
    vram_margin,
)
from vibe_local.gguf_info import options_from_path, read_geometry
from vibe_local.hardware import GpuInfo, Hardware, probe

# Long training context so the KV cache dominates; K-quant friendly widths.
PLAN_SPEC = TinyQwen2Spec(hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                          num_attention_heads=4, num_key_value_heads=2, vocab_size=2048,
                          max_position_embeddings=32768, num_shards=1)
# Big enough that RSS noise (~1 MiB) is small: 38 MiB of F16 weights, mostly the 64k vocabulary.
HONEST_SPEC = TinyQwen2Spec(hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                            num_attention_heads=4, num_key_value_heads=4, vocab_size=65536,
                            max_position_embeddings=8192, num_shards=1)


@pytest.fixture(scope="session")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from quantize.ladder import build_ladder

    root = tmp_path_factory.mktemp("fit")
    ckpt = build_checkpoint(root / "plan-model", PLAN_SPEC)
    build_ladder(ckpt.path, root / "ladder", ["Q4_K_M", "Q8_0"], name="plan")
    return root / "ladder"


@pytest.fixture(scope="session")
def honest_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from quantize.convert import convert

    root = tmp_path_factory.mktemp("honest")
    ckpt = build_checkpoint(root / "ckpt", HONEST_SPEC)
    convert(ckpt.path, root / "honest-F16.gguf", "f16")
    return root / "honest-F16.gguf"


def _bf16(ladder: Path):
    return next(o for o in options_from_path(ladder) if o.quant == "BF16")


def _machine(need: int) -> str:
    """A simulated RAM size whose usable budget (after the margin) is exactly `need` bytes."""
    assert need + 512 * MIB < 5 * 2**30  # the margin is its 512 MiB floor below 5 GiB
    return str(need + ram_margin(need + 512 * MIB))


def test_geometry_matches_the_fixture_spec(tiny_checkpoint: TinyCheckpoint,
                                           tiny_f16_gguf: Path) -> None:
    spec, g = tiny_checkpoint.spec, read_geometry(tiny_f16_gguf)
    assert (g.architecture, g.n_layer, g.n_embd, g.n_ff) == (
        "qwen2", spec.num_hidden_layers, spec.hidden_size, spec.intermediate_size)
    assert (g.n_head, g.n_head_kv) == (spec.num_attention_heads, spec.num_key_value_heads)
    assert g.head_dim_k == g.head_dim_v == spec.hidden_size // spec.num_attention_heads
    assert (g.n_vocab, g.n_ctx_train) == (spec.vocab_size, spec.max_position_embeddings)
    assert g.tied_embeddings and g.file_type == int(gguf.LlamaFileType.MOSTLY_F16)
    reader = gguf.GGUFReader(tiny_f16_gguf)
    assert g.tensor_bytes == sum(int(t.n_bytes) for t in reader.tensors)
    assert g.file_bytes == tiny_f16_gguf.stat().st_size
    assert len(set(g.layer_bytes)) == 1  # identical blocks
    params = sum(w.size for n, w in tiny_checkpoint.weights.items() if ".layers.0." in n)
    norms_and_biases = sum(w.size for n, w in tiny_checkpoint.weights.items()
                           if ".layers.0." in n and w.ndim == 1)
    assert g.layer_bytes[0] == 2 * params + 2 * norms_and_biases  # F16 matrices, F32 vectors
    assert g.token_embd_bytes == spec.vocab_size * spec.hidden_size * 2


def test_kv_cache_formula(ladder: Path) -> None:
    g = read_geometry(_bf16(ladder).path)
    per_token = 2 * g.n_layer * g.n_head_kv * g.head_dim_k * 2
    assert kv_bytes_per_token(g, "f16") == per_token == 2048  # 2 KiB for this spec
    assert kv_bytes_per_token(g, "q8_0") == per_token / 2 * 34 / 32
    assert estimate(g, ctx=8192).kv_bytes == 8192 * per_token
    assert estimate(g, ctx=1000).kv_bytes == 1024 * per_token  # llama.cpp pads to 256
    assert estimate(g, ctx=8192, kv_type="q8_0").kv_bytes == 8192 * per_token * 17 // 32
    with pytest.raises(InvalidRequestError, match="q8_0"):
        estimate(g, ctx=1024, kv_type="q4_0")


def test_compute_without_flash_attention_holds_the_scores(ladder: Path) -> None:
    g = read_geometry(_bf16(ladder).path)
    fa = compute_bytes(g, 8192, 512, flash_attn=True, n_outputs=1)
    no_fa = compute_bytes(g, 8192, 512, flash_attn=False, n_outputs=1)
    scores = 8192 * 512 * g.n_head
    assert no_fa - fa >= scores * 4 + scores * 2  # f32 scores plus the f16 copy for V
    assert compute_bytes(g, 8192, 512, flash_attn=True, n_outputs=512) >= g.n_vocab * 512 * 4


def test_gpu_split_follows_llama_cpp(ladder: Path) -> None:
    g = read_geometry(_bf16(ladder).path)
    cpu = estimate(g, ctx=4096)
    assert cpu.gpu_bytes == 0 and cpu.weights_bytes == g.tensor_bytes
    only_output = estimate(g, ctx=4096, n_gpu_layers=1)  # llama.cpp offloads the output first
    assert only_output.kv_bytes == cpu.kv_bytes
    assert only_output.gpu_bytes > g.output_bytes
    full = estimate(g, ctx=4096, n_gpu_layers=g.n_layer + 1)
    assert full.weights_bytes == g.tensor_bytes + g.token_embd_bytes  # tied: CUDA gets a copy
    assert full.cpu_bytes < cpu.cpu_bytes - sum(g.layer_bytes) - cpu.kv_bytes + 64 * MIB
    metal = estimate(g, ctx=4096, n_gpu_layers=99, gpu_backend="metal")
    assert metal.weights_bytes == g.tensor_bytes and metal.n_gpu_layers == g.n_layer + 1


def test_options_from_ladder_and_single_file(ladder: Path, tiny_f16_gguf: Path) -> None:
    options = options_from_path(ladder)
    assert [o.quant for o in options] == ["BF16", "Q8_0", "Q4_K_M"]
    assert all(o.path.is_file() and o.bytes == o.path.stat().st_size for o in options)
    single = options_from_path(tiny_f16_gguf)
    assert [(o.quant, o.path) for o in single] == [("F16", tiny_f16_gguf)]
    assert 15.9 < single[0].bpw < 16.1
    with pytest.raises(ModelNotFoundError):
        options_from_path(ladder / "nope.gguf")
    with pytest.raises(ModelNotFoundError, match="manifest"):
        options_from_path(ladder.parent)


def test_truncated_or_foreign_file_is_an_invalid_model(tmp_path: Path, tiny_f16_gguf: Path) -> None:
    data = tiny_f16_gguf.read_bytes()
    for size in (10, 5000, len(data) // 2, len(data) - 1):
        cut = tmp_path / f"cut-{size}.gguf"
        cut.write_bytes(data[:size])
        with pytest.raises(InvalidModelError, match="truncated|not a readable GGUF"):
            read_geometry(cut)
        with pytest.raises(InvalidModelError):
            options_from_path(cut)
    text = tmp_path / "notes.gguf"
    text.write_text("hello, I am not a model\n")
    with pytest.raises(InvalidModelError, match="download or convert it again"):
        read_geometry(text)
    with pytest.raises(ModelNotFoundError):
        read_geometry(tmp_path / "missing.gguf")


def test_cpu_only_machine(ladder: Path) -> None:
    result = plan(options_from_path(ladder), probe(memory="2GiB", gpu="none"))
    assert [r["verdict"] for r in result.rows] == ["CPU"] * 3
    c = result.choice
    assert (c.quant, c.n_gpu_layers, c.ctx, c.kv_type) == ("BF16", 0, 32768, "f16")
    assert c.reason.startswith("BF16 fits in RAM on the CPU") and "32,768 tokens" in c.reason
    assert result.reason == c.reason
    forced = plan(options_from_path(ladder), probe(memory="2GiB", gpu="none"), quant="q8_0")
    assert forced.choice.quant == "Q8_0" and forced.reason.endswith("(the quant asked for)")


def test_full_gpu_on_cuda(ladder: Path) -> None:
    result = plan(options_from_path(ladder), probe(memory="8GiB", gpu="cuda:4GiB"))
    assert result.choice.quant == "BF16"
    assert result.choice.n_gpu_layers == PLAN_SPEC.num_hidden_layers + 1
    assert {r["verdict"] for r in result.rows} == {"full GPU"}
    assert "fully on the GPU" in result.reason


def test_partial_gpu_on_cuda_and_full_offload_preferred(ladder: Path) -> None:
    options, g = options_from_path(ladder), read_geometry(_bf16(ladder).path)
    full = estimate(g, ctx=32768, n_gpu_layers=g.n_layer + 1)
    vram = full.gpu_bytes - 1 + vram_margin(full.gpu_bytes)  # BF16 misses full offload by a byte
    hw = probe(memory="8GiB", gpu=f"cuda:{vram}")
    result = plan(options, hw)
    rows = {r["quant"]: r for r in result.rows}
    assert rows["BF16"]["verdict"] == "partial GPU"
    assert rows["BF16"]["n_gpu_layers"] == g.n_layer  # all but one block
    assert rows["Q8_0"]["verdict"] == "full GPU"
    assert result.choice.quant == "Q8_0"  # a smaller quant fully offloaded beats partial BF16
    assert f"BF16 would fit only with {g.n_layer} of {g.n_layer + 1} layers" in result.reason
    forced = plan(options, hw, quant="bf16")
    assert (forced.choice.quant, forced.choice.n_gpu_layers) == ("BF16", g.n_layer)
    assert f"{g.n_layer} of {g.n_layer + 1} layers on the GPU" in forced.reason


def test_metal_unified_memory(ladder: Path) -> None:
    result = plan(options_from_path(ladder), probe(memory="4GiB", gpu="metal"))
    assert result.choice.quant == "BF16" and "Metal working set" in result.reason
    assert result.rows[0]["verdict"] == "full GPU"
    assert result.to_dict()["hardware"]["unified_memory"] is True


def test_q8_0_kv_only_when_it_makes_the_context_fit(ladder: Path) -> None:
    options, g = options_from_path(ladder), read_geometry(_bf16(ladder).path)
    need_f16 = estimate(g, ctx=32768).total_bytes
    need_q8 = estimate(g, ctx=32768, kv_type="q8_0").total_bytes
    roomy = plan(options, probe(memory=_machine(need_f16), gpu="none"))
    assert (roomy.choice.quant, roomy.choice.kv_type) == ("BF16", "f16")
    tight = plan(options, probe(memory=_machine(need_f16 - 1), gpu="none"))
    assert need_q8 < need_f16 - 1
    assert (tight.choice.quant, tight.choice.kv_type, tight.choice.ctx) == ("BF16", "q8_0", 32768)
    assert "q8_0 KV cache" in tight.reason
    rows = {r["quant"]: r for r in tight.rows}
    assert rows["Q4_K_M"]["kv_type"] == "f16"  # a smaller quant still fits with f16


def test_context_shrinks_before_dropping_to_weak_quants(ladder: Path) -> None:
    options = options_from_path(ladder)
    g = read_geometry(options[-1].path)  # Q4_K_M
    need = estimate(g, ctx=16384, kv_type="q8_0").total_bytes
    hw = probe(memory=_machine(need), gpu="none")
    result = plan(options, hw)
    assert all(place(read_geometry(o.path), 32768, budget_for(hw)).verdict == "does not fit"
               for o in options)
    assert 8192 <= result.choice.ctx < 32768
    assert "(32,768 did not fit)" in result.reason
    assert all(r["ctx"] == result.choice.ctx for r in result.rows)


def test_nothing_fits_says_what_would(ladder: Path) -> None:
    options = options_from_path(ladder)
    g = read_geometry(options[-1].path)
    need = estimate(g, ctx=8192, kv_type="q8_0").total_bytes
    hw = probe(memory=_machine(need - MIB), gpu="none")
    result = plan(options, hw)
    assert result.choice is None and result.to_dict()["choice"] is None
    assert {r["verdict"] for r in result.rows} == {"does not fit"}
    assert result.reason.startswith("nothing fits with 8,192 tokens of context")
    match = re.search(r"; (\S+) would fit with [\d,]+ tokens \(pass ctx=(\d+)\)$", result.reason)
    quant, smaller = match.group(1), int(match.group(2))
    assert smaller < 8192
    explicit = plan(options, hw, ctx=smaller)
    assert (explicit.choice.quant, explicit.choice.ctx) == (quant, smaller)
    hopeless = plan(options, probe(memory="520MiB", gpu="none"))
    assert hopeless.choice is None and "free some memory" in hopeless.reason


def test_explicit_context_is_honoured(ladder: Path) -> None:
    result = plan(options_from_path(ladder), probe(memory="2GiB", gpu="none"), ctx=2048)
    assert result.choice.ctx == 2048 and result.rows[0]["ctx"] == 2048
    default = plan(options_from_path(ladder), probe(memory="2GiB", gpu="none"),
                   recommended_ctx=12000)
    assert default.choice.ctx == 12000


def test_bad_requests(ladder: Path) -> None:
    options, hw = options_from_path(ladder), probe(memory="2GiB", gpu="none")
    with pytest.raises(InvalidRequestError, match="32,768"):
        plan(options, hw, ctx=32769)
    with pytest.raises(InvalidRequestError):
        plan(options, hw, ctx=0)
    with pytest.raises(InvalidRequestError, match="available: BF16, Q8_0, Q4_K_M"):
        plan(options, hw, quant="Q5_K_M")
    with pytest.raises(InvalidRequestError):
        plan([], hw)


def test_real_gpu_ignored_when_llama_cpp_cannot_offload(ladder: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    real = probe(memory="2GiB", gpu="none")
    hw = Hardware(real.cpu_name, real.physical_cores, real.logical_cores, real.simd,
                  real.ram_total, real.ram_available,
                  (GpuInfo("NVIDIA RTX", "cuda", 8 * 2**30, 8 * 2**30),), False, ())
    monkeypatch.setattr(hardware, "gpu_offload_supported", lambda: False)
    result = plan(options_from_path(ladder), hw)
    assert result.choice.n_gpu_layers == 0 and "cannot offload" in result.reason
    monkeypatch.setattr(hardware, "gpu_offload_supported", lambda: True)
    assert plan(options_from_path(ladder), hw).rows[0]["verdict"] == "full GPU"


def test_to_dict_schema_and_table(ladder: Path) -> None:
    result = plan(options_from_path(ladder), probe(memory="2GiB", gpu="cuda:1GiB"))
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) == {"hardware", "choice", "rows", "reason", "download_plan", "speed"}
    assert set(data["choice"]) == {"quant", "path", "n_gpu_layers", "ctx", "kv_type",
                                   "flash_attn", "reason", "gen_tok_s", "reply_s"}
    assert data["speed"] == {} and data["choice"]["gen_tok_s"] is None  # no speed plan given
    for row in data["rows"]:
        assert set(row) == {"quant", "weights_bytes", "kv_bytes", "compute_bytes",
                            "overhead_bytes", "total_bytes", "gpu_bytes", "verdict",
                            "n_gpu_layers", "ctx", "kv_type", "flash_attn"}
        assert row["verdict"] in VERDICTS
        if row["verdict"] != "does not fit":
            assert (row["gpu_bytes"] > 0) == (row["verdict"] in ("full GPU", "partial GPU"))
        assert row["total_bytes"] == sum(row[k] for k in ("weights_bytes", "kv_bytes",
                                                          "compute_bytes", "overhead_bytes"))
    table = format_table(result)
    assert "context 32,768 tokens" in table and "* " in table and result.reason in table
    assert all(q in table for q in ("BF16", "Q8_0", "Q4_K_M")) and "MiB" in table


@pytest.mark.parametrize(("ctx", "n_prompt", "flash_attn"), [
    (2048, 16, True),  # the planned settings, short prompt + one decode step
    (8192, 16, True),
    (1024, 1023, False),  # context filled without flash attention: the compute terms are real
])
def test_estimate_is_honest_about_rss(honest_gguf: Path, ctx: int, n_prompt: int,
                                      flash_attn: bool, backend_ready) -> None:
    """Predicted bytes vs the RSS of a fresh process running the model in real llama.cpp,
    loaded as the runtime loads it (repacking as the self-test allows)."""
    from vibe_local.selftest import repack_allowed

    g = read_geometry(honest_gguf)
    e = estimate(g, ctx=ctx, flash_attn=flash_attn)
    m = measure(honest_gguf, ctx, n_prompt=n_prompt, flash_attn=flash_attn,
                repack=repack_allowed())
    assert m["buffers"]["KV"] == pytest.approx(e.kv_bytes / MIB, abs=0.01)
    assert m["buffers"]["model"] == pytest.approx(e.weights_bytes / MIB, abs=0.01)
    assert e.total_bytes - RUNTIME_BYTES > 64 * MIB  # tens of MiB: well above RSS noise
    assert 0.85 <= m["rss"] / e.total_bytes <= 1.15, (m, e)
    grown = m["rss"] - m["imported"]
    assert 0.85 <= grown / (e.total_bytes - RUNTIME_BYTES) <= 1.15, (m, e)
