"""Arguments several commands share: which model, which quant, and the simulated machine."""

from __future__ import annotations

import argparse


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", required=True,
                        help="a .gguf file or a ladder directory with manifest.json")
    parser.add_argument("--quant", default="auto",
                        help="quant to use (default: auto, the best that fits)")
    parser.add_argument("--ctx", type=int, help="context length in tokens "
                        "(default: the model's recommended length when it fits)")


def add_machine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory", help="simulate this much RAM, e.g. 8GiB "
                        "(env VIBE_LOCAL_MEMORY)")
    parser.add_argument("--gpu", help="simulate a GPU: none, cuda:12GiB, metal or metal:16GiB "
                        "(env VIBE_LOCAL_GPU)")
