"""`vibe-local`: parses, dispatches to one module per command, prints errors as one line.

Commands import their heavy dependencies (llama_cpp, textual, huggingface_hub) only when they
run, so `vibe-local --help` starts instantly. A VibeLocalError becomes one line on stderr and a
non-zero exit; set VIBE_DEBUG=1 for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from quantize.cli_errors import OneLineParser, run_guarded

from . import __version__

COMMANDS = ("demo", "run", "chat", "serve", "fit", "pull", "list", "rm", "doctor", "bench")
_MODULES = {"list": "list_models"}  # a module named `list` would shadow the builtin inside it


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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
    from quantize.errors import QuantizeError

    from .errors import VibeLocalError

    return run_guarded("vibe-local", lambda: _run(build_parser().parse_args(argv)),
                       known=(VibeLocalError, QuantizeError), log_dir=_log_dir)


def _run(args: argparse.Namespace) -> int:
    from .paths import ensure_home

    ensure_home()  # every command may write there (self-test verdict, store, history, logs)
    return _command(args.command).run(args)


def _log_dir() -> Path:
    from .paths import home_dir

    return home_dir() / "logs"


if __name__ == "__main__":
    sys.exit(main())
