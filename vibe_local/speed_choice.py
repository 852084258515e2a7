"""The speed-aware default: the best quant that fits *and* is fast enough, and how to say so.

Rule (`prefer="speed"`, the default): among the quants that fit, in quality order, the first
predicted to generate at least `min_speed` tokens/s; when none is that fast, the fastest.
Quality order is the model's measured mean KL divergence against its 16-bit file when
`vibe-local bench quality` has measured every candidate on this machine (quant_quality.py),
else bits per weight. `prefer="quality"` keeps the memory-only rule: the most bits that fit.

The fit (fitting.plan) calls `choose` with the candidates it would otherwise pick from, so the
context search and the good-quants-first pass stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quantize.display import format_duration

from .errors import InvalidRequestError
from .speed_model import REPLY_TOKENS, SpeedModel, SpeedPrediction

# 20 tokens/s: an 8,000-token reply in under 7 minutes, VibeThinker's mean AIME trace (18,700
# tokens) in about 15. Below it the wait grows past what a person sits through, while a smaller
# quant loses little (Q8_0's mean KLD is ~0.001) for the minutes it saves.
DEFAULT_MIN_SPEED = 20.0
PREFERENCES = ("speed", "quality")


@dataclass
class SpeedPlan:
    """What the fit needs for speed: predictions, the floor, the preference, quality order.

    `source` may be a function making the SpeedModel: it is called on the first prediction, so
    a request the fit refuses (a bad context, nothing fits) measures and writes nothing.
    """

    source: SpeedModel | Callable[[], SpeedModel]
    min_speed: float = DEFAULT_MIN_SPEED
    prefer: str = "speed"
    kld: dict[str, float] = field(default_factory=dict)  # file path -> mean KLD vs 16-bit
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.check(self.min_speed, self.prefer)

    @property
    def model(self) -> SpeedModel:
        if not isinstance(self.source, SpeedModel):
            self.source = self.source()
        return self.source

    @staticmethod
    def check(min_speed: float, prefer: str) -> None:
        """Raises InvalidRequestError for an unknown preference or a floor not above 0."""
        if prefer not in PREFERENCES:
            raise InvalidRequestError(f"unknown preference {prefer!r}; use "
                                      f"{' or '.join(PREFERENCES)}")
        if not min_speed > 0:
            raise InvalidRequestError(f"the minimum speed must be above 0 tokens/s, not "
                                      f"{min_speed:g}")

    def predict(self, option: Any, geometry: Any, placement: Any) -> SpeedPrediction:
        """Speed of one placement of one quant (memoized: the context search asks often)."""
        e = placement.estimate
        key = (str(option.path), e.n_gpu_layers, e.kv_type, e.ctx)
        if key not in self._cache:
            self._cache[key] = self.model.predict(str(option.path), geometry, e)
        return self._cache[key]

    def columns(self, option: Any, geometry: Any, placement: Any) -> dict:
        """The fit table's speed fields for a row (None where the quant does not fit)."""
        if placement.verdict == "does not fit":
            return {"gen_tok_s": None, "prompt_tok_s": None, "reply_s": None,
                    "speed_source": None}
        p = self.predict(option, geometry, placement)
        return {"gen_tok_s": p.gen_tok_s, "prompt_tok_s": p.prompt_tok_s, "reply_s": p.reply_s,
                "speed_source": p.source}

    def summary(self, options: list) -> dict:
        """The figures and rule behind the speed columns, for `--json` and a note line."""
        m = self.model.machine
        devices = f"RAM {m.cpu.bytes_per_s / 1e9:.1f} GB/s ({m.cpu.source})"
        if m.gpu is not None:
            devices += f", GPU {m.gpu.bytes_per_s / 1e9:.0f} GB/s ({m.gpu.source})"
        runs = len(self.model.runs)
        note = (f"gen tok/s: mean over an {REPLY_TOKENS:,}-token reply, from {devices}"
                + (f" and {runs} measured run{'s' * (runs != 1)} on this machine" if runs else "")
                + f"; quality order: {self.quality_basis(options)}")
        if self.prefer == "speed":
            note += f"; the choice aims at {self.min_speed:g} tokens/s (--min-speed)"
        return {"machine": m.to_dict(), "runs": runs, "min_speed": self.min_speed,
                "prefer": self.prefer, "quality_order": self.quality_basis(options),
                "reply_tokens": REPLY_TOKENS, "note": note}

    def quality_order(self, options: list) -> list:
        """Best first: by measured mean KLD when every option has one, else by bits/weight."""
        if options and all(_file(o) in self.kld for o in options):
            return sorted(options, key=lambda o: (self.kld[_file(o)], -o.bpw))
        return sorted(options, key=lambda o: -o.bpw)

    def quality_basis(self, options: list) -> str:
        known = options and all(_file(o) in self.kld for o in options)
        return "measured mean KLD" if known else "bits per weight"

    def choose(self, fitting: list, geos: dict) -> tuple | None:
        """The (option, placement) to load among those that fit (see the module docstring)."""
        if not fitting:
            return None
        by_option = {id(o): (o, p) for o, p in fitting}
        ordered = [by_option[id(o)] for o in self.quality_order([o for o, _ in fitting])]
        speed = {id(o): self.predict(o, geos[o.quant], p).gen_tok_s for o, p in ordered}
        for o, p in ordered:
            if speed[id(o)] >= self.min_speed:
                return o, p
        return max(ordered, key=lambda c: speed[id(c[0])])

    def explain(self, chosen: Any, rows: list[dict]) -> str:
        """Why this quant rather than a better one, in speed terms ("" when speed did not
        decide it)."""
        mine = next(r for r in rows if r["quant"] == chosen.quant)
        fits = [r for r in rows if r["gen_tok_s"] is not None]
        floor = f"{self.min_speed:g} tokens/s (--min-speed)"
        if mine["gen_tok_s"] < self.min_speed:
            return f"none of the good quants reaches {floor}; this is the fastest"
        better = [r for r in fits if r["quant"] != chosen.quant
                  and r["gen_tok_s"] < self.min_speed
                  and r["weights_bytes"] > mine["weights_bytes"]]
        if not better:
            return ""
        slowest = max(better, key=lambda r: r["gen_tok_s"])
        return (f"{slowest['quant']} fits too but is predicted at "
                f"{slowest['gen_tok_s']:.1f} tokens/s, below {floor}")


def _file(option: Any) -> str:
    """How quant_quality keys a file: its resolved path."""
    from pathlib import Path

    return str(Path(option.path).resolve())


def speed_summary(prediction: dict) -> str:
    """`~11.2 tokens/s predicted, an 8,000-token reply in 12 min` for a row or a choice."""
    gen = prediction.get("gen_tok_s")
    if not gen:
        return ""
    source = prediction.get("speed_source") or "predicted"
    return (f"{gen:.1f} tokens/s {source}, an {REPLY_TOKENS:,}-token reply in "
            f"{format_duration(prediction['reply_s'])}")


def speed_plan(hardware: Any, *, min_speed: float | None = None,
               prefer: str = "speed") -> SpeedPlan:
    """The speed plan for a (possibly simulated) machine: its figures (measured on first use,
    when the first prediction is made), the runs recorded on it and the bench's quality.

    Raises:
        InvalidRequestError: an unknown preference or a minimum speed not above 0.
    """
    from . import speed_store
    from .machine_speed import machine_speed
    from .quant_quality import mean_kld_by_file

    floor = DEFAULT_MIN_SPEED if min_speed is None else min_speed
    SpeedPlan.check(floor, prefer)
    def model() -> SpeedModel:
        machine = machine_speed(hardware)
        return SpeedModel(machine, speed_store.runs(machine.key))

    return SpeedPlan(model, floor, prefer, mean_kld_by_file())


def speed_recorder(result: Any):
    """A callback for `engine.Model` that records each generation's measured speed for the
    loaded choice, so later fits predict from it (nothing for a simulated GPU: the placement
    would not be what llama.cpp ran)."""
    from . import speed_store
    from .gguf_info import read_geometry
    from .machine_speed import DeviceSpeed, MachineSpeed
    from .speed_model import observe

    figures, choice = result.speed.get("machine"), result.choice
    if not figures or choice is None or "gpu" in result.hardware.simulated:
        return None
    gpu = DeviceSpeed(**figures["gpu"]) if figures.get("gpu") else None
    machine = MachineSpeed(figures["key"], DeviceSpeed(**figures["cpu"]), gpu)
    geometry = read_geometry(choice.path)

    def record(stats: Any) -> None:
        run = observe(machine, choice.path, geometry, choice.n_gpu_layers, choice.kv_type, stats)
        if run is not None:
            try:
                speed_store.record(run)
            except OSError:  # a read-only data directory: predictions just learn nothing
                pass

    return record
