"""Speeds measured on this machine: what real generations reached, so predictions learn.

One small JSON file in the data directory (`speeds.json`), rewritten atomically:

    {"machines": {KEY: {"cpu_flops": ...}},
     "runs": [{"machine", "file", "file_bytes", "n_gpu_layers", "kv_type",
               "gen_tok_s", "gen_ratio", "prompt_tok_s", "prompt_ratio", "at", "roofline"},
              ...]}

A run's ratios are measured speed / the roofline's prediction for that same generation (same
context positions), so a run at one context corrects predictions at another. Only the newest
MAX_RUNS runs are kept. Two processes finishing at the same moment may lose one run (the last
rename wins); a lost run costs a little accuracy, never a broken file.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .paths import home_dir

STORE_FILE = "speeds.json"
MAX_RUNS = 200


@dataclass(frozen=True)
class Run:
    """One real generation's measured speed, with the roofline it is compared against."""

    machine: str
    file: str
    file_bytes: int
    n_gpu_layers: int
    kv_type: str
    gen_tok_s: float
    gen_ratio: float  # measured / roofline prediction
    prompt_tok_s: float | None = None
    prompt_ratio: float | None = None
    at: float = 0.0
    roofline: int = 1  # the speed_model.ROOFLINE_VERSION the ratios compare with (1: unmarked)

    def same_setup(self, file: str, file_bytes: int, n_gpu_layers: int, kv_type: str) -> bool:
        """Whether this run measured that file with that placement."""
        return (self.file, self.file_bytes, self.n_gpu_layers, self.kv_type) == (
            file, file_bytes, n_gpu_layers, kv_type)


def _path() -> Path:
    return home_dir() / STORE_FILE


def _read() -> dict:
    """The store's content; an empty store when missing or unreadable (it is only a cache)."""
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"machines": {}, "runs": []}
    if not isinstance(data, dict):
        return {"machines": {}, "runs": []}
    data.setdefault("machines", {})
    data.setdefault("runs", [])
    return data


def _write(data: dict) -> None:
    from quantize.atomic import atomic_output

    with atomic_output(_path()) as temp:
        temp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def runs(machine: str) -> list[Run]:
    """This machine's recorded runs, oldest first (malformed entries skipped)."""
    names = {f.name for f in fields(Run)}
    found = []
    for item in _read()["runs"]:
        if not isinstance(item, dict) or item.get("machine") != machine:
            continue
        try:
            found.append(Run(**{k: v for k, v in item.items() if k in names}))
        except TypeError:
            continue
    return found


def record(run: Run) -> None:
    """Add a run (stamped now), keeping the newest MAX_RUNS.

    Raises:
        OutputPathError, DiskFullError: the data directory cannot be written.
    """
    data = _read()
    data["runs"] = [*data["runs"], asdict(run) | {"at": time.time()}][-MAX_RUNS:]
    _write(data)


def cached_flops(machine: str) -> float | None:
    """The CPU compute measured earlier on this machine, if any and still good: one measured
    while the machine was busy is measured again once it is quiet (bench/bandwidth.py)."""
    from .bench.bandwidth import worth_remeasuring

    value, load = _flops_entry(machine)
    return None if value is None or worth_remeasuring(load) else value


def _flops_entry(machine: str, data: dict | None = None) -> tuple[float | None, float]:
    """(CPU compute, load per CPU it was measured at) from the store's `data` (read if None)."""
    entry = (data or _read())["machines"].get(machine)
    entry = entry if isinstance(entry, dict) else {}
    value, load = entry.get("cpu_flops"), entry.get("load_per_cpu", 0.0)
    value = float(value) if isinstance(value, int | float) and value > 0 else None
    return value, float(load) if isinstance(load, int | float) else 0.0


def save_flops(machine: str, flops: float, load_per_cpu: float = 0.0) -> float:
    """Remember this machine's CPU compute, measured at that load, and return the figure kept:
    the better of it and an earlier one (a busy machine only lowers it). Best effort: a
    read-only home just re-measures."""
    data = _read()
    earlier, _ = _flops_entry(machine, data)
    kept = max(flops, earlier or 0.0)
    data["machines"][machine] = {"cpu_flops": kept, "load_per_cpu": load_per_cpu,
                                 "measured_at": time.time()}
    try:
        _write(data)
    except OSError:  # DiskFullError, OutputPathError
        pass
    return kept
