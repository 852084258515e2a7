"""`vibe-local rm MODEL[:QUANT]`: delete a model (or one quant of it) from the local store.

The Hugging Face cache (raw checkpoints, shared with other tools) is left alone; `hf cache`
manages it.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("rm", help="delete a downloaded model or quant",
                            description=__doc__)
    parser.add_argument("model", metavar="MODEL[:QUANT]",
                        help="catalogue id, optionally with one quant (vibethinker-3b:Q8_0)")


def run(args: argparse.Namespace) -> int:
    from ..store import remove

    removed = remove(args.model)
    print(f"removed {args.model.split(':')[0]}: {', '.join(removed)}")
    return 0
