"""Prompt and generation speed per quant, load time, peak memory, and the bandwidth roofline.

`measure_speed` runs one child process per quant (speed_worker.py: llama-bench's method through
the runtime's own loading path) and gathers the rows; `format_speed_table` prints them. Each
quant gets a fresh process so its peak RSS is its own and a crash in llama.cpp becomes an error
row instead of ending the benchmark.

The roofline: generating a token reads every weight once (roofline.py), so
effective bandwidth = bytes per token x tg tokens/s can be compared with what this machine's RAM
delivers (bandwidth.py). Near 100% the quant is memory bound and only fewer bytes make it
faster; well below, compute (dequantization, threads) is the limit.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from quantize.display import format_bytes, text_table

from ..errors import InvalidRequestError, VibeLocalError
from .speed_worker import ERROR, FLASH_ATTN, KV_TYPE, N_BATCH, PROGRESS

Progress = Callable[[str], None]


def mean_sd(samples: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; 0 for one sample), as llama-bench reports."""
    if not samples:
        raise ValueError("no samples")
    sd = statistics.stdev(samples) if len(samples) > 1 else 0.0
    return statistics.fmean(samples), sd


@dataclass(frozen=True)
class SpeedSettings:
    """How every quant is measured."""

    pp: int = 512
    tg: int = 128
    reps: int = 5
    threads: int = 1
    repack: bool = False
    seed: int = 0
    n_batch: int = N_BATCH
    n_ubatch: int = N_BATCH
    flash_attn: bool = FLASH_ATTN
    kv_type: str = KV_TYPE


@dataclass
class SpeedRow:
    """One quant's figures, or why it has none (`error`)."""

    quant: str
    path: str
    file_bytes: int
    load_s: float | None = None
    pp_ts: list[float] = field(default_factory=list)  # t/s per repetition
    tg_ts: list[float] = field(default_factory=list)
    peak_rss_bytes: int | None = None
    traffic: dict | None = None  # bytes per generated token (roofline.TokenTraffic.to_dict)
    error: str | None = None

    @property
    def pp(self) -> tuple[float, float] | None:
        return mean_sd(self.pp_ts) if self.pp_ts else None

    @property
    def tg(self) -> tuple[float, float] | None:
        return mean_sd(self.tg_ts) if self.tg_ts else None

    @property
    def bandwidth(self) -> float | None:
        """Effective read bandwidth of generation, bytes/s: bytes per token x mean tg t/s."""
        if self.traffic is None or self.tg is None:
            return None
        return self.traffic["total"] * self.tg[0]

    def to_dict(self) -> dict:
        pp, tg = self.pp, self.tg
        return {**asdict(self), "pp_mean": pp and pp[0], "pp_sd": pp and pp[1],
                "tg_mean": tg and tg[0], "tg_sd": tg and tg[1],
                "bandwidth_bytes_per_s": self.bandwidth}


@dataclass
class SpeedReport:
    """Everything `bench speed` measured, with the facts needed to compare runs."""

    model: str
    settings: SpeedSettings
    machine: dict  # hardware.probe().to_dict()
    memory_bandwidth: dict  # bandwidth.Bandwidth.to_dict()
    llama_cpp_python: str
    rows: list[SpeedRow]

    def percent_of_measured(self, row: SpeedRow) -> float | None:
        """The row's effective bandwidth as a percentage of the measured memory bandwidth."""
        if row.bandwidth is None:
            return None
        return 100 * row.bandwidth / self.memory_bandwidth["bytes_per_s"]

    def to_dict(self) -> dict:
        rows = [{**r.to_dict(), "percent_of_measured_bandwidth": self.percent_of_measured(r)}
                for r in self.rows]
        return {"model": self.model, "settings": asdict(self.settings), "machine": self.machine,
                "memory_bandwidth": self.memory_bandwidth,
                "llama_cpp_python": self.llama_cpp_python, "rows": rows}


def measure_speed(path_or_ref: str | Path, quants: list[str] | None = None, *, reps: int = 5,
                  pp: int = 512, tg: int = 128, threads: int | None = None,
                  progress: Progress | None = None, assume_yes: bool = False,
                  refresh_bandwidth: bool = False) -> SpeedReport:
    """Measure every quant (or `quants`) of a model, one child process each.

    Args:
        path_or_ref: a .gguf file, a ladder directory with manifest.json, or a catalogue id
            (`vibethinker-1.5b`, `vibethinker-1.5b:Q4_K_M`).
        quants: which quants, e.g. ["Q4_K_M", "Q8_0"]; default all the model offers.
        reps, pp, tg: repetitions, prompt tokens, generated tokens (llama-bench's -r, -p, -n).
        threads: CPU threads (default: physical cores, as the runtime uses).
        progress: called with one line per step (stderr in the CLI).
        assume_yes: pull a catalogue id that is not downloaded yet.
        refresh_bandwidth: measure the memory bandwidth again instead of using the cache.

    Raises:
        ModelNotFoundError, InvalidModelError: the model path is wrong or not a GGUF model.
        InvalidRequestError: a bad number or an unknown quant.
        OfflineError, DownloadError: a catalogue id that could not be pulled.
    """
    from importlib.metadata import version

    from ..gguf_info import options_from_path
    from ..hardware import default_threads, probe
    from ..resolve import resolve
    from ..selftest import repack_allowed
    from .bandwidth import machine_bandwidth

    _check_counts(reps=reps, pp=pp, tg=tg, threads=threads)
    target = resolve(path_or_ref, quant=None, assume_yes=assume_yes)
    options = _select(options_from_path(target.path), quants or (
        [target.quant] if target.quant not in (None, "auto") else None))
    _check_context(options, pp + tg)
    say = progress or (lambda line: None)
    hardware = probe()
    threads = threads or default_threads(max((o.bytes for o in options), default=None),
                                         hardware.physical_cores)
    settings = SpeedSettings(pp, tg, reps, threads, repack_allowed())
    say("memory bandwidth: measuring (once per machine, then cached) ...")
    bandwidth = machine_bandwidth(hardware, refresh=refresh_bandwidth)
    rows = [run_worker(option.quant, option.path, settings, say) for option in options]
    return SpeedReport(str(path_or_ref), settings, hardware.to_dict(), bandwidth.to_dict(),
                       version("llama-cpp-python"), rows)


def _check_counts(*, reps: int, pp: int, tg: int, threads: int | None) -> None:
    """Numbers that cannot work are refused before any child process starts."""
    from .limits import MAX_REPS, check_range, check_threads

    check_range("--reps", reps, 1, MAX_REPS)
    check_range("--pp", pp, 1)
    check_range("--tg", tg, 1)
    check_threads(threads)


def _check_context(options: list, tokens: int) -> None:
    """pp + tg tokens must fit the context the model was trained for (the child allocates it).

    Files whose header cannot be read are left to their own error row.
    """
    from ..gguf_info import read_geometry

    for option in options:
        try:
            trained = read_geometry(option.path).n_ctx_train
        except VibeLocalError:  # a damaged file: reported in its own row instead
            continue
        if tokens > trained:
            raise InvalidRequestError(
                f"--pp + --tg = {tokens:,} tokens is more than {option.path.name} was trained "
                f"for ({trained:,}); lower --pp or --tg")


def _select(options: list, quants: list[str] | None) -> list:
    """The options named in `quants` (case-insensitive), in the model's order."""
    wanted = [q.strip().upper() for q in quants or () if q.strip()]
    if not wanted:
        return options
    known = {o.quant.upper() for o in options}
    missing = [q for q in wanted if q not in known]
    if missing:
        raise InvalidRequestError(f"the model has no {', '.join(missing)}; it has "
                                  f"{', '.join(o.quant for o in options)}")
    return [o for o in options if o.quant.upper() in wanted]


def worker_command(path: Path, settings: SpeedSettings) -> list[str]:
    """The child process that measures one file."""
    s = settings
    return [sys.executable, "-m", "vibe_local.bench.speed_worker", str(path), "--pp", str(s.pp),
            "--tg", str(s.tg), "--reps", str(s.reps), "--threads", str(s.threads),
            "--repack", str(int(s.repack)), "--seed", str(s.seed)]


def run_worker(quant: str, path: Path, settings: SpeedSettings, progress: Progress,
               command: list[str] | None = None) -> SpeedRow:
    """Measure one file in a child process; its failure becomes the row's `error`.

    Args:
        command: what to run instead of `worker_command` (tests use a child that dies).
    """
    import json

    row = SpeedRow(quant, str(path), path.stat().st_size if path.is_file() else 0)
    progress(f"{quant}: starting a fresh process")
    child = subprocess.Popen(command or worker_command(path, settings), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    tail: deque[str] = deque(maxlen=20)
    for line in child.stderr:  # the result comes on stdout only at the very end
        if line.startswith(PROGRESS):
            progress(f"{quant}: {line[len(PROGRESS):].rstrip()}")
        elif line.strip():
            tail.append(line.strip())
    out = child.stdout.read()
    returncode = child.wait()
    try:  # the result is the last line; anything a library printed before it is ignored
        result = json.loads(out.strip().splitlines()[-1]) if returncode == 0 else None
    except (ValueError, IndexError):
        result = None
    if result is None:
        row.error = failure_message(returncode, list(tail))
        progress(f"{quant}: failed: {row.error}")
        return row
    for key in ("load_s", "pp_ts", "tg_ts", "peak_rss_bytes", "traffic"):
        setattr(row, key, result[key])
    return row


def failure_message(returncode: int, stderr_lines: list[str]) -> str:
    """One line saying why a worker produced no result."""
    import signal

    said = next((ln[len(ERROR):] for ln in reversed(stderr_lines) if ln.startswith(ERROR)), None)
    if said:
        return said
    last = f": {stderr_lines[-1]}" if stderr_lines else ""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the measuring process died with {name}{last}"
    if returncode == 0:
        return "the measuring process printed no result"
    return f"the measuring process exited with status {returncode}{last}"


def format_speed_table(report: SpeedReport) -> str:
    """The rows as a text table, then the settings and the measured memory bandwidth."""
    s = report.settings
    head = ("quant", "size", "load s", f"pp{s.pp} t/s", f"tg{s.tg} t/s", "peak RSS",
            "GB/s", "% of RAM bw", "")  # the last column: a failed quant's error
    table = text_table(head, [_cells(report, r) for r in report.rows], right=range(1, 8))
    bw = report.memory_bandwidth
    footer = [
        f"{s.threads} threads, repack {'on' if s.repack else 'off'}, flash attention "
        f"{'on' if s.flash_attn else 'off'}, {s.kv_type} KV cache, n_batch {s.n_batch}, "
        f"{s.reps} repetitions after a warm-up (mean ± sd)",
        f"RAM bandwidth measured: {bw['bytes_per_s'] / 1e9:.1f} GB/s ({bw['method']})",
        "GB/s = bytes read per generated token x tg t/s (weights once, KV cache at the mean "
        "position)",
    ]
    return "\n".join([table, "", *footer])


def _cells(report: SpeedReport, row: SpeedRow) -> tuple[str, ...]:
    size = format_bytes(row.file_bytes) if row.file_bytes else "-"
    if row.error is not None:
        return (row.quant, size, *["-"] * 6, f"error: {row.error}")
    pct = report.percent_of_measured(row)
    return (row.quant, size, f"{row.load_s:.2f}", _pm(row.pp), _pm(row.tg),
            format_bytes(row.peak_rss_bytes) if row.peak_rss_bytes else "-",
            f"{row.bandwidth / 1e9:.1f}", f"{pct:.0f}%", "")


def _pm(mean_and_sd: tuple[float, float]) -> str:
    mean, sd = mean_and_sd
    return f"{mean:.2f} ± {sd:.2f}"
