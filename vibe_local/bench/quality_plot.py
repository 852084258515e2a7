"""Quality against file size per quant, with the Pareto frontier marked, as a PNG.

The frontier is the set of quants no other quant beats on both size and quality: the only ones
worth choosing between. matplotlib is an optional extra (`pip install vibe-local[plot]`),
imported only here, and drawn through its object API (no pyplot, no global backend switch).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidRequestError

if TYPE_CHECKING:
    from .quality import QualityReport

NO_MATPLOTLIB = "--plot needs matplotlib: pip install 'vibe-local[plot]' (or uv sync --extra plot)"


def require_matplotlib() -> None:
    """Fail before a long run, not after it, when --plot cannot be drawn.

    Raises:
        InvalidRequestError: matplotlib is not installed.
    """
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise InvalidRequestError(NO_MATPLOTLIB)


def pareto_front(sizes: Sequence[float], losses: Sequence[float]) -> list[int]:
    """Indices of the points that no other point beats on both size and loss (lower is better
    for both), ordered by size. For a higher-is-better score, pass its negation as the loss."""
    order = sorted(range(len(sizes)), key=lambda i: (sizes[i], losses[i]))
    front: list[int] = []
    best = float("inf")
    for i in order:
        if losses[i] < best:
            front.append(i)
            best = losses[i]
    return front


def _panel(ax, labels: list[str], sizes: list[float], values: list[float],
           errors: list[float], *, higher_is_better: bool, ylabel: str, log: bool) -> None:
    front = pareto_front(sizes, [-v if higher_is_better else v for v in values])
    ax.errorbar(sizes, values, yerr=errors, fmt="o", color="0.6", ecolor="0.75", capsize=2,
                label="quant")
    ax.plot([sizes[i] for i in front], [values[i] for i in front], "-o", color="tab:blue",
            label="Pareto frontier", zorder=3)
    for label, x, y in zip(labels, sizes, values):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("file size (MiB)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def write_plot(report: QualityReport, target: str | Path) -> Path:
    """Draw the report's mean KLD (log scale) and/or accuracy against file size into a PNG.

    Raises:
        InvalidRequestError: matplotlib is not installed, or there is nothing to plot.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise InvalidRequestError(NO_MATPLOTLIB) from None
    from quantize.atomic import atomic_output
    from quantize.display import MIB

    panels = []
    measured = [r for r in report.rows if r.fidelity is not None and r.fidelity.kld_mean > 0]
    if measured:
        panels.append(([r.quant for r in measured], [r.bytes / MIB for r in measured],
                       [r.fidelity.kld_mean for r in measured],
                       [r.fidelity.kld_err for r in measured],
                       dict(higher_is_better=False, ylabel="mean KLD (nats, log scale)",
                            log=True)))
    scored = [r for r in [report.reference, *report.rows] if r.task is not None
              and not r.endpoint]  # no file size to plot it at
    if scored:
        name = report.task["name"] if report.task else "task"
        panels.append(([r.quant for r in scored], [r.bytes / MIB for r in scored],
                       [100 * r.task.accuracy for r in scored],
                       [100 * (r.task.stderr or 0.0) for r in scored],
                       dict(higher_is_better=True, ylabel=f"{name} accuracy (%)", log=False)))
    if not panels:
        raise InvalidRequestError("nothing to plot: no quant was measured")
    figure = Figure(figsize=(6 * len(panels), 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    for index, (labels, sizes, values, errors, options) in enumerate(panels):
        _panel(figure.add_subplot(1, len(panels), index + 1), labels, sizes, values, errors,
               **options)
    figure.suptitle(f"{Path(report.model).name}: quality against size "
                    f"(reference {report.reference.quant})")
    target = Path(target)
    with atomic_output(target) as temp:
        figure.savefig(temp, format="png", dpi=120)
    return target
