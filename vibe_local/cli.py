"""`vibe-local`: the runtime's command line.

The runtime commands (fit, run, chat, pull, bench, demo) are being built; until they land this
entry point says so instead of failing with an import error.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vibe-local",
        description="Run VibeThinker on your own machine, offline. The runtime commands are "
        "not built yet; `vibe-quantize` (checkpoint -> GGUF ladder) is available today.",
    )
    parser.add_argument("--version", action="version", version=f"vibe-local {__version__}")
    parser.add_argument("command", nargs="?", help="not available yet")
    args = parser.parse_args(argv)
    if args.command:
        print(f"vibe-local: {args.command!r} is not available yet; see README.md", file=sys.stderr)
        return 2
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
