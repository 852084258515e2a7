"""Arguments several commands share: which model, which quant, and the simulated machine."""

from __future__ import annotations

import argparse

DEFAULT_MODEL = "vibethinker-1.5b"  # the smaller one runs on most laptops


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", default=DEFAULT_MODEL,
                        help="a catalogue id (vibethinker-3b, vibethinker-3b:Q4_K_M), a .gguf "
                        f"file or a ladder directory with manifest.json (default: {DEFAULT_MODEL})")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="pull a catalogue model that is not downloaded yet without asking")
    parser.add_argument("--quant", default="auto",
                        help="quant to use (default: auto, the best that fits)")
    parser.add_argument("--ctx", type=int, help="context length in tokens "
                        "(default: the model's recommended length when it fits)")


def resolve_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for `api.fit`/`api.load`: pull with --yes, or ask on a terminal."""
    import sys

    interactive = sys.stdin is not None and sys.stdin.isatty() and sys.stderr.isatty()
    return {"assume_yes": args.yes, "interactive": interactive}


def add_machine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory", help="simulate this much RAM, e.g. 8GiB "
                        "(env VIBE_LOCAL_MEMORY)")
    parser.add_argument("--gpu", help="simulate a GPU: none, cuda:12GiB, metal or metal:16GiB "
                        "(env VIBE_LOCAL_GPU)")


def add_ladder_arguments(parser: argparse.ArgumentParser, *, model_help: str,
                         quants_help: str) -> None:
    """-m, -y and --quants, as the benchmarks take them (every quant unless --quants says)."""
    parser.add_argument("-m", "--model", default=DEFAULT_MODEL,
                        help=f"{model_help} (default: {DEFAULT_MODEL})")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="pull a catalogue model that is not downloaded yet without asking")
    parser.add_argument("--quants", help=f"{quants_help}, comma-separated, e.g. Q4_K_M,Q8_0 "
                        "(default: all the model has)")
