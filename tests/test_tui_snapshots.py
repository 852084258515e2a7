"""Snapshots of the chat UI at 100x30: empty chat, thinking mid-stream, an answer with code,
an error, the fit modal, an answer with math, and a /run result.

Figures that change from run to run are fixed: memory comes from an injected reader, the
thinking clock is frozen, rates come from the scripted engine's stats, the fit simulates a
16 GiB CPU-only machine. Update the baselines with
`uv run pytest tests/test_tui_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from fixtures.scripted_engine import Gate, ScriptedEngine, answer, thinking
from fixtures.scripted_model import ScriptedModel
from fixtures.tui_app import SIZE, loaded, make_app, send, until
from vibe_local.coderun import run_code
from vibe_local.tui.screens import FitScreen
from vibe_local.tui.widgets import RunOutput

ANSWER_WITH_CODE = answer(
    "Sum the list with a loop, or use the built-in:\n\n",
    "```python\ndef total(xs: list[int]) -> int:\n    result = 0\n",
    "    for x in xs:\n        result += x\n    return result\n```\n\n",
    "Things to know:\n\n- `sum(xs)` does the same\n- it works on any iterable\n",
)


def engine_app(engine: ScriptedEngine, tmp_path: Path):
    return make_app("vibethinker-1.5b", tmp_path / "history.sqlite3",
                    loader=lambda *args, **options: engine)


def test_empty_chat(snap_compare, tmp_path: Path) -> None:
    app = engine_app(ScriptedEngine(), tmp_path)

    async def ready(pilot) -> None:
        await loaded(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_streaming_thinking(snap_compare, tmp_path: Path) -> None:
    steps = ["The question asks for ", "the sum of 17 and 25. ", "Add the tens: 30; ",
             "the ones: 12; together 42."]
    app = engine_app(ScriptedEngine([*thinking(*steps), Gate(), *answer("42")]), tmp_path)

    async def mid_thinking(pilot) -> None:
        await loaded(pilot, app)
        await send(pilot, app, "What is 17 + 25?", wait=False)
        text = "".join(steps)
        shown = app.reply.query_one(".thinking-text Markdown")  # what is drawn, not recorded
        await until(pilot, lambda: shown.source == text and shown.children, "the thinking")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=mid_thinking)


def test_answer_with_code_block(snap_compare, tmp_path: Path) -> None:
    engine = ScriptedEngine([*thinking("A loop is the plainest way."), *ANSWER_WITH_CODE])
    app = engine_app(engine, tmp_path)

    async def answered(pilot) -> None:
        await loaded(pilot, app)
        await send(pilot, app, "How do I add up a list in Python?")

    assert snap_compare(app, terminal_size=SIZE, run_before=answered)


def test_error_message(snap_compare, tmp_path: Path) -> None:
    app = make_app("missing-model.gguf", tmp_path / "history.sqlite3")

    async def failed(pilot) -> None:
        await loaded(pilot, app)
        await send(pilot, app, "/set temperature 9")

    assert snap_compare(app, terminal_size=SIZE, run_before=failed)


@pytest.mark.usefixtures("backend_ready")
def test_fit_modal(snap_compare, scripted: ScriptedModel, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.symlink(scripted.gguf, tmp_path / "scripted-F32.gguf")  # a path that reads the same
    app = engine_app(ScriptedEngine(), tmp_path)

    async def proposed(pilot) -> None:
        await loaded(pilot, app)
        await send(pilot, app, "/model scripted-F32.gguf")
        await until(pilot, lambda: isinstance(app.screen, FitScreen), "the fit modal")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=proposed)


MATH_ANSWER = answer(
    "Pair the terms: \\(1 + 100 = 101\\), and there are \\(\\frac{100}{2} = 50\\) pairs, so\n\n",
    "\\[ \\sum_{k=1}^{100} k = \\frac{n(n+1)}{2} = 50 \\times 101 = 5050 \\]\n\n",
    "For \\(x^2 - 5x + 6 = 0\\): \\(x = \\dfrac{5 \\pm \\sqrt{25 - 24}}{2}\\), ",
    "so \\(x \\in \\{2, 3\\}\\) and \\(\\alpha \\le \\beta \\implies \\beta - \\alpha = 1\\). ",
    "A 15\\% tip on $40 is $6.\n\n",
    "**Final answer:** \\(\\boxed{5050}\\)\n",
)


def test_answer_with_math(snap_compare, tmp_path: Path) -> None:
    engine = ScriptedEngine([*thinking("Gauss: pair the ends."), *MATH_ANSWER])
    app = engine_app(engine, tmp_path)

    async def answered(pilot) -> None:
        await loaded(pilot, app)
        await send(pilot, app, "What is 1 + 2 + ... + 100?")

    assert snap_compare(app, terminal_size=SIZE, run_before=answered)


def test_run_result(snap_compare, tmp_path: Path) -> None:
    code = ("```python\nimport sys\n\nn, *xs = map(int, sys.stdin.read().split())\n"
            "print(sum(xs))\nprint('n =', n, file=sys.stderr)\n```\n")
    app = engine_app(ScriptedEngine(answer("Read the numbers and add them:\n\n", code)),
                     tmp_path)
    # The real sandbox runs the code; the time and the isolation (which differ by machine)
    # are fixed so the snapshot is the same everywhere.
    app.code_runner = lambda *args: replace(run_code(*args), elapsed_s=0.05, isolation="netns")

    async def ran(pilot) -> None:
        await loaded(pilot, app)
        await send(pilot, app, "Sum the numbers on stdin.")
        await send(pilot, app, "/run\n3\n1 2 3")
        await until(pilot, lambda: app.query(RunOutput), "the run")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=ran)
