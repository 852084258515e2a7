"""Backend self-test (child process, cached verdict) and `vibe-local doctor`."""

from __future__ import annotations

import ctypes
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from quantize.llama_params import missing_fields
from vibe_local import backend, selftest
from vibe_local.cli import main
from vibe_local.doctor import advice, diagnose, format_report
from vibe_local.errors import BackendError
from vibe_local.hardware import GpuInfo, gpu_offload_supported, probe

DIES_WITH_SIGILL = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"]


def test_a_child_killed_by_sigill_turns_repacking_off(isolated_home: Path) -> None:
    result = selftest.run_selftest(child_command=DIES_WITH_SIGILL)
    assert result.repack_ok is False and "signal 4" in result.detail
    assert selftest.cached_result() == result
    assert selftest.repack_allowed() is False  # cached: no new child is run


def test_real_selftest_verdict_is_cached_per_build_and_cpu(isolated_home: Path) -> None:
    result = selftest.run_selftest()
    stored = json.loads((isolated_home / "vibe-local" / selftest.RESULT_FILE).read_text())
    assert stored["key"] == selftest.backend_key() == result.key
    assert "llama-cpp-python" in result.key
    assert selftest.repack_allowed() is result.repack_ok

    stored["key"] = "llama-cpp-python 0.0.1 / cpu somethingelse"
    (isolated_home / "vibe-local" / selftest.RESULT_FILE).write_text(json.dumps(stored))
    assert selftest.cached_result() is None  # another build or CPU: test again


def test_doctor_explains_how_to_get_gpu_offload(backend_ready, monkeypatch) -> None:
    monkeypatch.setenv("VIBE_LOCAL_GPU", "cuda:12GiB")
    report = diagnose()
    rebuild_tip = any('CMAKE_ARGS="-DGGML_CUDA=on"' in tip for tip in report.advice)
    # A CPU-only build is told how to rebuild; a CUDA or Metal build is not.
    assert report.gpu_offload == gpu_offload_supported()
    assert rebuild_tip is (not report.gpu_offload)


def test_doctor_advice_for_the_gpu_follows_the_build() -> None:
    hardware = replace(probe(), gpus=(GpuInfo("RTX", "cuda", 12 * 2**30, 12 * 2**30),))
    verdict = selftest.SelfTestResult("key", True, "ok", 0.0)
    assert any("-DGGML_CUDA=on" in tip for tip in advice(hardware, False, verdict))
    assert advice(hardware, True, verdict) == []


def test_doctor_reports_a_crashing_backend(isolated_home: Path) -> None:
    selftest.run_selftest(child_command=DIES_WITH_SIGILL)
    report = diagnose()
    assert any("repacking crashed" in tip for tip in report.advice)


def test_doctor_cli_json(backend_ready, capsys: pytest.CaptureFixture) -> None:
    assert main(["doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["llama_cpp_python"] and "repack_ok" in data["selftest"]
    assert data["hardware"]["ram_total"] > 0


class OldModelParams(ctypes.Structure):
    """llama_model_params as llama-cpp-python declared it before 0.3.15: no use_extra_bufts."""

    _fields_ = [("n_gpu_layers", ctypes.c_int32), ("use_mmap", ctypes.c_bool),
                ("use_mlock", ctypes.c_bool)]


def test_ctypes_accepts_an_undeclared_field_silently() -> None:
    params = OldModelParams()
    params.use_extra_bufts = False  # no error: why the guard must check _fields_ itself
    assert missing_fields(OldModelParams, ["use_extra_bufts", "use_mmap"]) == [
        "use_extra_bufts"]


def test_the_guard_refuses_a_build_without_the_repack_field() -> None:
    with pytest.raises(BackendError, match=r"use_extra_bufts.*llama-cpp-python>=0\.3\.15"):
        backend.check_fields(OldModelParams, [backend.REPACK_FIELD])


def test_open_llama_refuses_instead_of_loading_with_repacking_on(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import llama_cpp.llama

    monkeypatch.setattr(llama_cpp.llama.llama_cpp, "llama_model_params", OldModelParams)
    missing = tmp_path / "never-opened.gguf"  # refused before llama.cpp looks at the file
    for repack in (False, True):
        with pytest.raises(BackendError, match="use_extra_bufts"):
            backend.open_llama(missing, repack=repack)


def test_doctor_says_when_the_guard_cannot_apply(backend_ready, monkeypatch) -> None:
    import llama_cpp.llama

    assert diagnose().repack_guard is True  # the pinned floor declares the field
    monkeypatch.setattr(llama_cpp.llama.llama_cpp, "llama_model_params", OldModelParams)
    report = diagnose()
    assert report.repack_guard is False
    assert any("guard against the AMX crash cannot apply" in tip for tip in report.advice)
    assert "AMX crash guard   CANNOT apply" in format_report(report)


def test_without_the_guard_a_failed_selftest_is_not_called_a_crash() -> None:
    verdict = selftest.SelfTestResult("key", False, "child failed: BackendError", 0.0)
    tips = advice(probe(gpu="none"), False, verdict, repack_guard=False)
    assert len(tips) == 1 and "cannot turn llama.cpp's weight repacking off" in tips[0]
    assert any("crashed" in tip for tip in advice(probe(gpu="none"), False, verdict))
