"""`vibe-local list [--json]`: the models in the local store, their quants, sizes and location,
and which quant `fit` would pick on this machine (marked with *)."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("list", help="models in the local store", description=__doc__)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..store import list_installed, models_dir

    rows = [_describe(model) for model in list_installed()]
    if args.json:
        print(json.dumps({"store": str(models_dir()), "models": rows}, indent=2))
    elif not rows:
        print(f"no models in {models_dir()}; `vibe-local pull vibethinker-1.5b` fetches one")
    else:
        print(_table(rows))
    return 0


def _describe(model) -> dict:
    """One model as a dict: its quants (with sizes) and the fit's pick, if any fits."""
    from ..api import fit
    from ..errors import VibeLocalError

    if model.damaged:
        return {"id": model.id, "path": str(model.path), "bytes": 0, "fit_pick": None,
                "quants": [], "damaged": model.damaged}
    try:
        choice = fit(model.path).choice
        pick = choice.quant if choice else None
    except VibeLocalError:
        pick = None
    return {"id": model.id, "path": str(model.path), "bytes": model.bytes, "fit_pick": pick,
            "quants": [{"quant": q.quant, "bytes": q.bytes, "file": q.path.name}
                       for q in model.quants], "damaged": None}


def _table(rows: list[dict]) -> str:
    from quantize.display import format_bytes, text_table

    lines = []
    for row in rows:
        if row["damaged"]:
            lines.append((row["id"], " DAMAGED", "-",
                          f"{row['path']}: manifest.json is unreadable; `vibe-local rm {row['id']}`"
                          " deletes it"))
        for q in row["quants"]:
            mark = "*" if q["quant"] == row["fit_pick"] else " "
            lines.append((row["id"], f"{mark}{q['quant']}", format_bytes(q["bytes"]),
                          f"{row['path']}/{q['file']}"))
    table = text_table(("MODEL", "QUANT", "SIZE", "LOCATION"), lines)
    return "\n".join([table, "", "* the quant `fit` picks on this machine"])
