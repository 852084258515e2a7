"""Run the code of an answer in the bench's sandbox: which code, with what input, and the report.

Used by the chat's `/run` and `/test`. Only the answer is ever looked at (never the thinking,
where the model drafts code it later fixes), and only Python runs: the sandbox is a Python
sandbox (vibe_local.bench.sandbox: time and memory limits, no network, a temporary directory).
Nothing here runs on its own; the chat calls it on an explicit command.
"""

from __future__ import annotations

import ast
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidRequestError

PYTHON = {"", "python", "python3", "py", "py3"}
MiB = 2**20
ISOLATION = {"netns": "netns, no network", "socket-guard": "socket guard (Python-level)",
             "none": "isolation not confirmed"}


@dataclass(frozen=True)
class Block:
    """A fenced (or indented) code block of an answer; `lang` is its info string's first word."""

    lang: str
    code: str


@dataclass(frozen=True)
class RunLimits:
    """The sandbox limits for code from the chat."""

    timeout_s: float = 10.0
    memory_bytes: int = 512 * MiB


@dataclass(frozen=True)
class RunRequest:
    """A parsed `/run`: which block (None: the last Python one) and the program's stdin."""

    block: int | None
    stdin: str | None


def code_blocks(markdown: str) -> list[Block]:
    """The code blocks of `markdown`, in order, as the chat's renderer sees them (markdown-it,
    the parser of Textual's Markdown widget), so block N is the Nth block on screen."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(markdown)
    return [Block((t.info.split() or [""])[0].lower(), t.content)
            for t in tokens if t.type in ("fence", "code_block")]


def is_bare_code(text: str) -> bool:
    """Whether a whole answer is Python without a fence: it parses, and does something more
    than name a value (so "42" or a sentence that happens to parse is not code)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, (ast.Constant,
               ast.Name))) for node in tree.body)


def pick_code(answer: str, block: int | None) -> tuple[str, str]:
    """The code to run and how to name it: block N (1-based), else the last Python block,
    else the whole answer when it is bare code.

    Raises:
        InvalidRequestError: no such block, no code, or code that is not Python.
    """
    blocks = code_blocks(answer)
    if block is not None:
        if block > len(blocks):
            raise InvalidRequestError(f"the last answer has {len(blocks)} code block(s); "
                                      f"/run N takes N from 1 to {len(blocks)}")
        chosen = blocks[block - 1]
        if chosen.lang not in PYTHON:
            raise InvalidRequestError(f"code block {block} is {chosen.lang}; only Python runs "
                                      "in the sandbox")
        return chosen.code, f"code block {block}"
    python = [i for i, b in enumerate(blocks, 1) if b.lang in PYTHON]
    if python:
        return blocks[python[-1] - 1].code, f"code block {python[-1]}"
    if blocks:
        langs = ", ".join(sorted({b.lang for b in blocks}))
        raise InvalidRequestError(f"the last answer has no Python code block ({langs}); "
                                  "only Python runs in the sandbox")
    if is_bare_code(answer.strip()):
        return answer.strip() + "\n", "the answer (bare code)"
    raise InvalidRequestError("the last answer has no code to run; ask for Python code")


def parse_run(args: str, cwd: Path) -> RunRequest:
    """`/run [N] [< FILE | INPUT]`; lines after the first are input too.

    Raises:
        InvalidRequestError: N below 1, or an input file that cannot be read.
    """
    first, newline, rest = args.partition("\n")
    words = first.split(maxsplit=1)
    block = None
    if words and words[0].isdigit():
        block = int(words[0])
        if block < 1:
            raise InvalidRequestError("/run N counts code blocks from 1")
        first = words[1] if len(words) > 1 else ""
    first = first.strip()
    if first.startswith("<"):
        return RunRequest(block, _read_input(first[1:], cwd) + rest)
    given = first + newline + rest if first else rest
    return RunRequest(block, given if given.strip() else None)


def _read_input(raw: str, cwd: Path) -> str:
    try:
        names = shlex.split(raw)
    except ValueError as exc:
        raise InvalidRequestError(f"could not read the file name: {exc}") from None
    if len(names) != 1:
        raise InvalidRequestError("usage: /run [N] < FILE (quote a name with spaces)")
    path = Path(names[0]).expanduser()
    path = path if path.is_absolute() else cwd / path
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"cannot read {path}: {exc}") from None


def run_code(code: str, stdin: str | None, limits: RunLimits, cancel: Any = None):
    """Run `code` in the sandbox; returns its SandboxResult (failures are results). Setting
    `cancel` (a threading.Event) kills it at once."""
    from .bench.sandbox import run_untrusted

    text = None if stdin is None else (stdin if stdin.endswith("\n") else stdin + "\n")
    return run_untrusted(code, timeout_s=limits.timeout_s, memory_bytes=limits.memory_bytes,
                         stdin=text, cancel=cancel)


def outcome(result, limits: RunLimits) -> str:
    """`exit 0`, `exit 1`, `killed at the 10 s limit`, `killed by SIGXCPU`."""
    if result.timed_out:
        return f"killed at the {limits.timeout_s:g} s limit"
    if result.killed_by:
        return f"killed by {result.killed_by}"
    return f"exit {result.exit_code}"


def sandbox_note(result, limits: RunLimits) -> str:
    """`sandbox: netns, no network · limits 10 s, 512 MiB`."""
    isolation = ISOLATION.get(result.isolation, result.isolation)
    return (f"sandbox: {isolation} · limits {limits.timeout_s:g} s, "
            f"{limits.memory_bytes // MiB} MiB")


def run_header(label: str, result, limits: RunLimits) -> str:
    """One line: what ran, how it ended, how long, and how it was isolated."""
    return (f"▶ {label} · {outcome(result, limits)} · {result.elapsed_s:.2f} s · "
            f"{sandbox_note(result, limits)}")


def run_report(label: str, result, limits: RunLimits) -> str:
    """The header, then stdout and stderr (their tails), for the chat."""
    parts = [run_header(label, result, limits)]
    for name, text in (("stdout", result.stdout_tail), ("stderr", result.stderr_tail)):
        if text.strip():
            parts.append(f"{name}:\n{text.rstrip()}")
    if len(parts) == 1:
        parts.append("(no output)")
    return "\n".join(parts)
