"""The fit knows speed: predicted tokens/s per row, the speed-aware default, learning from runs.

Machines are simulated (bandwidth and compute given, not measured), so every expectation
follows from the model's arithmetic and none depends on how fast this machine is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.scripted_model import ScriptedModel
from vibe_local.errors import InvalidRequestError
from vibe_local.fitting import format_table, plan
from vibe_local.gguf_info import ModelGeometry, QuantOption
from vibe_local.hardware import GpuInfo, Hardware
from vibe_local.machine_speed import DeviceSpeed, MachineSpeed, gpu_speed
from vibe_local.speed_choice import DEFAULT_MIN_SPEED, SpeedPlan
from vibe_local.speed_model import (
    REPLY_TOKENS,
    ROOFLINE_VERSION,
    SpeedModel,
    layer_params,
    observe,
    roofline,
    traffic,
)
from vibe_local.speed_store import Run

GB = 1e9
# VibeThinker-1.5B's shapes (DESIGN.md) at four widths of the ladder.
BPW = {"BF16": 16.0, "Q8_0": 8.5, "Q4_K_M": 5.08, "Q2_K": 3.4}


def _geometry(bpw: float) -> ModelGeometry:
    shape = dict(architecture="qwen2", n_layer=28, n_embd=1536, n_ff=8960, n_head=12,
                 n_head_kv=2, head_dim_k=128, head_dim_v=128, n_vocab=151936,
                 n_ctx_train=131072)
    probe = ModelGeometry(**shape, layer_bytes=(0,) * 28, token_embd_bytes=0, output_bytes=0,
                          tied_embeddings=True, file_bytes=0, file_type=None)
    layer = int(layer_params(probe) * bpw / 8)
    embd = int(151936 * 1536 * bpw / 8)
    return ModelGeometry(**shape, layer_bytes=(layer,) * 28, token_embd_bytes=embd,
                         output_bytes=embd, tied_embeddings=True, file_bytes=28 * layer + embd,
                         file_type=None)


GEOMETRIES = {q: _geometry(b) for q, b in BPW.items()}
OPTIONS = [QuantOption(q, Path(f"/models/m-{q}.gguf"), b, GEOMETRIES[q].file_bytes)
           for q, b in BPW.items()]


def _machine(gpu: GpuInfo | None = None, ram: int = 64 * 2**30) -> Hardware:
    return Hardware("test CPU", 8, 16, ("AVX2",), ram, ram, (gpu,) if gpu else (), False,
                    ("memory", "gpu"))


def _speed(cpu_gb_s: float, gpu: GpuInfo | None = None, runs: list[Run] | None = None,
           flops: float = 2e12, **rule) -> SpeedPlan:
    machine = MachineSpeed("test machine", DeviceSpeed("cpu", cpu_gb_s * GB, flops, "test"),
                           gpu_speed(gpu) if gpu else None)
    return SpeedPlan(SpeedModel(machine, runs or []), **rule)


def _plan(cpu_gb_s: float, gpu: GpuInfo | None = None, **rule):
    return plan(OPTIONS, _machine(gpu), geometries=GEOMETRIES,
                speed=_speed(cpu_gb_s, gpu, **rule))


def _rows(result) -> dict[str, dict]:
    return {r["quant"]: r for r in result.rows}


def test_every_row_has_a_speed_and_fewer_bytes_decode_faster() -> None:
    result = _plan(40)
    rows = _rows(result)
    speeds = [rows[q]["gen_tok_s"] for q in BPW]  # BF16 .. Q2_K
    assert speeds == sorted(speeds) and len(set(speeds)) == 4
    for r in result.rows:
        assert r["reply_s"] == pytest.approx(REPLY_TOKENS / r["gen_tok_s"])
        assert r["speed_source"] == "predicted" and r["prompt_tok_s"] > 0
    table = format_table(result)
    assert "gen tok/s" in table and "8k reply" in table
    assert f"{rows['Q8_0']['gen_tok_s']:.1f}" in table
    data = result.to_dict()
    assert data["choice"]["gen_tok_s"] == rows[result.choice.quant]["gen_tok_s"]
    assert data["speed"]["min_speed"] == DEFAULT_MIN_SPEED
    assert data["speed"]["machine"]["cpu"]["bytes_per_s"] == 40 * GB


def _token_seconds(cpu_gb_s: float, flops: float) -> dict[str, float]:
    result = plan(OPTIONS, _machine(), geometries=GEOMETRIES, speed=_speed(cpu_gb_s, flops=flops))
    return {r["quant"]: 1 / r["gen_tok_s"] for r in result.rows}


def test_a_token_takes_its_bytes_at_the_bandwidth_plus_its_arithmetic() -> None:
    """Without arithmetic cost, doubling the bandwidth doubles the speed; with it, a token's
    time is the bytes' time plus the FLOPs' time, whatever the quant."""
    unbounded = 1e30
    slow, fast = _token_seconds(20, unbounded), _token_seconds(40, unbounded)
    for q in BPW:
        assert slow[q] == pytest.approx(2 * fast[q])
    with_compute = _token_seconds(40, 2e12)
    flops = traffic(GEOMETRIES["BF16"], 0, "f16", REPLY_TOKENS / 2).cpu_gen_flops
    for q in BPW:
        assert with_compute[q] == pytest.approx(fast[q] + flops / 2e12)


def test_a_slow_cpu_pays_the_same_arithmetic_for_every_quant() -> None:
    """Ten times less compute adds the same time to every row (each quant does the same
    FLOPs); nothing reaches the minimum speed, so the fastest good quant is taken."""
    quick, slow = _token_seconds(40, 2e12), _token_seconds(40, 2e11)
    added = {q: slow[q] - quick[q] for q in BPW}
    assert max(added.values()) == pytest.approx(min(added.values())) and added["BF16"] > 0
    result = plan(OPTIONS, _machine(), geometries=GEOMETRIES, speed=_speed(40, flops=2e10))
    assert max(r["gen_tok_s"] for r in result.rows) < DEFAULT_MIN_SPEED
    assert result.choice.quant == "Q4_K_M"


def test_default_takes_the_best_quant_fast_enough() -> None:
    rows = _rows(_plan(55))
    assert rows["BF16"]["gen_tok_s"] < DEFAULT_MIN_SPEED <= rows["Q8_0"]["gen_tok_s"]
    result = _plan(55)
    assert result.choice.quant == "Q8_0"
    assert "BF16 fits too but is predicted at" in result.reason


def test_nothing_fast_enough_takes_the_fastest_good_quant() -> None:
    result = _plan(10)
    assert max(r["gen_tok_s"] for r in result.rows) < DEFAULT_MIN_SPEED
    assert result.choice.quant == "Q4_K_M"  # Q2_K is faster but below 4.5 bits per weight
    assert "none of the good quants reaches" in result.reason


def test_min_speed_and_prefer_quality() -> None:
    rows = _rows(_plan(55))
    assert _plan(55, min_speed=rows["BF16"]["gen_tok_s"] * 0.99).choice.quant == "BF16"
    assert _plan(55, min_speed=rows["Q8_0"]["gen_tok_s"] * 1.01).choice.quant == "Q4_K_M"
    quality = _plan(10, prefer="quality")
    assert quality.choice.quant == "BF16" and quality.rows[0]["gen_tok_s"] is not None


def test_bad_rules_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="unknown preference"):
        _speed(20, prefer="fast")
    with pytest.raises(InvalidRequestError, match="above 0"):
        _speed(20, min_speed=0)


def test_gpu_rows_run_at_the_gpu_bandwidth() -> None:
    gpu = GpuInfo("NVIDIA GeForce RTX 4090", "cuda", 24 * 2**30, 24 * 2**30)
    result = _plan(20, gpu)
    rows = _rows(result)
    assert all(r["verdict"] == "full GPU" for r in result.rows)
    assert rows["BF16"]["gen_tok_s"] > 10 * _rows(_plan(20))["BF16"]["gen_tok_s"]
    assert result.choice.quant == "BF16"  # fast enough at full quality
    assert "GPU 1008 GB/s (data sheet)" in format_table(result)


def test_partial_offload_is_between_cpu_and_gpu() -> None:
    small = GpuInfo("simulated NVIDIA GPU (2GiB)", "cuda", 2 * 2**30, 2 * 2**30)
    rows = _rows(plan(OPTIONS, _machine(small), geometries=GEOMETRIES, ctx=4096,
                      speed=_speed(20, small, prefer="quality")))
    bf16 = rows["BF16"]
    assert bf16["verdict"] == "partial GPU"
    cpu = _rows(_plan(20))["BF16"]["gen_tok_s"]
    assert cpu < bf16["gen_tok_s"]


@pytest.mark.parametrize(("name", "backend", "gb_s"), [
    ("NVIDIA GeForce RTX 4090", "cuda", 1008), ("NVIDIA GeForce RTX 4090 Laptop GPU", "cuda", 576),
    ("NVIDIA H100 PCIe", "cuda", 2000), ("NVIDIA H200", "cuda", 4800),
    ("Apple M2 Pro", "metal", 200), ("Apple M2", "metal", 100), ("Apple M4 Max", "metal", 546),
    ("simulated NVIDIA GPU (12GiB)", "cuda", 300), ("simulated Apple GPU", "metal", 100),
])
def test_gpu_figures_by_name(name: str, backend: str, gb_s: int) -> None:
    speed = gpu_speed(GpuInfo(name, backend, 2**30, 2**30))
    assert speed.bytes_per_s == gb_s * GB
    assert (speed.source == "data sheet") == ("simulated" not in name)


def _run(path: str, ratio: float, n_gpu_layers: int = 0, version: int = ROOFLINE_VERSION) -> Run:
    return Run("test machine", path, GEOMETRIES["Q4_K_M"].file_bytes, n_gpu_layers, "f16",
               ratio * 10, ratio, roofline=version)


def test_measured_runs_correct_the_prediction() -> None:
    """A file's own runs scale its prediction ("measured"); other files on the same machine
    follow the machine's median ("learned"); a GPU placement learns nothing from CPU runs."""
    path = str(OPTIONS[2].path)
    runs = [_run(path, 0.5), _run(path, 0.25), _run(path, 0.25)]
    base = _rows(_plan(40))
    result = plan(OPTIONS, _machine(), geometries=GEOMETRIES, speed=_speed(40, runs=runs))
    rows = _rows(result)
    assert rows["Q4_K_M"]["speed_source"] == "measured"
    assert rows["Q4_K_M"]["gen_tok_s"] == pytest.approx(base["Q4_K_M"]["gen_tok_s"] * 0.25)
    assert rows["Q8_0"]["speed_source"] == "learned"
    assert "3 measured runs on this machine" in format_table(result)
    gpu = GpuInfo("NVIDIA GeForce RTX 4090", "cuda", 24 * 2**30, 24 * 2**30)
    on_gpu = plan(OPTIONS, _machine(gpu), geometries=GEOMETRIES, speed=_speed(40, gpu, runs=runs))
    assert {r["speed_source"] for r in on_gpu.rows} == {"predicted"}


def test_runs_measured_against_another_roofline_are_ignored() -> None:
    """A ratio recorded against an earlier version of the model would scale the new one
    wrongly: such runs (unmarked ones included) are left out."""
    path = str(OPTIONS[2].path)
    old = [_run(path, 0.25, version=1), _run(path, 0.25, version=1)]
    rows = _rows(plan(OPTIONS, _machine(), geometries=GEOMETRIES, speed=_speed(40, runs=old)))
    assert rows["Q4_K_M"]["speed_source"] == "predicted"
    assert rows["Q4_K_M"]["gen_tok_s"] == pytest.approx(_rows(_plan(40))["Q4_K_M"]["gen_tok_s"])
    assert Run("m", path, 1, 0, "f16", 1.0, 1.0).roofline != ROOFLINE_VERSION


def test_observe_compares_with_the_roofline_at_the_run_positions() -> None:
    from vibe_local.generation import GenerationStats

    machine = _speed(40).model.machine
    g = GEOMETRIES["Q8_0"]
    stats = GenerationStats(prompt_tokens=200, completion_tokens=400, prompt_tokens_per_s=50.0,
                            generation_tokens_per_s=7.0)
    run = observe(machine, "/m.gguf", g, 0, "f16", stats)
    assert run.gen_tok_s == 7.0 and run.roofline == ROOFLINE_VERSION
    assert run.gen_ratio == pytest.approx(7.0 / roofline(g, 0, "f16", machine, 400)[0])
    assert run.prompt_ratio == pytest.approx(50.0 / roofline(g, 0, "f16", machine, 100)[1])
    short = GenerationStats(prompt_tokens=10, completion_tokens=5, generation_tokens_per_s=7.0)
    assert observe(machine, "/m.gguf", g, 0, "f16", short) is None


def test_quality_order_from_the_bench_reports(isolated_home: Path) -> None:
    """Measured mean KLD orders the quants when every one was measured; else bits/weight."""
    from vibe_local.quant_quality import mean_kld_by_file

    reports = isolated_home / "vibe-local" / "bench" / "reports"
    reports.mkdir(parents=True)
    quants = [{"quant": q, "file": f"/models/m-{q}.gguf", "fidelity": {"kld_mean": kld}}
              for q, kld in (("Q8_0", 0.02), ("Q4_K_M", 0.01), ("Q2_K", 0.3))]
    report = {"reference": {"quant": "BF16", "file": "/models/m-BF16.gguf"}, "quants": quants}
    (reports / "quality-m-1.json").write_text(json.dumps(report))
    (reports / "quality-broken.json").write_text("{")
    kld = mean_kld_by_file()
    assert kld[str(Path("/models/m-BF16.gguf").resolve())] == 0.0
    speed = _speed(20, kld=kld)
    assert [o.quant for o in speed.quality_order(OPTIONS)] == ["BF16", "Q4_K_M", "Q8_0", "Q2_K"]
    assert speed.quality_basis(OPTIONS) == "measured mean KLD"
    assert [o.quant for o in speed.quality_order(OPTIONS[1:] + [_other()])] == [
        "Q8_0", "Q4_K_M", "Q3_K_M", "Q2_K"]


def _other() -> QuantOption:
    return QuantOption("Q3_K_M", Path("/models/m-Q3_K_M.gguf"), 3.9, 1)


def test_a_real_generation_is_recorded_and_used(backend_ready, scripted: ScriptedModel,
                                                isolated_home: Path) -> None:
    """Load, generate: the measured speed lands in the store, and the next fit uses it."""
    import vibe_local
    from fixtures.scripted_model import ENTRIES, chatml_ending_with
    from vibe_local.chat_template import ChatTemplate

    assert vibe_local.fit(scripted.gguf).rows[0]["speed_source"] == "predicted"
    with vibe_local.load(scripted.gguf) as model:
        model.template = ChatTemplate(chatml_ending_with(f"<think> {ENTRIES['ramble']}"))
        reply = model.chat("Go on.", max_tokens=48)
    assert reply.stats.completion_tokens == 48
    store = json.loads((isolated_home / "vibe-local" / "speeds.json").read_text())
    (run,) = store["runs"]
    assert run["gen_tok_s"] == reply.stats.generation_tokens_per_s
    assert run["file"] == str(scripted.gguf) and run["n_gpu_layers"] == 0
    assert vibe_local.fit(scripted.gguf).rows[0]["speed_source"] == "measured"


def test_cpu_figures_are_measured_once_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    from vibe_local import machine_speed
    from vibe_local.hardware import probe

    monkeypatch.delenv("VIBE_LOCAL_BANDWIDTH")
    monkeypatch.delenv("VIBE_LOCAL_FLOPS")
    monkeypatch.setattr(machine_speed, "FIRST_BUFFER_BYTES", 16 * 2**20)
    hardware = probe(memory="4GiB", gpu="none")  # a simulated RAM size: the CPU is the real one
    first = machine_speed.machine_speed(hardware)
    assert first.cpu.source == "measured" and first.cpu.bytes_per_s > 0 and first.cpu.flops > 0
    assert first.gpu is None and "4096 MiB" not in first.key
    assert machine_speed.machine_speed(hardware) == first  # cached: not measured again


def test_cli_flags_and_json(capsys, ladder_dir: Path) -> None:
    """--min-speed and --prefer reach the fit; --json carries the speed of every row."""
    from vibe_local.cli import main

    assert main(["fit", "-m", str(ladder_dir), "--json", "--prefer", "quality"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["speed"]["prefer"] == "quality" and data["speed"]["reply_tokens"] == REPLY_TOKENS
    assert all(r["gen_tok_s"] > 0 and r["speed_source"] == "predicted" for r in data["rows"])
    from vibe_local.fitting import GOOD_BPW
    from vibe_local.gguf_info import options_from_path

    good = {o.quant for o in options_from_path(ladder_dir) if o.bpw >= GOOD_BPW}
    fastest = max((r for r in data["rows"] if r["quant"] in good), key=lambda r: r["gen_tok_s"])
    assert main(["fit", "-m", str(ladder_dir), "--json", "--min-speed", "1e12"]) == 0
    assert json.loads(capsys.readouterr().out)["choice"]["quant"] == fastest["quant"]
    with pytest.raises(SystemExit) as caught:
        main(["fit", "-m", str(ladder_dir), "--min-speed", "-3"])
    assert caught.value.code == 2 and "--min-speed" in capsys.readouterr().err


def test_startup_line_of_run(backend_ready, scripted: ScriptedModel) -> None:
    import vibe_local
    from vibe_local.commands.run import startup_line

    with vibe_local.load(scripted.gguf) as model:
        line = startup_line(model.info)
    gen = model.info.extra["fit"].choice.gen_tok_s
    assert line.startswith(f"{model.info.quant} · CPU · context {model.info.ctx:,} · ")
    assert f"{gen:.1f} tokens/s predicted, an 8,000-token reply in" in line


def test_a_refused_request_measures_and_writes_nothing(monkeypatch: pytest.MonkeyPatch,
                                                       ladder_dir: Path,
                                                       isolated_home: Path) -> None:
    import vibe_local

    monkeypatch.delenv("VIBE_LOCAL_BANDWIDTH")
    monkeypatch.delenv("VIBE_LOCAL_FLOPS")
    with pytest.raises(InvalidRequestError, match="outside"):
        vibe_local.fit(ladder_dir, ctx=10**12)
    nothing = vibe_local.fit(ladder_dir, memory="1MiB")
    assert nothing.choice is None and nothing.speed == {}
    assert not (isolated_home / "vibe-local").exists()
