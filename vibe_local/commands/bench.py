"""`vibe-local bench speed|quality`: what each quant costs on this machine, and what it loses.

Each kind is its own command module (bench_speed.py, bench_quality.py) with its own options;
this one routes to them and gives both the same -m, -y and --quants.
"""

from __future__ import annotations

import argparse
import importlib

from .common import add_model_choice

KINDS = ("speed", "quality")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="benchmark speed and quality per quant",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = parser.add_subparsers(dest="bench_kind", required=True, metavar="KIND")
    for name in KINDS:
        module = _module(name)
        kind = kinds.add_parser(name, help=module.SUMMARY, description=module.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        add_model_choice(kind, module.MODEL_HELP)
        kind.add_argument("--quants", help=f"{module.QUANTS_HELP}, comma-separated, e.g. "
                          "Q4_K_M,Q8_0 (default: all the model has)")
        module.add_arguments(kind)


def run(args: argparse.Namespace) -> int:
    return _module(args.bench_kind).run(args)


def _module(kind: str):
    return importlib.import_module(f".bench_{kind}", __package__)
