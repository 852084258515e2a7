"""`vibe-local demo`: the one-command tour on the bundled demo model, offline.

Builds the quantization ladder of `vibethinker-nano` (a few-million-parameter arithmetic
reasoner shipped inside the package; cached after the first run), shows what fits this machine,
lets the chosen quant answer a few held-out problems while you watch it think, and prints what
each bit width costs in accuracy and KL divergence.
"""

from __future__ import annotations

import argparse
import sys

from ..demo.tour import QUALITY_ITEMS


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="the one-command tour on the bundled demo model",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=3, help="how many problems to ask")
    parser.add_argument("--quality-limit", type=int, default=QUALITY_ITEMS,
                        help=f"problems per quant in the quality table (default {QUALITY_ITEMS})")
    parser.add_argument("--no-quality", action="store_true", help="skip the quality table")


def run(args: argparse.Namespace) -> int:
    from ..demo.tour import Tour
    from ..errors import InvalidRequestError

    if args.questions < 0 or args.quality_limit < 1:
        raise InvalidRequestError("--questions must be 0 or more and --quality-limit at least 1")
    return Tour(sys.stdout, questions=args.questions, quality_limit=args.quality_limit,
                quality=not args.no_quality).run()
