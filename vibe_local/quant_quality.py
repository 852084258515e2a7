"""Measured quality per model file: mean KL divergence from the bench's saved reports.

`vibe-local bench quality` saves each run as JSON under bench/reports/ (bench/quality.py). The
fit orders quants by it when every candidate was measured (speed_choice.py). Files are matched
by resolved path, so a report says nothing about a file moved or rebuilt elsewhere; the newest
report measuring a file wins, and the 16-bit reference of a report counts as KLD 0.
"""

from __future__ import annotations

import json
from pathlib import Path

from .paths import home_dir

REPORTS = Path("bench") / "reports"


def mean_kld_by_file() -> dict[str, float]:
    """Resolved file path -> mean KLD against its 16-bit file, from the saved reports."""
    reports = sorted((home_dir() / REPORTS).glob("quality-*.json"),
                     key=lambda p: p.stat().st_mtime)
    found: dict[str, float] = {}
    for path in reports:  # oldest first, so newer reports overwrite
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.update(_klds(data))
        except (OSError, ValueError, TypeError, AttributeError, KeyError):
            continue  # a report from another version, or damaged: it only informs an order
    return found


def _klds(report: dict) -> dict[str, float]:
    """The KLDs one report measured, keyed by resolved path."""
    out = {}
    reference = report["reference"].get("file")
    for row in report.get("quants", []):
        fidelity = row.get("fidelity") or {}
        if row.get("file") and isinstance(fidelity.get("kld_mean"), int | float):
            out[_key(row["file"])] = float(fidelity["kld_mean"])
    if out and reference:
        out[_key(reference)] = 0.0
    return out


def _key(file: str) -> str:
    return str(Path(file).resolve())
