"""How fast this machine's devices move and multiply: the inputs of the speed prediction.

Per device, two figures: memory read bandwidth (bytes/s), which bounds generation, and compute
(FLOP/s), which bounds prompt processing.

* CPU bandwidth is measured (bench/bandwidth.py: a few NumPy threads streaming a buffer), once
  per machine and cached; the first fit measures it with a 256 MiB buffer (well under a
  second). CPU compute is a float32 matrix product timed for a fraction of a second, also
  cached. A figure measured on a busy machine is measured again once it is quiet, keeping the
  better one (bench/bandwidth.py). `VIBE_LOCAL_BANDWIDTH` / `VIBE_LOCAL_FLOPS` set them
  instead (a simulated machine, or tests that must not depend on this one).
* GPU figures come from the data sheet of the chip by name (NVIDIA: nvidia-smi's name; Apple:
  the chip's name), since a measurement would need the GPU build of llama.cpp and seconds of
  work. A name not in the tables (a simulated `--gpu cuda:12GiB` among them) gets a mid-range
  laptop GPU's figures, and the prediction says so.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, replace

from .hardware import GpuInfo, Hardware, parse_size

BANDWIDTH_ENV = "VIBE_LOCAL_BANDWIDTH"
FLOPS_ENV = "VIBE_LOCAL_FLOPS"
FIRST_BUFFER_BYTES = 256 * 2**20  # enough to defeat any CPU cache, quick to stream
MATMUL_N = 512  # float32 n x n product: ~0.27 GFLOP per call
MATMUL_SECONDS = 0.2

GB, TFLOPS = 1e9, 1e12
# name fragment -> (memory bandwidth GB/s, dense FP16 tensor TFLOPS), vendors' data sheets.
# Longest matching fragment wins, so "4090 laptop" is found before "4090".
NVIDIA_GPUS = {
    "h200": (4800, 990), "h100 pcie": (2000, 756), "h100": (3350, 990), "gh200": (4000, 990),
    "a100-sxm4-80gb": (2039, 312), "a100 80gb": (1935, 312), "a100": (1555, 312),
    "l40s": (864, 362), "l40": (864, 181), "l4": (300, 121), "a10g": (600, 70), "a10": (600, 125),
    "t4": (320, 65), "v100": (900, 125), "a6000": (768, 155), "6000 ada": (960, 364),
    "5090": (1792, 210), "5080": (960, 113), "5070 ti": (896, 88), "5070": (672, 62),
    "4090 laptop": (576, 80), "4090": (1008, 165), "4080 laptop": (432, 60), "4080": (717, 97),
    "4070 laptop": (256, 32), "4070 ti": (504, 80), "4070": (504, 58), "4060 ti": (288, 44),
    "4060 laptop": (256, 30), "4060": (272, 30), "3090": (936, 71), "3080 ti": (912, 68),
    "3080": (760, 60), "3070": (448, 40), "3060 ti": (448, 32), "3060 laptop": (336, 22),
    "3060": (360, 25), "2080 ti": (616, 54), "2080": (448, 40), "2070": (448, 30),
    "2060": (336, 26), "1080 ti": (484, 11), "1080": (320, 9),
}
# Apple chip -> (unified memory bandwidth GB/s, GPU FP32 TFLOPS), Apple's specifications.
APPLE_CHIPS = {
    "m1": (68, 2.6), "m1 pro": (200, 5.2), "m1 max": (400, 10.4), "m1 ultra": (800, 21),
    "m2": (100, 3.6), "m2 pro": (200, 6.8), "m2 max": (400, 13.6), "m2 ultra": (800, 27),
    "m3": (100, 4.1), "m3 pro": (150, 7.4), "m3 max": (400, 16.4), "m3 ultra": (819, 28),
    "m4": (120, 4.3), "m4 pro": (273, 9.2), "m4 max": (546, 18.4),
    "m5": (153, 5.7),
}
UNKNOWN_CUDA = (300, 25)  # a mid-range laptop GPU (RTX 3060/4060 class)
UNKNOWN_APPLE = (100, 3.6)  # an M2/M3-class chip


@dataclass(frozen=True)
class DeviceSpeed:
    """One device's figures and where they came from."""

    name: str
    bytes_per_s: float
    flops: float
    source: str  # "measured", "VIBE_LOCAL_BANDWIDTH", "data sheet", "assumed (...)"


@dataclass(frozen=True)
class MachineSpeed:
    """The CPU's and (if any) the GPU's figures, and the key measured speeds are filed under."""

    key: str
    cpu: DeviceSpeed
    gpu: DeviceSpeed | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def gpu_speed(gpu: GpuInfo) -> DeviceSpeed:
    """Bandwidth and compute of a GPU from the tables (see the module docstring)."""
    name = gpu.name.lower()
    if gpu.backend == "metal":
        chip = " ".join(w for w in name.split() if w != "apple")
        found = [k for k in (chip, " ".join(chip.split()[:1])) if k in APPLE_CHIPS]
        figures, unknown = (APPLE_CHIPS[found[0]] if found else None), UNKNOWN_APPLE
    else:
        found = sorted((k for k in NVIDIA_GPUS if k in name), key=len, reverse=True)
        figures, unknown = (NVIDIA_GPUS[found[0]] if found else None), UNKNOWN_CUDA
    if figures is not None:
        return DeviceSpeed(gpu.name, figures[0] * GB, figures[1] * TFLOPS, "data sheet")
    return DeviceSpeed(gpu.name, unknown[0] * GB, unknown[1] * TFLOPS,
                       "assumed: a GPU not in the table")


def machine_speed(hardware: Hardware) -> MachineSpeed:
    """This machine's figures (the CPU's measured once and cached; see the module docstring).

    A simulated memory size does not change the CPU, so the CPU is measured on the real one.
    """
    from .bench.bandwidth import machine_key

    real = _real(hardware)
    key = machine_key(real)
    gpu = None
    if hardware.gpus:
        gpu = gpu_speed(max(hardware.gpus, key=lambda g: g.free_bytes))
        if "gpu" not in hardware.simulated:
            key += f" / {gpu.name}"
    return MachineSpeed(key, cpu_speed(real, key), gpu)


def _real(hardware: Hardware) -> Hardware:
    """The hardware with its real RAM size (the bandwidth cache is keyed by it)."""
    if "memory" not in hardware.simulated:
        return hardware
    import psutil

    vm = psutil.virtual_memory()
    return replace(hardware, ram_total=int(vm.total), ram_available=int(vm.available))


def cpu_speed(real: Hardware, key: str) -> DeviceSpeed:
    """The CPU's figures: from the environment, the caches, or measured now (then cached)."""
    from . import speed_store

    if os.environ.get(BANDWIDTH_ENV):
        bandwidth, source = float(parse_size(os.environ[BANDWIDTH_ENV])), BANDWIDTH_ENV
    else:
        from .bench.bandwidth import machine_bandwidth

        bandwidth = machine_bandwidth(real, buffer_bytes=FIRST_BUFFER_BYTES).bytes_per_s
        source = "measured"
    if os.environ.get(FLOPS_ENV):
        flops = float(parse_size(os.environ[FLOPS_ENV]))
    elif (flops := speed_store.cached_flops(key)) is None:
        from .bench.bandwidth import load_per_cpu

        load = load_per_cpu()
        flops = speed_store.save_flops(key, measure_flops(), load)
    return DeviceSpeed(real.cpu_name or "CPU", bandwidth, flops, source)


def measure_flops(seconds: float = MATMUL_SECONDS) -> float:
    """float32 matrix products per second x FLOPs each, the best of three short runs.

    NumPy's BLAS uses every core, as llama.cpp's batched prompt evaluation does.
    """
    import numpy as np

    a = np.ones((MATMUL_N, MATMUL_N), dtype=np.float32)
    a @ a  # start BLAS's threads
    best = 0.0
    for _ in range(3):
        started, calls = time.perf_counter(), 0
        while (elapsed := time.perf_counter() - started) < seconds / 3:
            a @ a
            calls += 1
        best = max(best, 2 * MATMUL_N**3 * calls / elapsed)
    return best
