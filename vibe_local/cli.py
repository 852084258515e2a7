"""`vibe-local`: parses, dispatches to one module per command, prints errors as one line.

Commands import their heavy dependencies (llama_cpp, textual, huggingface_hub) only when they
run, so `vibe-local --help` starts instantly. A VibeLocalError becomes one line on stderr and a
non-zero exit; set VIBE_DEBUG=1 for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__

COMMANDS = ("demo", "run", "chat", "fit", "pull", "list", "rm", "doctor", "bench")
_MODULES = {"list": "list_models"}  # a module named `list` would shadow the builtin inside it
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vibe-local",
        description="Run VibeThinker reasoning models on your own machine, offline.",
    )
    parser.add_argument("--version", action="version", version=f"vibe-local {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        _command(name).add_parser(sub)
    return parser


def _command(name: str):
    return importlib.import_module(f".commands.{_MODULES.get(name, name)}", __package__)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from quantize.errors import QuantizeError

    from .errors import VibeLocalError

    try:
        return _command(args.command).run(args)
    except (VibeLocalError, QuantizeError) as exc:
        if os.environ.get("VIBE_DEBUG"):
            raise
        print(f"vibe-local: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_ERROR)
    except KeyboardInterrupt:
        print("\nvibe-local: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
