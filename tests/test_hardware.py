"""The hardware probe: real values, simulated machines, and the parsers behind them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psutil
import pytest

from vibe_local.errors import InvalidRequestError, VibeLocalError
from vibe_local.hardware import (
    _MAC_FEATURES,
    _SIMD_FLAGS,
    GpuInfo,
    metal_working_set,
    nvidia_gpus,
    parse_cpuinfo,
    parse_gpu_spec,
    parse_nvidia_smi,
    parse_size,
    probe,
)

GIB, MIB = 2**30, 2**20


@pytest.fixture(autouse=True)
def no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIBE_LOCAL_MEMORY", raising=False)
    monkeypatch.delenv("VIBE_LOCAL_GPU", raising=False)


@pytest.mark.parametrize(("text", "expected"), [
    ("8GiB", 8 * GIB), ("8G", 8 * GIB), ("8g", 8 * GIB), ("8 gib", 8 * GIB),
    ("8GB", 8 * 10**9), ("512MiB", 512 * MIB), ("512M", 512 * MIB), ("512MB", 512 * 10**6),
    ("1.5GiB", 3 * GIB // 2), ("2TiB", 2 * 2**40), ("64KiB", 65536), ("1000", 1000),
    ("100B", 100), (4096, 4096),
])
def test_parse_size_forms(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "8 GiBs", "GiB", "-1GiB", "0", 0, "8XB", True])
def test_parse_size_rejects_garbage(text: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_size(text)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError) and isinstance(info.value, VibeLocalError)


def test_parse_size_error_shows_valid_forms() -> None:
    with pytest.raises(InvalidRequestError, match="8GiB"):
        parse_size("eight gigs")


def test_real_probe_is_sane() -> None:
    hw = probe()
    assert hw.simulated == ()
    assert hw.logical_cores >= hw.physical_cores >= 1
    assert hw.logical_cores == psutil.cpu_count()
    assert 0 < hw.ram_available <= hw.ram_total
    assert abs(hw.ram_total - psutil.virtual_memory().total) < 64 * MIB
    assert hw.cpu_name
    assert set(hw.simd) <= set(_SIMD_FLAGS.values()) | set(_MAC_FEATURES.values())
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if " avx2 " in flags:
        assert "AVX2" in hw.simd


def test_memory_override_sets_total_and_available() -> None:
    hw = probe(memory="2GiB", gpu="none")
    assert hw.ram_total == hw.ram_available == 2 * GIB
    assert hw.gpus == () and not hw.unified_memory
    assert hw.simulated == ("memory", "gpu")
    assert probe(memory=3 * GIB).ram_total == 3 * GIB


def test_cuda_override() -> None:
    hw = probe(gpu="cuda:12GiB")
    assert hw.gpus == (GpuInfo("simulated NVIDIA GPU (12GiB)", "cuda", 12 * GIB, 12 * GIB),)
    assert not hw.unified_memory and hw.simulated == ("gpu",)


def test_metal_override_uses_working_set_of_ram() -> None:
    hw = probe(memory="16GiB", gpu="metal")
    assert hw.unified_memory
    assert hw.gpus[0].backend == "metal"
    assert hw.gpus[0].total_bytes == hw.gpus[0].free_bytes == 16 * GIB * 2 // 3
    explicit = probe(memory="16GiB", gpu="metal:12GiB")
    assert explicit.gpus[0].free_bytes == 12 * GIB


def test_env_vars_give_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIBE_LOCAL_MEMORY", "4GiB")
    monkeypatch.setenv("VIBE_LOCAL_GPU", "cuda:6GiB")
    hw = probe()
    assert hw.ram_total == 4 * GIB and hw.gpus[0].total_bytes == 6 * GIB
    assert hw.simulated == ("memory", "gpu")
    assert probe(memory="1GiB", gpu="none").ram_total == 1 * GIB  # arguments win


@pytest.mark.parametrize("spec", ["cuda", "cuda:", "cuda:lots", "rocm:8GiB", "none:1G", "gpu",
                                  "metal:0"])
def test_bad_gpu_specs(spec: str) -> None:
    with pytest.raises(InvalidRequestError, match="cuda:12GiB"):
        parse_gpu_spec(spec, 16 * GIB)


def test_bad_env_spec_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIBE_LOCAL_GPU", "tpu")
    with pytest.raises(InvalidRequestError, match="metal"):
        probe()


@pytest.mark.parametrize(("ram_gib", "expected_mib"), [
    (8, 5461.33), (16, 10922.67), (32, 21845.33), (36, 24576), (64, 49152), (96, 73728),
    (192, 147456),
])
def test_metal_working_set_matches_reported_values(ram_gib: int, expected_mib: float) -> None:
    assert metal_working_set(ram_gib * GIB) / MIB == pytest.approx(expected_mib, abs=0.01)


def test_parse_nvidia_smi() -> None:
    text = "NVIDIA GeForce RTX 4090, 24564, 23012\nNVIDIA A100-SXM4-80GB, 81920, 1024\n\ngarbage\n"
    assert parse_nvidia_smi(text) == (
        GpuInfo("NVIDIA GeForce RTX 4090", "cuda", 24564 * MIB, 23012 * MIB),
        GpuInfo("NVIDIA A100-SXM4-80GB", "cuda", 81920 * MIB, 1024 * MIB),
    )
    assert parse_nvidia_smi("Weird, Name, With, Commas, 100, 50") == (
        GpuInfo("Weird, Name, With, Commas", "cuda", 100 * MIB, 50 * MIB),)
    assert parse_nvidia_smi("NVIDIA X, [N/A], [N/A]") == ()


def _fake_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    binary = tmp_path / "bin" / "nvidia-smi"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n" + script)
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{binary.parent}{os.pathsep}{os.environ['PATH']}")


def test_probe_reads_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_nvidia_smi(tmp_path, monkeypatch,
                     'case "$*" in *--query-gpu=name,memory.total,memory.free*) '
                     'echo "NVIDIA GeForce RTX 3060, 12288, 11000";; *) exit 9;; esac\n')
    hw = probe(memory="8GiB")
    assert hw.gpus == (GpuInfo("NVIDIA GeForce RTX 3060", "cuda", 12288 * MIB, 11000 * MIB),)
    assert hw.simulated == ("memory",)


@pytest.mark.parametrize("script", ["exit 3\n", "echo 'No devices were found'\n",
                                    "exec sleep 10\n"])
def test_failing_nvidia_smi_means_no_gpu(script: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_nvidia_smi(tmp_path, monkeypatch, script)
    assert nvidia_gpus() == ()


def test_missing_nvidia_smi_means_no_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert nvidia_gpus() == ()


def test_parse_cpuinfo_x86_and_arm() -> None:
    x86 = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
           "flags\t\t: fpu sse4_2 avx avx2 fma f16c avx512f avx512_vnni amx_tile amx_int8\n"
           "processor\t: 1\nmodel name\t: other\n")
    assert parse_cpuinfo(x86) == ("Intel(R) Xeon(R) Platinum 8480+",
                                  ("SSE4.2", "AVX", "AVX2", "FMA", "F16C", "AVX512F",
                                   "AVX512_VNNI", "AMX"))
    arm = "processor\t: 0\nFeatures\t: fp asimd asimddp sve i8mm\nCPU part\t: 0xd40\n"
    assert parse_cpuinfo(arm) == ("", ("NEON", "DOTPROD", "I8MM", "SVE"))


def test_to_dict_is_json_ready() -> None:
    import json

    data = probe(memory="8GiB", gpu="cuda:4GiB").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["gpus"][0]["backend"] == "cuda" and data["simulated"] == ["memory", "gpu"]
    assert set(data) == {"cpu_name", "physical_cores", "logical_cores", "simd", "ram_total",
                         "ram_available", "gpus", "unified_memory", "simulated"}


def test_thread_policy_one_thread_for_a_tiny_model() -> None:
    from vibe_local.hardware import SMALL_MODEL_BYTES, cpu_signature, default_threads

    assert default_threads(SMALL_MODEL_BYTES - 1, physical_cores=8) == 1
    assert default_threads(SMALL_MODEL_BYTES, physical_cores=8) == 8
    assert default_threads(physical_cores=6) == 6
    assert default_threads() >= 1  # this machine's physical cores, whatever they are
    assert cpu_signature() == cpu_signature() != ""  # the self-test's cache key is stable
