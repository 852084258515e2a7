"""Slash-command parsing and validation (plain functions), and the text helpers behind them."""

from __future__ import annotations

from pathlib import Path

import pytest

from vibe_local.errors import InvalidRequestError
from vibe_local.tui import commands as cmd
from vibe_local.tui.text import code_blocks, export_path


def test_plain_text_is_not_a_command() -> None:
    assert cmd.parse("What is 2 + 2?") is None
    assert cmd.parse("  //etc/hosts is a file") is None
    assert cmd.message_text("//etc/hosts is a file") == "/etc/hosts is a file"
    assert cmd.message_text("  hello  ") == "hello"


def test_commands_and_their_arguments() -> None:
    assert cmd.parse("/help") == cmd.Command("help")
    assert cmd.parse("  /SET  temperature 0.7 ") == cmd.Command("set", "temperature 0.7")
    assert cmd.parse("/system You are terse.") == cmd.Command("system", "You are terse.")
    assert cmd.parse("/export") == cmd.Command("export")


def test_unknown_command_lists_the_commands() -> None:
    with pytest.raises(InvalidRequestError, match="unknown command /frobnicate") as info:
        cmd.parse("/frobnicate now")
    assert all(f"/{name}" in str(info.value) for name in cmd.COMMANDS)


def test_command_without_arguments_refuses_them() -> None:
    with pytest.raises(InvalidRequestError, match="/clear takes no arguments"):
        cmd.parse("/clear everything")


@pytest.mark.parametrize("args, expected", [
    ("temperature 0", cmd.Setting("temperature", 0.0)),
    ("temperature 1.5", cmd.Setting("temperature", 1.5)),
    ("top_p 1", cmd.Setting("top_p", 1.0)),
    ("top-p 0.9", cmd.Setting("top_p", 0.9)),
    ("max_tokens 512", cmd.Setting("max_tokens", 512)),
    ("think_budget 0", cmd.Setting("think_budget", 0)),
    ("think_budget 2048", cmd.Setting("think_budget", 2048)),
    ("think_budget off", cmd.Setting("think_budget", None)),
    ("top_k 40", cmd.Setting("top_k", 40)),
    ("min_p 0.05", cmd.Setting("min_p", 0.05)),
    ("seed 4", cmd.Setting("seed", 4)),
    ("seed off", cmd.Setting("seed", None)),
    ("speculate off", cmd.Setting("speculate", False)),
    ("Speculate ON", cmd.Setting("speculate", True)),
])
def test_valid_settings(args: str, expected: cmd.Setting) -> None:
    assert cmd.parse_setting(args) == expected


@pytest.mark.parametrize("args, message", [
    ("temperature", "usage: /set NAME VALUE"),
    ("temperature hot", "temperature must be a number, not 'hot'"),
    ("temperature 2.5", "temperature must be between 0.0 and 2.0"),
    ("temperature -1", "temperature must be between"),
    ("top_p 0", "top_p must be above 0"),
    ("top_p 1.1", "top_p must be above 0.0 and at most 1.0"),
    ("temperature nan", "temperature must be a finite number"),
    ("temperature inf", "temperature must be a finite number"),
    ("top_k -1", "top_k must be at least 0"),
    ("min_p 2", "min_p must be between 0.0 and 1.0"),
    ("seed -1", "seed must be between 0 and"),
    ("max_tokens 0", "max_tokens must be at least 1"),
    ("max_tokens 1.5", "max_tokens must be a whole number"),
    ("think_budget -3", "think_budget must be at least 0"),
    ("bogus 4", "unknown setting 'bogus'"),
    ("speculate maybe", "speculate must be on or off, not 'maybe'"),
])
def test_invalid_settings_say_what_is_wrong(args: str, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        cmd.parse_setting(args)


def test_think_toggle() -> None:
    assert cmd.parse_toggle("on") is True and cmd.parse_toggle(" OFF ") is False
    with pytest.raises(InvalidRequestError, match="usage: /think on|off"):
        cmd.parse_toggle("maybe")


def test_copy_arguments() -> None:
    assert cmd.parse_copy("") is None
    assert cmd.parse_copy("code") == 0  # the last block
    assert cmd.parse_copy("code 2") == 2
    for bad in ("code 0", "code two", "everything", "code 1 2"):
        with pytest.raises(InvalidRequestError):
            cmd.parse_copy(bad)


def test_export_path_argument(tmp_path: Path) -> None:
    assert cmd.parse_path("") is None
    assert cmd.parse_path("'my chats/a.md'") == "my chats/a.md"
    with pytest.raises(InvalidRequestError, match="one path"):
        cmd.parse_path("a.md b.md")
    with pytest.raises(InvalidRequestError, match="could not read the path"):
        cmd.parse_path("'unclosed")
    assert export_path(None, "3-x.md", tmp_path) == tmp_path / "3-x.md"
    assert export_path(str(tmp_path), "3-x.md", Path("/elsewhere")) == tmp_path / "3-x.md"
    assert export_path("out.md", "3-x.md", tmp_path) == tmp_path / "out.md"


def test_required_argument() -> None:
    assert cmd.require("model", "vibethinker-3b") == "vibethinker-3b"
    with pytest.raises(InvalidRequestError, match="usage: /model ID"):
        cmd.require("model", "")


def test_code_blocks_are_the_ones_the_renderer_sees() -> None:
    answer = ("Try:\n\n```python\nprint(1)\n```\n\nthen\n\n~~~\nls -l\n~~~\n\n"
              "    indented\n\nand `inline` is not a block.")
    assert code_blocks(answer) == ["print(1)\n", "ls -l\n", "indented\n"]
    assert code_blocks("no code here") == []


def test_run_keeps_the_lines_after_it_and_raw_toggles() -> None:
    assert cmd.parse("/run") == cmd.Command("run")
    assert cmd.parse("/run 2 < in.txt") == cmd.Command("run", "2 < in.txt")
    assert cmd.parse("/run\n3\n1 2 3\n") == cmd.Command("run", "\n3\n1 2 3")
    assert cmd.parse("/system\nBe terse.") == cmd.Command("system", "Be terse.")
    with pytest.raises(InvalidRequestError, match="/test takes no arguments"):
        cmd.parse("/test now")
    assert cmd.parse_raw("") is None
    assert cmd.parse_raw("on") is True and cmd.parse_raw("off") is False
    with pytest.raises(InvalidRequestError, match=r"usage: /raw \[on\|off\]"):
        cmd.parse_raw("maybe")
