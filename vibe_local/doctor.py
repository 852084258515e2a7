"""`vibe-local doctor`: what this machine and this llama.cpp build can do, and what to fix.

Reports the installed llama-cpp-python, its compiled features (llama.cpp's system info), whether
it can offload to a GPU, the GPUs the machine has, whether the AMX crash guard can apply (the build
lets weight repacking be turned off) and the backend self-test verdict (repacking safe or not).
When a GPU is present but the build cannot use it, says exactly how to rebuild llama-cpp-python
with CUDA or Metal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version

from .backend import REPACK_FIELD, REPACK_FIELD_SINCE
from .hardware import Hardware, gpu_offload_supported, probe
from .selftest import SelfTestResult, cached_result, run_selftest

_REBUILD = {
    "cuda": 'CMAKE_ARGS="-DGGML_CUDA=on"',
    "metal": 'CMAKE_ARGS="-DGGML_METAL=on"',
}
_REINSTALL = ("reinstall it: `uv sync --reinstall-package llama-cpp-python` (in this project) or "
              "`pip install --force-reinstall --no-cache-dir llama-cpp-python`")


@dataclass
class DoctorReport:
    """Everything `doctor` found."""

    llama_cpp_python: str
    system_info: str
    gpu_offload: bool
    hardware: Hardware
    selftest: SelfTestResult | None  # None when llama_cpp cannot be imported
    advice: list[str]
    import_error: str | None = None  # why `import llama_cpp` failed, if it did
    # llama_model_params declares use_extra_bufts, so repacking can be turned off (the AMX crash
    # guard applies); None when llama_cpp cannot be imported
    repack_guard: bool | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["hardware"] = self.hardware.to_dict()
        return data


def diagnose(*, rerun_selftest: bool = False) -> DoctorReport:
    """Inspect the build and the machine; run the backend self-test if asked or never run.

    When llama_cpp itself cannot be imported (a broken build, a missing shared library) the
    machine is still reported, with the import error and how to fix it.
    """
    hardware = probe()
    try:
        import llama_cpp
    except Exception as exc:  # noqa: BLE001 - ImportError, OSError, RuntimeError: all "broken"
        problem = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        return DoctorReport(_installed_version(), "unavailable", False, hardware, None,
                            [f"`import llama_cpp` fails ({problem}); {_REINSTALL}."], problem)
    from .backend import repack_guard_available

    offload = gpu_offload_supported()
    guard = repack_guard_available()
    result = (None if rerun_selftest else cached_result()) or run_selftest()
    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace").strip()
    return DoctorReport(version("llama-cpp-python"), info, offload, hardware, result,
                        advice(hardware, offload, result, guard), repack_guard=guard)


def _installed_version() -> str:
    try:
        return version("llama-cpp-python")
    except PackageNotFoundError:
        return "not installed"


def advice(hardware: Hardware, offload: bool, selftest: SelfTestResult,
           repack_guard: bool = True) -> list[str]:
    """What the user should do about what was found (empty when all is well)."""
    tips = []
    if not repack_guard:
        tips.append(
            f"this llama-cpp-python cannot turn llama.cpp's weight repacking off (no "
            f"llama_model_params.{REPACK_FIELD}), so the guard against the AMX crash cannot apply "
            f"and loading models is refused; upgrade: "
            f"`pip install 'llama-cpp-python>={REPACK_FIELD_SINCE}'`.")
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
    if not selftest.repack_ok and repack_guard:  # without the guard its child cannot load
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
        f"llama-cpp-python  {report.llama_cpp_python}"
        + (f" (BROKEN: {report.import_error})" if report.import_error else ""),
        f"build features    {report.system_info}",
        f"GPU offload       {_offload_word(report)}",
        f"CPU               {hw.cpu_name}, {hw.physical_cores} cores, "
        f"{' '.join(hw.simd) or 'no SIMD flags read'}",
        f"RAM               {hw.ram_available / 2**30:.1f} GiB free of "
        f"{hw.ram_total / 2**30:.1f} GiB",
        f"GPUs              {gpus or 'none found'}",
        _guard_line(report),
        _selftest_line(report),
    ]
    lines += [f"advice            {tip}" for tip in report.advice] or ["advice            none"]
    return "\n".join(lines)


def _offload_word(report: DoctorReport) -> str:
    if report.import_error:
        return "unknown (llama_cpp cannot be imported)"
    return "yes" if report.gpu_offload else "no (CPU-only build)"


def _guard_line(report: DoctorReport) -> str:
    if report.repack_guard is None:
        return "AMX crash guard   unknown (llama_cpp cannot be imported)"
    return (f"AMX crash guard   {'can apply' if report.repack_guard else 'CANNOT apply'} "
            f"(llama_model_params.{REPACK_FIELD} "
            f"{'present' if report.repack_guard else 'missing'})")


def _selftest_line(report: DoctorReport) -> str:
    result = report.selftest
    if result is None:
        return "self-test         not run (llama_cpp cannot be imported)"
    return (f"self-test         repacking {'on' if result.repack_ok else 'OFF'}: "
            f"{result.detail} ({result.key})")
