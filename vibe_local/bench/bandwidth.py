"""This machine's memory bandwidth, measured: the roofline of generation speed.

Method: a float64 buffer of 1 GiB (or a quarter of the available RAM, if less), far larger than
any CPU cache, is written once so every page is mapped, then summed by one thread per CPU this
process may use, each over its own contiguous slice. NumPy releases the GIL inside the
reduction, so the threads stream from RAM at the same time, as llama.cpp's threads do when they
read the weights. Bandwidth = buffer bytes / wall time of the whole pass; the best of 5 passes is
kept (the one least disturbed by other work). This is a read-only stream, like generation's
weight reads; it is what NumPy's summation reaches, a lower bound of the hardware's peak.

Measuring takes a few seconds and 1 GiB of RAM, so the result is cached in home_dir() keyed by
the CPU (name, logical CPUs) and total RAM; a different machine measures again. A figure
measured while the machine was busy (other work streams the same RAM, so it comes out far too
low) is provisional: the first use on a quiet machine measures again and keeps the better one.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace

from ..paths import home_dir

CACHE_FILE = "bandwidth.json"
BUFFER_BYTES = 2**30
MIN_BUFFER_BYTES = 64 * 2**20
RUNS = 5
METHOD = ("best of {runs} passes of {threads} threads summing a {size} MiB float64 buffer with "
          "NumPy (read-only stream)")
BUSY_LOAD = 0.5  # 1-minute load average per CPU above which a measured figure is provisional


@dataclass(frozen=True)
class Bandwidth:
    """A measured memory read bandwidth."""

    bytes_per_s: float
    threads: int
    buffer_bytes: int
    runs: list[float]  # bytes/s of each pass
    key: str  # the machine it was measured on
    method: str
    measured_at: float
    load_per_cpu: float = 0.0  # when it was measured (see BUSY_LOAD)

    def to_dict(self) -> dict:
        return asdict(self)


def machine_key(hardware) -> str:
    """Identity of the machine a measurement belongs to (a `hardware.Hardware`)."""
    return (f"{hardware.cpu_name} / {hardware.logical_cores} CPUs / "
            f"{hardware.ram_total // 2**20} MiB RAM")


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def load_per_cpu() -> float:
    """The 1-minute load average per usable CPU (0 where the OS does not report one)."""
    try:
        return os.getloadavg()[0] / available_cpus()
    except (AttributeError, OSError):
        return 0.0


def worth_remeasuring(load_then: float) -> bool:
    """Whether a figure measured at `load_then` should be measured again now: it was taken on
    a busy machine and this one is quiet."""
    return load_then > BUSY_LOAD >= load_per_cpu()


def measure_bandwidth(buffer_bytes: int = BUFFER_BYTES, *, runs: int = RUNS,
                      threads: int | None = None, key: str = "") -> Bandwidth:
    """Stream-read a buffer with several threads; the best pass's bytes/s (see module doc)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    threads = threads or available_cpus()
    load = load_per_cpu()
    data = np.ones(max(buffer_bytes // 8, threads), dtype=np.float64)  # writes every page
    slices = np.array_split(data, threads)
    rates = []
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(np.sum, slices))  # start the threads, touch the buffer once
        for _ in range(runs):
            started = time.perf_counter()
            sums = list(pool.map(np.sum, slices))
            rates.append(data.nbytes / (time.perf_counter() - started))
    assert sum(sums) == data.size  # the reads really happened
    method = METHOD.format(runs=runs, threads=threads, size=data.nbytes // 2**20)
    return Bandwidth(max(rates), threads, data.nbytes, rates, key, method, time.time(), load)


def machine_bandwidth(hardware, *, refresh: bool = False,
                      buffer_bytes: int = BUFFER_BYTES) -> Bandwidth:
    """The cached bandwidth of this machine, measured (and cached) when missing or stale, or
    when it was measured busy and the machine is quiet now (then the better figure is kept).

    Args:
        hardware: this machine's `hardware.probe()` (not a simulated one).
        refresh: measure again even when a result is cached (the new figure is kept).
        buffer_bytes: the buffer to stream (at most a quarter of the available RAM is used).
    """
    key = machine_key(hardware)
    cached = None if refresh else _load(key)
    if cached is not None and not worth_remeasuring(cached.load_per_cpu):
        return cached
    budget = max(MIN_BUFFER_BYTES, hardware.ram_available // 4)
    result = measure_bandwidth(min(buffer_bytes, budget), key=key)
    if cached is not None and cached.bytes_per_s > result.bytes_per_s:
        result = replace(cached, load_per_cpu=result.load_per_cpu)  # settled: measured quiet
    try:
        _save(result)
    except OSError:  # an unwritable data directory: the figure still holds, uncached
        pass
    return result


def _load(key: str) -> Bandwidth | None:
    try:
        result = Bandwidth(**json.loads((home_dir() / CACHE_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return result if result.key == key else None


def _save(result: Bandwidth) -> None:
    from quantize.atomic import atomic_output

    target = home_dir() / CACHE_FILE
    with atomic_output(target) as temp:
        temp.write_text(json.dumps(result.to_dict(), indent=2))
