"""The chat UI driven by Textual's pilot, with the real scripted GGUF loaded by vibe_local.load.

The scripted model thinks " think about the problem" and answers "answer two"; swapping its
chat template for one ending in " sentence" makes it ramble until stopped (see
tests/fixtures/scripted_model.py). Replies are read back from the widgets and from the history
database the app writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.scripted_model import ENTRIES, RAMBLE, ScriptedModel, chatml_ending_with
from fixtures.tui_app import SIZE, async_test, errors, loaded, make_app, notices, send, until
from vibe_local.chat_template import ChatTemplate
from vibe_local.history import History
from vibe_local.tui.reply import AssistantMessage
from vibe_local.tui.screens import FitScreen
from vibe_local.tui.widgets import UserMessage

pytestmark = pytest.mark.usefixtures("backend_ready")
QUESTION = "What is 1 + 1?"


@pytest.fixture
def history_path(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


def stored(history_path: Path) -> list:
    with History(history_path) as history:
        chats = history.chats()
        return history.messages(chats[0].id) if chats else []


@async_test
async def test_send_streams_thinking_then_answer_and_saves(scripted: ScriptedModel,
                                                          history_path: Path) -> None:
    app = make_app(scripted.gguf, history_path)
    async with app.run_test(size=SIZE) as pilot:
        assert app.model is None and app.state.startswith("loading")  # painted before loading
        await loaded(pilot, app)
        assert app.model.info.quant == "F32" and app.state == "ready"
        await send(pilot, app, QUESTION)
        reply = app.query_one(AssistantMessage)
        assert reply.thinking == " think about the problem"
        assert reply.answer == "answer two"
        assert reply.fold.display and reply.fold.collapsed  # folded once the answer came
        assert reply.fold.title == "Thought for 0.0 s · 5 tokens"
        answer = reply.query_one(".answer")
        assert answer.source == "answer two" and answer.children  # rendered blocks
        status = str(app.query_one("#status").render())
        assert "F32 · CPU · ctx " in status and "tg " in status and "mem 512.0M" in status
    user, assistant = stored(history_path)
    assert (user.role, user.content) == ("user", QUESTION)
    assert assistant.content == "answer two" and not assistant.partial
    assert assistant.thinking == " think about the problem"
    assert assistant.stats["completion_tokens"] == 9 and assistant.stats["finish_reason"] == "stop"


@async_test
async def test_stop_keeps_what_came_as_a_partial_reply(scripted: ScriptedModel,
                                                      history_path: Path) -> None:
    app = make_app(scripted.gguf, history_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        app.model.template = ChatTemplate(chatml_ending_with(f" {ENTRIES['ramble']}"))
        await send(pilot, app, "Tell me everything.", wait=False)
        await until(pilot, lambda: len(app.reply.answer.split()) >= 3, "some rambling")
        await pilot.press("escape")
        await until(pilot, lambda: app.state == "ready", "the stop")
        shown = app.reply.answer
        assert "stopped" in str(app.reply.query_one(".reply-footer").render())
    *_, assistant = stored(history_path)
    assert assistant.partial and assistant.stats["finish_reason"] == "cancelled"
    assert assistant.content == shown
    words = shown.split()
    cycle = RAMBLE * (len(words) // len(RAMBLE) + 1)  # the scripted ramble goes round in a loop
    assert words == cycle[:len(words)]  # exactly what streamed, in order, nothing invented


@async_test
async def test_regen_replaces_the_last_reply(scripted: ScriptedModel, history_path: Path) -> None:
    app = make_app(scripted.gguf, history_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, QUESTION)
        first = stored(history_path)[-1].created
        await send(pilot, app, "/regen")
        assert len(app.query(AssistantMessage)) == 1
        assert app.reply.answer == "answer two"
    user, assistant = stored(history_path)
    assert user.content == QUESTION and assistant.created > first  # a new row


@async_test
async def test_think_off_hides_thinking_but_keeps_it(scripted: ScriptedModel,
                                                   history_path: Path) -> None:
    app = make_app(scripted.gguf, history_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "/think off")
        await send(pilot, app, QUESTION)
        assert app.log_view.has_class("-hide-thinking")
        assert not app.reply.fold.display  # hidden by the stylesheet rule
        await send(pilot, app, "/think on")
        assert app.reply.fold.display
    assert stored(history_path)[-1].thinking == " think about the problem"


@async_test
async def test_export_writes_the_chat_as_markdown(scripted: ScriptedModel, history_path: Path,
                                                  tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(scripted.gguf, history_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, QUESTION)
        (tmp_path / "a-file").write_text("")
        await send(pilot, app, "/export a-file/chat.md")  # cannot make a folder there
        assert "cannot write" in errors(app)[-1]
        await send(pilot, app, "/export 'my exports/chat.md'")
        await send(pilot, app, "/export")
        default = tmp_path / f"{app.session.chat_id}-what-is-1-1.md"
        assert f"Exported to {default}" in notices(app)
    assert (tmp_path / "my exports" / "chat.md").read_text().startswith("# What is 1 + 1?")
    text = default.read_text()
    assert text.startswith("# What is 1 + 1?")
    assert "## You\n\nWhat is 1 + 1?" in text
    assert "think about the problem" in text and "answer two" in text


@async_test
async def test_resume_shows_the_chat_and_continues_it(scripted: ScriptedModel,
                                                     history_path: Path) -> None:
    app = make_app(scripted.gguf, history_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, QUESTION)
    again = make_app(scripted.gguf, history_path, resume=0)
    async with again.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: again.query(AssistantMessage), "the resumed chat")
        reply = again.query_one(AssistantMessage)
        assert [str(u.render()) for u in again.query(UserMessage)] == [QUESTION]
        assert reply.answer == "answer two" and reply.fold.collapsed
        assert reply.fold.title == "Thought for 0.0 s · 5 tokens"
        await loaded(pilot, again)
        assert [m["content"] for m in again.session.conversation()] == [QUESTION, "answer two"]
        await send(pilot, again, "And 2 + 2?")
    messages = stored(history_path)
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]


@async_test
async def test_model_that_does_not_exist_is_an_error_message(history_path: Path) -> None:
    app = make_app("/no/such/model.gguf", history_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        assert app.state == "no model"
        assert "/no/such/model.gguf" in errors(app)[0] and "/model ID" in errors(app)[0]
        await send(pilot, app, QUESTION)
        assert "No model is loaded" in notices(app)[-1]
        assert app.query_one("#prompt").text == QUESTION  # kept for when a model is loaded


@async_test
async def test_model_that_does_not_fit_shows_the_fit_table(scripted: ScriptedModel,
                                                          history_path: Path) -> None:
    app = make_app(scripted.gguf, history_path, machine={"memory": "64MiB", "gpu": "none"})
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        [error] = errors(app)
        assert "does not fit" in error and "F32" in error and "smaller quant" in error


@async_test
async def test_switching_model_shows_the_fit_and_loads_on_confirmation(
        scripted: ScriptedModel, history_path: Path) -> None:
    app = make_app(scripted.gguf, history_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        first = app.model
        await send(pilot, app, "/quant Q4_K_M")
        await until(pilot, lambda: errors(app), "the fit error")
        assert "Q4_K_M" in errors(app)[-1]  # a single-file model has one quant
        await send(pilot, app, f"/model {scripted.gguf}")
        await until(pilot, lambda: isinstance(app.screen, FitScreen), "the fit modal")
        table = str(app.screen.query_one(".fit-table").render())
        assert "F32" in table and "verdict" in table
        await pilot.press("y")
        await until(pilot, lambda: app.model is not None and app.model is not first, "the load")
        assert first._llm is None  # the previous model was closed
        await send(pilot, app, QUESTION)
        assert app.reply.answer == "answer two"
