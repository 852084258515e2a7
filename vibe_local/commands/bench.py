"""`vibe-local bench speed|quality`: what each quant costs on this machine, and what it loses.

Each kind of benchmark owns its arguments and its run in `vibe_local.bench` (speed_command.py,
quality_command.py); this module only routes to them, importing the chosen one when it runs.
"""

from __future__ import annotations

import argparse
import importlib

KINDS = {
    "speed": ("speed_command", "prompt and generation tokens/s, load time, memory, bandwidth"),
    "quality": ("quality_command", "fidelity to the 16-bit model (KLD, PPL ratio) and task "
                "accuracy"),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="benchmark speed and quality per quant",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = parser.add_subparsers(dest="bench_kind", required=True, metavar="KIND")
    for name, (module, summary) in KINDS.items():
        kind = kinds.add_parser(name, help=summary, description=summary)
        _module(module).add_arguments(kind)


def run(args: argparse.Namespace) -> int:
    return _module(KINDS[args.bench_kind][0]).run(args)


def _module(name: str):
    return importlib.import_module(f"..bench.{name}", __package__)
