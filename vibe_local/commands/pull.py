"""`vibe-local pull MODEL[:QUANT]`: download or build a catalogue model into the local store.

QUANT is a ladder name (Q4_K_M, Q8_0, ...), `auto` (default: what `fit` would choose for this
machine) or `all`. A quant that a catalogue GGUF repo offers is downloaded as that one file;
otherwise the source checkpoint is downloaded (config, tokenizer, template, safetensors) and
quantized here. The plan (route, download size, disk needed) is printed first; a disk that
cannot hold it is refused before anything is downloaded. Interrupted downloads resume.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("pull", help="download a model from the catalogue",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL[:QUANT]",
                        help="catalogue id, e.g. vibethinker-1.5b or vibethinker-3b:Q4_K_M")


def run(args: argparse.Namespace) -> int:
    from ..pull import pull

    pull(args.model)
    return 0
