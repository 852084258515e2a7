"""Chat UI behaviour that depends on *when* tokens arrive, and the commands around a reply.

Timing is controlled with the scripted engine (tests/fixtures/scripted_engine.py): its stream
waits at Gates the test opens, so "thinking is on screen but the answer has not started" is a
state the test can look at. Everything else is the real app.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.scripted_engine import Gate, ScriptedEngine, answer, thinking
from fixtures.tui_app import SIZE, async_test, errors, loaded, make_app, notices, send, until
from vibe_local.history import History
from vibe_local.tui.history_screen import HistoryScreen
from vibe_local.tui.reply import AssistantMessage
from vibe_local.tui.screens import HelpScreen

CODE_ANSWER = answer("Here:\n\n```python\n", "print('hi')\n", "```\n\nand\n\n```sh\nls\n```\n")


def engine_app(engine: ScriptedEngine, tmp_path: Path, **kwargs):
    return make_app("scripted-engine", tmp_path / "history.sqlite3",
                    loader=lambda *args, **options: engine, **kwargs)


def stored(tmp_path: Path) -> list:
    with History(tmp_path / "history.sqlite3") as history:
        return history.messages(history.chats()[0].id)


@async_test
async def test_thinking_shows_live_then_folds_when_the_answer_starts(tmp_path: Path) -> None:
    gate = Gate()
    engine = ScriptedEngine([*thinking("Let me ", "add."), gate, *answer("**2**")])
    app = engine_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "1 + 1?", wait=False)
        await until(pilot, lambda: app.reply and app.reply.thinking == "Let me add.", "thinking")
        fold = app.reply.fold
        assert fold.display and not fold.collapsed
        assert fold.title == "Thinking … 2 tokens"
        assert app.state == "generating …"
        gate.open()
        await until(pilot, lambda: app.state == "ready", "the end")
        assert fold.collapsed and fold.title == "Thought for 0.0 s · 12 tokens"  # stats' count
        assert app.reply.query_one(".answer").source == "**2**"
        await pilot.press("ctrl+t")
        assert not fold.collapsed
        await pilot.press("ctrl+t")
        assert fold.collapsed


@async_test
async def test_ctrl_c_stops_and_saves_a_partial_reply(tmp_path: Path) -> None:
    gate = Gate()
    engine = ScriptedEngine([*thinking("hmm"), *answer("The answer is"), gate, *answer(" 4")])
    app = engine_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "2 + 2?", wait=False)
        await until(pilot, lambda: app.reply and app.reply.answer, "the answer")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: app.state == "ready", "the stop")
        assert app.reply.query_one(".answer").source == "The answer is"
        await pilot.press("ctrl+c")  # idle: Ctrl+C is the text box's copy again, no stop
        assert app.state == "ready"
    user, reply = stored(tmp_path)
    assert reply.partial and reply.content == "The answer is" and reply.thinking == "hmm"
    assert reply.stats["finish_reason"] == "cancelled"


@async_test
async def test_quit_while_generating_saves_what_came_and_closes_the_model(tmp_path: Path) -> None:
    engine = ScriptedEngine([*answer("partial text"), Gate(), *answer(" never")])
    app = engine_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "go", wait=False)
        await until(pilot, lambda: app.reply and app.reply.answer, "the answer")
        await pilot.press("ctrl+d")
        await until(pilot, lambda: engine.closed, "the model to close")
    assert stored(tmp_path)[-1].content == "partial text" and stored(tmp_path)[-1].partial


@async_test
async def test_settings_and_system_prompt_reach_the_model(tmp_path: Path) -> None:
    engine = ScriptedEngine(answer("ok"))
    app = engine_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "/set temperature 5")
        assert "temperature must be between 0.0 and 2.0" in errors(app)[-1]
        for line in ("/set temperature 0.2", "/set think_budget 64", "/set max_tokens 100",
                     "/set speculate off", "/system Answer in one word."):
            await send(pilot, app, line)
        assert "speculate = off (from the next reply)" in notices(app)
        await send(pilot, app, "hi")
        messages, overrides = engine.sent[-1]
        assert overrides == {"temperature": 0.2, "think_budget": 64, "max_tokens": 100,
                             "speculate": False}
        assert messages == [{"role": "system", "content": "Answer in one word."},
                            {"role": "user", "content": "hi"}]
        await send(pilot, app, "/frobnicate")
        assert "unknown command /frobnicate" in errors(app)[-1] and "/help" in errors(app)[-1]
    with History(tmp_path / "history.sqlite3") as history:
        assert history.chats()[0].system == "Answer in one word."


@async_test
async def test_copy_answer_and_code_blocks(tmp_path: Path) -> None:
    app = engine_app(ScriptedEngine(CODE_ANSWER), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "/copy")
        assert "no answer to copy" in errors(app)[-1]
        await send(pilot, app, "show code")
        await send(pilot, app, "/copy code 1")
        assert app.clipboard == "print('hi')\n"
        await send(pilot, app, "/copy code")
        assert app.clipboard == "ls\n"
        await send(pilot, app, "/copy")
        assert app.clipboard == app.reply.answer
        await send(pilot, app, "/copy code 3")
        assert "2 code block(s)" in errors(app)[-1]


@async_test
async def test_history_screen_renames_deletes_and_resumes(tmp_path: Path) -> None:
    app = engine_app(ScriptedEngine(answer("ok")), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "first chat")
        first = app.session.chat_id
        await send(pilot, app, "/clear")
        await send(pilot, app, "second chat")
        await send(pilot, app, "/save Second")
        assert "is saved in" in notices(app)[-1]
        await send(pilot, app, "/history")
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("down", "r", *"Renamed", "enter")  # the older chat
        await pilot.press("up", "d", "d")  # delete "Second" (confirmed by the second d)
        await pilot.press("enter")  # resume what is left: the renamed first chat
        await until(pilot, lambda: not isinstance(app.screen, HistoryScreen), "the resume")
        assert app.session.chat_id == first
        assert [m.answer for m in app.query(AssistantMessage)] == ["ok"]
    with History(tmp_path / "history.sqlite3") as history:
        assert [c.title for c in history.chats()] == ["Renamed"]


@async_test
async def test_help_keymap_and_input_history(tmp_path: Path) -> None:
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('[keymap]\nhelp = "f2"\n')
    app = engine_app(ScriptedEngine(answer("ok")), tmp_path, keymap_path=keymap)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await pilot.press("f2")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await send(pilot, app, "one")
        await send(pilot, app, "two\nlines")
        box = app.query_one("#prompt")
        await pilot.press(*"dra", "ctrl+j", *"ft")
        assert box.text == "dra\nft"
        await pilot.press("up")  # on the last line: an ordinary cursor move
        await pilot.press("up")
        assert box.text == "two\nlines"
        await pilot.press("up", "up")
        assert box.text == "one"
        await pilot.press("down", "down")
        assert box.text == "dra\nft"  # back to the draft


@async_test
async def test_bad_keymap_is_an_error_message_not_a_crash(tmp_path: Path) -> None:
    keymap = tmp_path / "keymap.toml"
    keymap.write_text("[keymap\n")
    app = engine_app(ScriptedEngine(answer("ok")), tmp_path, keymap_path=keymap)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        assert "could not read" in errors(app)[0]


@async_test
async def test_unexpected_engine_failure_is_shown_and_logged(tmp_path: Path) -> None:
    class Broken(ScriptedEngine):
        def stream(self, messages, **overrides):
            yield from answer("half")
            raise RuntimeError("llama.cpp exploded")

    app = engine_app(Broken(), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "go")
        assert "llama.cpp exploded" in errors(app)[-1] and "This is a bug" in errors(app)[-1]
        assert "RuntimeError" in app.error_log.read_text()
        await send(pilot, app, "/help")  # still running
    assert stored(tmp_path)[-1].partial and stored(tmp_path)[-1].content == "half"


def test_chat_command_imports_textual_only_when_it_runs() -> None:
    code = ("import sys; from vibe_local import cli; cli.build_parser(); "
            "print(sorted(m for m in ('textual', 'llama_cpp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("argv", [["chat", "--help"]])
def test_chat_help_lists_the_options(argv: list[str], capsys) -> None:
    from vibe_local import cli

    with pytest.raises(SystemExit):
        cli.main(argv)
    text = capsys.readouterr().out
    assert all(option in text for option in ("--model", "--quant", "--ctx", "--resume"))
