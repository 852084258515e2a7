"""How both command lines (`vibe-quantize`, `vibe-local`) fail: one line on stderr, never a
traceback.

A known error (the project's own exception classes) is its message on one line, exit 1. A usage
error is argparse's message on one line, exit 2. Anything unexpected is a bug: its traceback goes
to a log file and the one line says where, exit 1. Ctrl+C is exit 130. A closed stdout (`| head`)
ends the command quietly. VIBE_DEBUG=1 lets every exception through with its traceback.

It lives in `quantize/` because `vibe_local` may import `quantize` but not the reverse.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEBUG_ENV = "VIBE_DEBUG"


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (the usage is what --help is for)."""

    def error(self, message: str) -> NoReturn:
        one_line(f"{self.prog}: error: {message} (see `{self.prog} --help`)")
        sys.exit(EXIT_USAGE)


def one_line(text: str) -> None:
    """Print the first line of `text` on stderr: a message may carry a table after it (a fit
    that does not fit), which the command that made it shows in full elsewhere."""
    lines = [line for line in str(text).splitlines() if line.strip()]
    print(lines[0] if lines else str(text), file=sys.stderr)


def run_guarded(prog: str, command: Callable[[], int], *, known: tuple[type[BaseException], ...],
                log_dir: Callable[[], Path], interrupted: str = "interrupted") -> int:
    """Run `command` and turn every way it can fail into an exit code and at most one line.

    Args:
        prog: the program name that starts each line ("vibe-local").
        command: parses the arguments and runs the command; returns the exit code
            (argparse's SystemExit for --help and usage errors passes through).
        known: exception classes whose message is meant for people.
        log_dir: where crash logs go (called only on a crash; may fail).
        interrupted: the line printed after Ctrl+C.
    """
    debug = bool(os.environ.get(DEBUG_ENV))
    try:
        try:
            return command()
        finally:
            sys.stdout.flush()  # a closed pipe fails here, inside the guard, not at exit
    except known as exc:
        if debug:
            raise
        one_line(f"{prog}: error: {exc}")
        return getattr(exc, "exit_code", EXIT_ERROR)
    except KeyboardInterrupt:
        print(f"\n{prog}: {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()  # the reader went away (`| head`): nothing left to say to anyone
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the whole point: no traceback reaches a user
        if debug:
            raise
        one_line(f"{prog}: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                 f"({_log_crash(prog, log_dir)}; set {DEBUG_ENV}=1 to see the traceback)")
        return EXIT_ERROR


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file; nothing will flush to a pipe at exit then


def _log_crash(prog: str, log_dir: Callable[[], Path]) -> str:
    """Write the current exception's traceback to a log file; say where (or why not)."""
    text = f"{prog} {' '.join(sys.argv[1:])}\n{traceback.format_exc()}"
    name = f"{prog}-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    problems = []
    for directory in (log_dir, lambda: Path(tempfile.gettempdir())):
        try:
            path = Path(directory()) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return f"a bug; the traceback is in {path}, please report it"
        except Exception as exc:  # noqa: BLE001 - a failing log must not hide the first error
            problems.append(type(exc).__name__)
    return f"a bug; the traceback could not be logged ({', '.join(problems)})"
