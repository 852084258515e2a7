"""`vibe-local chat [-m MODEL] [--quant Q] [--ctx N] [--resume [ID]]`: the terminal chat UI.

The screen appears at once; the model loads behind it (the status bar says "loading …").
Type /help in the chat for keys and commands. History lives in the user data folder
(`history.sqlite3`); --resume continues the latest chat, or chat ID.
"""

from __future__ import annotations

import argparse

from .common import add_machine_arguments, add_model_arguments


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("chat", help="chat in the terminal (Textual UI)", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    add_machine_arguments(parser)
    parser.add_argument("--resume", nargs="?", type=int, const=0, metavar="ID",
                        help="continue the latest chat, or chat ID (see /history)")


def run(args: argparse.Namespace) -> int:
    from ..history import History
    from ..tui import ChatApp  # Textual is imported only here

    machine = {"memory": args.memory, "gpu": args.gpu, "assume_yes": args.yes}
    with History() as history:  # opened first: a broken history file is a one-line error
        app = ChatApp(args.model, quant=args.quant, ctx=args.ctx, machine=machine,
                      history=history, resume=args.resume)
        app.run()
    return 0
