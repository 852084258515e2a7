"""Slash commands typed in the chat box: parsing and validation, no UI.

Kept apart from the app so every rule (what `/set` accepts, what `/think` means, what an
unknown command says) is a plain function the tests can call, and the app only dispatches.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from ..errors import InvalidRequestError

# name -> (arguments, what it does); the order is the order /help shows.
COMMANDS: dict[str, tuple[str, str]] = {
    "help": ("", "keys and commands"),
    "clear": ("", "start a new chat (the current one stays in /history)"),
    "regen": ("", "drop the last reply and generate it again"),
    "system": ("[TEXT]", "set this chat's system prompt (no TEXT: remove it)"),
    "set": ("NAME VALUE", "temperature, top_p, top_k, min_p, max_tokens, think_budget or seed "
            "(off: no budget, a random seed); speculate on|off"),
    "think": ("on|off", "show or hide the model's thinking"),
    "save": ("[TITLE]", "name this chat (it is saved on every message anyway)"),
    "export": ("[PATH]", "write this chat as Markdown (default: ./<title>.md)"),
    "model": ("ID", "switch model: shows the memory fit, then loads on confirmation"),
    "quant": ("Q", "switch quant of the current model (e.g. Q4_K_M, auto)"),
    "history": ("", "browse, resume, rename and delete chats"),
    "copy": ("[code [N]]", "copy the last answer, or its code block N (default: the last)"),
    "raw": ("[on|off]", "show replies as raw text, or with math rendered (no argument: toggle)"),
    "run": ("[N] [< FILE | INPUT]", "run the last answer's Python (block N; default the last "
            "one, or the answer if it is bare code) in the sandbox; FILE, INPUT and the "
            "lines after the command are its stdin"),
    "test": ("", "run the last answer's code on the sample inputs of your question"),
    "quit": ("", "stop any generation, close the model and leave"),
}
TAKES_NO_ARGUMENTS = {"help", "clear", "regen", "history", "quit", "test"}
KEEPS_LINES = {"run"}  # its arguments may span lines: the lines after the first are stdin


@dataclass(frozen=True)
class Command:
    """A parsed slash command: `/set temperature 0.7` -> Command("set", "temperature 0.7")."""

    name: str
    args: str = ""


@dataclass(frozen=True)
class Setting:
    """One validated `/set` value; think_budget None means no budget."""

    name: str
    value: float | int | bool | None


def parse(text: str) -> Command | None:
    """The command in `text`, or None when it is a message for the model.

    A leading `//` sends a message that starts with `/` (`//etc/hosts is...`).

    Raises:
        InvalidRequestError: an unknown command, or arguments to one that takes none.
    """
    stripped = text.strip()
    if not stripped.startswith("/") or stripped.startswith("//"):
        return None
    name = re.match(r"\S*", stripped[1:]).group()
    rest = stripped[1 + len(name):]
    name = name.lower()
    args = rest.lstrip(" \t").rstrip() if name in KEEPS_LINES else rest.strip()
    if name not in COMMANDS:
        raise InvalidRequestError(f"unknown command /{name}; commands: {command_list()}")
    if args and name in TAKES_NO_ARGUMENTS:
        raise InvalidRequestError(f"/{name} takes no arguments")
    return Command(name, args)


def message_text(text: str) -> str:
    """What to send to the model for a non-command: `//x` becomes `/x`."""
    stripped = text.strip()
    return stripped[1:] if stripped.startswith("//") else stripped


def command_list() -> str:
    return ", ".join(f"/{name}" for name in COMMANDS)


def usage(name: str) -> str:
    arguments, _ = COMMANDS[name]
    return f"/{name} {arguments}".rstrip()


def parse_setting(args: str) -> Setting:
    """Validate `/set NAME VALUE` with the same rules as the CLI flags and the API.

    Raises:
        InvalidRequestError: unknown name, missing or out-of-range value.
    """
    from ..sampling_rules import RULES, check_sampling_value

    parts = args.split()
    if len(parts) != 2:
        raise InvalidRequestError(f"usage: {usage('set')}")
    name = parts[0].lower().replace("-", "_")
    if name == "speculate":  # drafting on or off: the output is the same, only the speed differs
        return Setting(name, _on_off(parts[1], f"{name} must be on or off, not {parts[1]!r}"))
    if name not in RULES:
        raise InvalidRequestError(
            f"unknown setting {parts[0]!r}; use {', '.join(RULES)} or speculate")
    return Setting(name, check_sampling_value(name, parts[1]))


def _on_off(raw: str, error: str) -> bool:
    """`on` / `off` (and their synonyms) as True / False; anything else is refused with
    `error`."""
    word = raw.strip().lower()
    if word in ("on", "show", "yes", "true"):
        return True
    if word in ("off", "hide", "no", "false"):
        return False
    raise InvalidRequestError(error)


def _number(name: str, raw: str, kind: type, low: float, high: float | None) -> float | int:
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise InvalidRequestError(f"{name} must be {what}, not {raw!r}") from None
    if value < low or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidRequestError(f"{name} must be {span}, not {raw}")
    return value


def parse_toggle(args: str) -> bool:
    """`/think on|off` -> True/False.

    Raises:
        InvalidRequestError: anything else.
    """
    return _on_off(args, f"usage: {usage('think')}")


def parse_raw(args: str) -> bool | None:
    """`/raw` -> None (toggle); `/raw on|off` -> True/False (raw text shown or not).

    Raises:
        InvalidRequestError: anything else.
    """
    if not args.strip():
        return None
    return _on_off(args, f"usage: {usage('raw')}")


def parse_copy(args: str) -> int | None:
    """`/copy` -> None (the whole answer); `/copy code [N]` -> N (1-based; 0 means the last).

    Raises:
        InvalidRequestError: anything else, or N below 1.
    """
    parts = args.split()
    if not parts:
        return None
    if parts[0].lower() != "code" or len(parts) > 2:
        raise InvalidRequestError(f"usage: {usage('copy')}")
    if len(parts) == 1:
        return 0
    return int(_number("N", parts[1], int, 1, None))


def parse_path(args: str) -> str | None:
    """The single (possibly quoted) path argument of /export, or None.

    Raises:
        InvalidRequestError: unbalanced quotes or more than one path.
    """
    try:
        parts = shlex.split(args)
    except ValueError as exc:
        raise InvalidRequestError(f"could not read the path: {exc}") from None
    if len(parts) > 1:
        raise InvalidRequestError("give one path; quote it if it has spaces")
    return parts[0] if parts else None


def require(name: str, args: str) -> str:
    """The argument of a command that needs one (`/model ID`, `/quant Q`).

    Raises:
        InvalidRequestError: the argument is missing.
    """
    if not args:
        raise InvalidRequestError(f"usage: {usage(name)}")
    return args
