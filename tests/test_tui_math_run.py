"""Math and code in the chat UI: rendered math on screen with the raw text kept (copy, history,
/raw, F2), the same screen however the reply was split into tokens, and /run and /test running
the answer's code in the sandbox."""

from __future__ import annotations

from pathlib import Path

from fixtures.scripted_engine import ScriptedEngine, answer, thinking
from fixtures.tui_app import SIZE, async_test, errors, loaded, make_app, send, until
from vibe_local.coderun import RunLimits
from vibe_local.history import History
from vibe_local.tui.reply import AssistantMessage
from vibe_local.tui.widgets import RunOutput

MATH = ("We need \\(\\frac{36}{3}\\) and \\(x^2\\).\n\n"
        "\\[ \\sum_{i=1}^{n} i = \\frac{n(n+1)}{2} \\]\n\n"
        "It costs $5 and $10. So the answer is \\boxed{12}.\n")
SUM_CODE = "```python\nimport sys\nprint(sum(map(int, sys.stdin.read().split()[1:])))\n```\n"
QUESTION = ("Print the sum of n numbers.\n\nSample Input 1\n3\n1 2 3\nSample Output 1\n6\n\n"
            "Sample Input 2\n2\n10 20\nSample Output 2\n30\n")


def engine_app(engine: ScriptedEngine, tmp_path: Path):
    return make_app("vibethinker-1.5b", tmp_path / "history.sqlite3",
                    loader=lambda *args, **options: engine)


def shown(app, part: str = ".answer") -> str:
    """The Markdown the last reply's answer (or thinking) shows, all segments together."""
    return "".join(m.source for m in app.query(AssistantMessage)[-1].query(f"{part} Markdown"))


def outputs(app) -> list[str]:
    return [w.text for w in app.query(RunOutput)]


@async_test
async def test_math_is_rendered_and_the_raw_text_kept(tmp_path: Path) -> None:
    app = engine_app(ScriptedEngine([*thinking("Think \\(\\alpha\\)."), *answer(MATH)]), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "Sum?")
        text = shown(app)
        assert "³⁶⁄₃" in text and "x²" in text and "⟦**12**⟧" in text and "\\frac" not in text
        assert "$5 and $10" in text  # money stays money
        assert "α" in shown(app, ".thinking-text")
        assert app.reply.answer == MATH
        await send(pilot, app, "/copy")
        assert app.clipboard == MATH
        await send(pilot, app, "/raw")
        assert shown(app) == MATH
        await pilot.press("f2")
        await pilot.pause()
        assert "³⁶⁄₃" in shown(app)
        await send(pilot, app, "/raw on")
        assert shown(app) == MATH
    with History(tmp_path / "history.sqlite3") as history:
        stored = history.messages(history.chats()[0].id)
        assert stored[-1].content == MATH


@async_test
async def test_a_reply_split_into_single_characters_shows_the_same(tmp_path: Path) -> None:
    reply = MATH * 6 + SUM_CODE + "Cost: $3.50, then \\(\\sqrt{2}\\).\n"
    screens = []
    for pieces in ([reply], list(reply)):
        app = engine_app(ScriptedEngine(answer(*pieces)), tmp_path / str(len(pieces)))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, app)
            await send(pilot, app, "Sum?")
            screens.append([m.source for m in app.reply.query(".answer Markdown")])
    assert screens[0] == screens[1]
    assert "⟦**12**⟧" in "".join(screens[0])


@async_test
async def test_run_fenced_code_with_stdin_and_from_a_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("2\n4 5\n", "utf-8")
    app = engine_app(ScriptedEngine(answer("Here:\n\n", SUM_CODE)), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "/run")
        assert "no answer with code" in errors(app)[-1]
        await send(pilot, app, "Sum them.")
        await send(pilot, app, "/run\n3\n1 2 3")
        await until(pilot, lambda: len(outputs(app)) == 1, "the run")
        report = outputs(app)[0]
        assert report.startswith("▶ /run code block 1 · exit 0 · ")
        assert "sandbox: " in report and report.endswith("stdout:\n6")
        await send(pilot, app, "/run 1 < in.txt")
        await until(pilot, lambda: len(outputs(app)) == 2, "the second run")
        assert outputs(app)[1].endswith("stdout:\n9")
        await send(pilot, app, "/run 2")
        assert "1 code block(s)" in errors(app)[-1]


@async_test
async def test_run_bare_code_and_an_endless_loop(tmp_path: Path) -> None:
    engine = ScriptedEngine([*thinking("```python\nprint('draft')\n```"),
                             *answer("print('bare', 6 * 7)\n")])
    app = engine_app(engine, tmp_path)
    app.run_limits = RunLimits(timeout_s=1.0)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "Print 42.")
        await send(pilot, app, "/run")
        await until(pilot, lambda: outputs(app), "the run")
        assert "the answer (bare code) · exit 0" in outputs(app)[0]
        assert outputs(app)[0].endswith("stdout:\nbare 42")  # not the draft in the thinking
        engine.script = answer("while True:\n    pass\n")
        await send(pilot, app, "Loop.")
        await send(pilot, app, "/run")
        await until(pilot, lambda: len(outputs(app)) == 2, "the loop to be killed", 30)
        assert "killed at the 1 s limit" in outputs(app)[1]
        assert app.query(RunOutput).last().has_class("-failed")


@async_test
async def test_test_runs_the_samples_of_the_question(tmp_path: Path) -> None:
    engine = ScriptedEngine(answer(SUM_CODE))
    app = engine_app(engine, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "Add two numbers.")
        await send(pilot, app, "/test")
        assert "no sample input/output" in errors(app)[-1]
        await send(pilot, app, QUESTION)
        await send(pilot, app, "/test")
        await until(pilot, lambda: outputs(app), "the samples")
        lines = outputs(app)[0].splitlines()
        assert lines[0].startswith("▶ /test code block 1: 2/2 samples passed · sandbox: ")
        assert lines[1].startswith("✓ sample 1") and lines[2].startswith("✓ sample 2")
        engine.script = answer("```python\nprint(6)\n```\n")
        await send(pilot, app, "/regen")  # the old reply and its result go
        await send(pilot, app, "/test")
        await until(pilot, lambda: outputs(app), "the second test")
        lines = outputs(app)[-1].splitlines()
        assert "1/2 samples passed" in lines[0]
        assert lines[1].startswith("✓ sample 1")
        assert lines[2].startswith("✗ sample 2") and "expected '30', got '6'" in lines[2]
