"""Backend self-test (child process, cached verdict) and `vibe-local doctor`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from vibe_local import selftest
from vibe_local.cli import main
from vibe_local.doctor import diagnose

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
    assert report.gpu_offload is False  # this build is CPU-only
    assert any('CMAKE_ARGS="-DGGML_CUDA=on"' in tip for tip in report.advice)
    assert "AVX" in report.system_info or "NEON" in report.system_info


def test_doctor_reports_a_crashing_backend(isolated_home: Path) -> None:
    selftest.run_selftest(child_command=DIES_WITH_SIGILL)
    report = diagnose()
    assert any("repacking crashed" in tip for tip in report.advice)


def test_doctor_cli_json(backend_ready, capsys: pytest.CaptureFixture) -> None:
    assert main(["doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["llama_cpp_python"] and "repack_ok" in data["selftest"]
    assert data["hardware"]["ram_total"] > 0
