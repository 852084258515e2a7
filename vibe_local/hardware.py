"""What this machine offers a model: CPU, RAM, GPUs — or what a simulated machine would.

`probe()` reads the real machine (psutil, /proc/cpuinfo or sysctl, `nvidia-smi`) and lets the
caller override memory and GPU facts, so `vibe-local fit --memory 8GiB --gpu cuda:6GiB` can
answer "what would run on my friend's laptop?". Everything that parses text is a pure function
so it can be tested without the hardware.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass

from .errors import InvalidRequestError

MEMORY_ENV = "VIBE_LOCAL_MEMORY"
GPU_ENV = "VIBE_LOCAL_GPU"
NVIDIA_SMI_TIMEOUT_S = 2.0
SMALL_MODEL_BYTES = 64 * 2**20  # below this, one thread beats several (see default_threads)
GPU_SPEC_FORMS = '"none", "cuda:12GiB", "metal" or "metal:16GiB"'

# Binary units for bare letters (as `free -g`, `docker --memory 8g` and llama.cpp's logs use);
# "GB"-style units are SI, as disk and RAM vendors print them.
_UNITS = {
    "": 1, "b": 1,
    "k": 2**10, "kib": 2**10, "kb": 10**3,
    "m": 2**20, "mib": 2**20, "mb": 10**6,
    "g": 2**30, "gib": 2**30, "gb": 10**9,
    "t": 2**40, "tib": 2**40, "tb": 10**12,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)

# /proc/cpuinfo flag (x86 "flags", Arm "Features") -> the name llama.cpp's system info uses.
_SIMD_FLAGS = {
    "sse4_2": "SSE4.2", "avx": "AVX", "avx2": "AVX2", "fma": "FMA", "f16c": "F16C",
    "avx512f": "AVX512F", "avx512bw": "AVX512BW", "avx512_vnni": "AVX512_VNNI",
    "avx512_bf16": "AVX512_BF16", "avx_vnni": "AVX_VNNI", "amx_tile": "AMX",
    "asimd": "NEON", "asimddp": "DOTPROD", "i8mm": "I8MM", "sve": "SVE", "sve2": "SVE2",
}
# macOS sysctl key -> name (Apple Silicon; Intel Macs report x86 features the same way).
_MAC_FEATURES = {
    "hw.optional.neon": "NEON", "hw.optional.arm.FEAT_DotProd": "DOTPROD",
    "hw.optional.arm.FEAT_I8MM": "I8MM", "hw.optional.arm.FEAT_BF16": "BF16",
    "hw.optional.avx2_0": "AVX2", "hw.optional.avx512f": "AVX512F",
}


@dataclass(frozen=True)
class GpuInfo:
    """One GPU llama.cpp could offload to; for Metal, sizes are the usable working set."""

    name: str
    backend: str  # "cuda" | "metal"
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class Hardware:
    """The facts the memory fit needs, with the overridden ones named in `simulated`."""

    cpu_name: str
    physical_cores: int
    logical_cores: int
    simd: tuple[str, ...]
    ram_total: int
    ram_available: int
    gpus: tuple[GpuInfo, ...]
    unified_memory: bool
    simulated: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["simd"] = list(self.simd)
        data["simulated"] = list(self.simulated)
        data["gpus"] = [asdict(g) for g in self.gpus]
        return data


def parse_size(text: str | int) -> int:
    """Bytes from "8GiB", "8G" (binary: 8 * 2**30), "8GB" (SI: 8 * 10**9), "512MiB", 123.

    A bare number is bytes. Fractions are allowed ("1.5GiB").

    Raises:
        InvalidRequestError: not a positive size in a known unit.
    """
    if isinstance(text, bool):
        raise InvalidRequestError(f"not a size: {text!r}")
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE_RE.match(str(text))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise InvalidRequestError(
                f"not a size: {text!r}; write e.g. 8GiB or 8G (binary), 8GB (decimal), "
                "512MiB, or a number of bytes")
        value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        raise InvalidRequestError(f"a size must be positive, got {text!r}")
    return value


def metal_working_set(ram_total: int) -> int:
    """Approximate Metal's `recommendedMaxWorkingSetSize` for an Apple Silicon Mac.

    There is no Mac here to ask, so this follows values llama.cpp users have posted from
    `ggml_metal_init`: 16 GB -> 10922.67 MB and 32 GB -> 21845.34 MB (2/3 of RAM), 64 GB ->
    49152 MiB and 96 GB -> 73728 MB (3/4 of RAM). Newer macOS releases allow somewhat more
    (128 GB -> 107.5 GiB on macOS 26), so the rule errs on the safe side:
    2/3 of RAM up to 36 GiB, 3/4 above.
    """
    if ram_total <= 36 * 2**30:
        return ram_total * 2 // 3
    return ram_total * 3 // 4


def parse_nvidia_smi(text: str) -> tuple[GpuInfo, ...]:
    """GPUs from `nvidia-smi --query-gpu=name,memory.total,memory.free --format=csv,noheader,
    nounits` output (MiB values); lines that do not parse are skipped."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.rsplit(",", 2)]
        if len(parts) != 3:
            continue
        try:
            total, free = int(float(parts[1]) * 2**20), int(float(parts[2]) * 2**20)
        except ValueError:
            continue
        gpus.append(GpuInfo(parts[0], "cuda", total, free))
    return tuple(gpus)


def nvidia_gpus() -> tuple[GpuInfo, ...]:
    """NVIDIA GPUs via nvidia-smi; none when it is absent, slow or failing (never raises)."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return ()
    command = [binary, "--query-gpu=name,memory.total,memory.free",
               "--format=csv,noheader,nounits"]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=NVIDIA_SMI_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    return parse_nvidia_smi(done.stdout) if done.returncode == 0 else ()


def parse_gpu_spec(spec: str, ram_total: int) -> tuple[tuple[GpuInfo, ...], bool]:
    """(gpus, unified_memory) for a simulated GPU: "none", "cuda:12GiB", "metal", "metal:16GiB".

    "metal:SIZE" gives the working-set budget itself; plain "metal" derives it from RAM.

    Raises:
        InvalidRequestError: any other form; the message lists the valid ones.
    """
    kind, _, size = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "none" and not size:
        return (), False
    try:
        if kind == "cuda" and size:
            vram = parse_size(size)
            return (GpuInfo(f"simulated NVIDIA GPU ({size})", "cuda", vram, vram),), False
        if kind == "metal":
            budget = parse_size(size) if size else metal_working_set(ram_total)
            return (GpuInfo("simulated Apple GPU", "metal", budget, budget),), True
    except InvalidRequestError as exc:
        raise InvalidRequestError(
            f"bad GPU spec {spec!r} ({exc}); use {GPU_SPEC_FORMS}") from None
    raise InvalidRequestError(f"bad GPU spec {spec!r}; use {GPU_SPEC_FORMS}")


def parse_cpuinfo(text: str) -> tuple[str, tuple[str, ...]]:
    """(CPU name, SIMD features) from Linux /proc/cpuinfo text (first processor block)."""
    name, flags = _cpuinfo_fields(text)
    return name, _simd(flags, _SIMD_FLAGS)


def _cpuinfo_fields(text: str) -> tuple[str, tuple[str, ...]]:
    """(CPU name, every feature flag) of the first processor block of /proc/cpuinfo."""
    name, flags = "", ()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not name:
            name = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = tuple(value.split())
    return name, flags


def _simd(flags: tuple[str, ...], names: dict[str, str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for f, n in names.items() if f in flags))


def _sysctl(key: str) -> str:
    """One macOS sysctl value, "" when unavailable."""
    try:
        done = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True,
                              timeout=NVIDIA_SMI_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _cpu_raw() -> tuple[str, tuple[str, ...]]:
    """CPU name and feature flags, best effort: /proc/cpuinfo's flags on Linux, the
    hw.optional sysctl keys that are set on macOS."""
    if platform.system() == "Darwin":
        flags = tuple(key for key in _MAC_FEATURES if _sysctl(key) == "1")
        return _sysctl("machdep.cpu.brand_string") or platform.processor(), flags
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            name, flags = _cpuinfo_fields(f.read())
    except OSError:
        name, flags = "", ()
    return name or platform.processor() or platform.machine(), flags


def _cpu_facts() -> tuple[str, tuple[str, ...]]:
    """CPU name and SIMD features (llama.cpp's names) of this machine."""
    name, flags = _cpu_raw()
    return name, _simd(flags, _MAC_FEATURES if platform.system() == "Darwin" else _SIMD_FLAGS)


def cpu_signature() -> str:
    """The CPU's name and every feature flag: what a result measured on this CPU holds for
    (the backend self-test's verdict is cached under it)."""
    name, flags = _cpu_raw()
    return " ".join([name, *sorted(flags)])


def is_apple_silicon() -> bool:
    """True on an Arm Mac, where the GPU shares RAM (unified memory) through Metal."""
    return platform.system() == "Darwin" and platform.machine() == "arm64"


def _real_gpus(cpu_name: str, ram_total: int) -> tuple[tuple[GpuInfo, ...], bool]:
    """(gpus, unified_memory) of this machine."""
    if is_apple_silicon():
        budget = metal_working_set(ram_total)
        return (GpuInfo(cpu_name or "Apple GPU", "metal", budget, budget),), True
    return nvidia_gpus(), False


def probe(*, memory: str | int | None = None, gpu: str | None = None) -> Hardware:
    """Describe this machine, optionally pretending to be another.

    Args:
        memory: total (and available) RAM to assume, e.g. "8GiB"; default from
            $VIBE_LOCAL_MEMORY, else the real values.
        gpu: "none", "cuda:12GiB" (one NVIDIA GPU, all of it free), "metal" (Apple unified
            memory, budget from RAM) or "metal:16GiB" (that working-set budget); default from
            $VIBE_LOCAL_GPU, else what nvidia-smi or the Mac reports.

    Raises:
        InvalidRequestError: a malformed memory size or GPU spec.
    """
    import psutil

    memory = memory if memory is not None else (os.environ.get(MEMORY_ENV) or None)
    gpu = gpu if gpu is not None else (os.environ.get(GPU_ENV) or None)
    simulated = []
    cpu_name, simd = _cpu_facts()
    logical, physical = _core_counts()
    if memory is not None:
        ram_total = ram_available = parse_size(memory)
        simulated.append("memory")
    else:
        vm = psutil.virtual_memory()
        ram_total, ram_available = int(vm.total), int(vm.available)
    if gpu is not None:
        gpus, unified = parse_gpu_spec(gpu, ram_total)
        simulated.append("gpu")
    else:
        gpus, unified = _real_gpus(cpu_name, ram_total)
    return Hardware(cpu_name, physical, logical, simd, ram_total, ram_available, gpus,
                    unified, tuple(simulated))


def gpu_offload_supported() -> bool:
    """Whether this llama.cpp build can offload layers to a GPU (CUDA, Metal, ...)."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def _core_counts() -> tuple[int, int]:
    """(logical, physical) CPU cores; physical falls back to logical where unknown."""
    import psutil

    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    return logical, psutil.cpu_count(logical=False) or logical


def default_threads(model_bytes: int | None = None, physical_cores: int | None = None) -> int:
    """How many threads llama.cpp gets: one per physical core, but one for a tiny model.

    A token of a model this small is microseconds of work per layer; split across threads,
    llama.cpp's per-operation barriers cost more than they save, and on a busy machine a thread
    waiting for a descheduled sibling stalls every operation (measured on 2 busy cores with a
    4 MB model: 1,730 tokens/s on one thread, 4 on two).

    Args:
        model_bytes: the GGUF file's size, when a model is known.
        physical_cores: the (possibly simulated) machine's; default this machine's.
    """
    if model_bytes is not None and model_bytes < SMALL_MODEL_BYTES:
        return 1
    return physical_cores or _core_counts()[1]
