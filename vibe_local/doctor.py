"""`vibe-local doctor`: what this machine and this llama.cpp build can do, and what to fix.

Reports the installed llama-cpp-python, its compiled features (llama.cpp's system info), whether
it can offload to a GPU, the GPUs the machine has, and the backend self-test verdict (weight
repacking safe or not). When a GPU is present but the build cannot use it, says exactly how to
rebuild llama-cpp-python with CUDA or Metal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib.metadata import version

from .hardware import Hardware, gpu_offload_supported, probe
from .selftest import SelfTestResult, cached_result, run_selftest

_REBUILD = {
    "cuda": 'CMAKE_ARGS="-DGGML_CUDA=on"',
    "metal": 'CMAKE_ARGS="-DGGML_METAL=on"',
}


@dataclass
class DoctorReport:
    """Everything `doctor` found."""

    llama_cpp_python: str
    system_info: str
    gpu_offload: bool
    hardware: Hardware
    selftest: SelfTestResult
    advice: list[str]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["hardware"] = self.hardware.to_dict()
        return data


def diagnose(*, rerun_selftest: bool = False) -> DoctorReport:
    """Inspect the build and the machine; run the backend self-test if asked or never run."""
    import llama_cpp

    hardware = probe()
    offload = gpu_offload_supported()
    result = (None if rerun_selftest else cached_result()) or run_selftest()
    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace").strip()
    return DoctorReport(version("llama-cpp-python"), info, offload, hardware, result,
                        advice(hardware, offload, result))


def advice(hardware: Hardware, offload: bool, selftest: SelfTestResult) -> list[str]:
    """What the user should do about what was found (empty when all is well)."""
    tips = []
    for gpu in hardware.gpus:
        if not offload and gpu.backend in _REBUILD:
            flags = _REBUILD[gpu.backend]
            tips.append(
                f"{gpu.name} found, but this llama-cpp-python was built without "
                f"{gpu.backend.upper()} support, so models run on the CPU. Rebuild it: "
                f"`{flags} uv sync --reinstall-package llama-cpp-python` (in this project) or "
                f"`{flags} pip install --force-reinstall --no-cache-dir llama-cpp-python`."
            )
            break
    if not selftest.repack_ok:
        tips.append(
            "llama.cpp's weight repacking crashed this machine's CPU in the self-test "
            f"({selftest.detail}); vibe-local keeps it off, which is safe but slower on K-quants."
        )
    return tips


def format_report(report: DoctorReport) -> str:
    """Human-readable report for the terminal."""
    hw = report.hardware
    gpus = ", ".join(f"{g.name} ({g.total_bytes / 2**30:.1f} GiB, {g.backend})" for g in hw.gpus)
    lines = [
        f"llama-cpp-python  {report.llama_cpp_python}",
        f"build features    {report.system_info}",
        f"GPU offload       {'yes' if report.gpu_offload else 'no (CPU-only build)'}",
        f"CPU               {hw.cpu_name}, {hw.physical_cores} cores, "
        f"{' '.join(hw.simd) or 'no SIMD flags read'}",
        f"RAM               {hw.ram_available / 2**30:.1f} GiB free of "
        f"{hw.ram_total / 2**30:.1f} GiB",
        f"GPUs              {gpus or 'none found'}",
        f"self-test         repacking {'on' if report.selftest.repack_ok else 'OFF'}: "
        f"{report.selftest.detail} ({report.selftest.key})",
    ]
    lines += [f"advice            {tip}" for tip in report.advice] or ["advice            none"]
    return "\n".join(lines)
