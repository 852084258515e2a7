"""`vibe-local chat [-m MODEL] [--quant Q] [--ctx N] [--resume [ID]]`: the terminal chat UI.

The screen appears at once; the model loads behind it (the status bar says "loading …").
Type /help in the chat for keys and commands. History lives in the user data folder
(`history.sqlite3`); --resume continues the latest chat, or chat ID.
"""

from __future__ import annotations

import argparse

from .common import (
    add_machine_arguments,
    add_model_arguments,
    add_speculate_argument,
    machine_options,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("chat", help="chat in the terminal (Textual UI)", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    add_machine_arguments(parser)
    parser.add_argument("--resume", nargs="?", type=int, const=0, metavar="ID",
                        help="continue the latest chat, or chat ID (see /history)")
    add_speculate_argument(parser)


def run(args: argparse.Namespace) -> int:
    _precheck(args)  # before Textual's import: a refusal is quick
    from ..history import History
    from ..tui import ChatApp  # Textual is imported only here

    machine = {**machine_options(args), "assume_yes": args.yes}
    with History() as history:  # opened first: a broken history file is a one-line error
        app = ChatApp(args.model, quant=args.quant, ctx=args.ctx, machine=machine,
                      history=history, resume=args.resume)
        if not args.speculate:
            app.overrides["speculate"] = False
        app.run()
    return 0


def _precheck(args: argparse.Namespace) -> None:
    """Refuse what the UI would only show after it took over the screen: an -m that names
    nothing, a malformed --memory/--gpu, and no terminal to draw on (it would draw into a pipe
    and wait for keys that never come).

    Raises:
        ModelNotFoundError, InvalidRequestError: the message says which and what to do.
    """
    import sys
    from pathlib import Path

    from ..catalog import get_entry, split_ref
    from ..errors import InvalidRequestError, ModelNotFoundError
    from ..hardware import probe

    path = Path(args.model).expanduser()
    if not path.exists():
        if path.suffix == ".gguf" or len(path.parts) > 1:
            raise ModelNotFoundError(f"no such model file or ladder directory: {args.model}")
        get_entry(split_ref(args.model)[0])
    probe(memory=args.memory, gpu=args.gpu)
    if not all(s is not None and s.isatty() for s in (sys.stdin, sys.stdout)):
        raise InvalidRequestError("`vibe-local chat` needs a terminal to draw on; for one answer "
                                  "in a pipe or a script use `vibe-local run`")
