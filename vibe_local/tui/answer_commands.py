"""Commands about the last answer: `/run` and `/test` its code, `/raw` to see its source.

A mixin of ChatApp (like slash.py); it uses the app's `say`, `show_error`, `guarded`,
`log_view`, `session` and `generating`. Code runs only on these explicit commands, in a worker
thread (the sandbox waits for the program), in the HumanEval bench's sandbox (coderun.py).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from textual import work

from ..coderun import (
    RunLimits,
    outcome,
    parse_run,
    pick_code,
    run_code,
    run_report,
    sandbox_note,
)
from ..errors import InvalidRequestError
from ..samples import find_samples, same_output
from . import commands as cmd
from .reply import AssistantMessage
from .widgets import RunOutput


class AnswerCommands:
    """`/run`, `/test`, `/raw` and the key that toggles the raw view."""

    run_limits = RunLimits()
    code_runner = staticmethod(run_code)  # (code, stdin, limits, cancel) -> SandboxResult
    render_math = True
    _code_running = False
    _code_cancel: threading.Event | None = None

    def cancel_code(self) -> None:
        """Kill code still running (the chat is closing: it must not wait for the limit)."""
        if self._code_cancel is not None:
            self._code_cancel.set()

    def _start_code(self: Any) -> threading.Event:
        self._code_running, self._code_cancel = True, threading.Event()
        return self._code_cancel

    async def cmd_raw(self: Any, args: str) -> None:
        raw = cmd.parse_raw(args)
        await self.show_raw(self.render_math if raw is None else raw)  # None: toggle

    async def action_toggle_raw(self: Any) -> None:
        await self.guarded(self.show_raw(self.render_math))

    async def show_raw(self: Any, raw: bool) -> None:
        """Show every finished reply raw or rendered; one still streaming switches when done."""
        self.render_math = not raw
        for reply in self.query(AssistantMessage):
            await reply.show_math(self.render_math)
        self.notify("Raw text shown (/raw off renders math)" if raw else "Math rendered")

    def last_answer(self: Any) -> str:
        if self.generating:
            raise InvalidRequestError("a reply is still coming; press Esc to stop it first")
        if self._code_running:
            raise InvalidRequestError("code from the last answer is still running; wait for it")
        replies = [r for r in self.query(AssistantMessage) if r.answer]
        if not replies:
            raise InvalidRequestError("there is no answer with code yet")
        return replies[-1].answer

    async def cmd_run(self: Any, args: str) -> None:
        request = parse_run(args, Path.cwd())
        code, label = pick_code(self.last_answer(), request.block)
        self.run_in_sandbox(code, label, request.stdin, self._start_code())

    async def cmd_test(self: Any, args: str) -> None:
        answer = self.last_answer()
        questions = [m["content"] for m in self.session.conversation() if m["role"] == "user"]
        samples = find_samples(questions[-1]) if questions else []
        if not samples:
            raise InvalidRequestError("your question has no sample input/output (\"Input: ... "
                                      "Output: ...\"); use /run with the input instead")
        code, label = pick_code(answer, None)
        self.test_in_sandbox(code, label, samples, self._start_code())

    @work(thread=True, group="code", exit_on_error=False)
    def run_in_sandbox(self: Any, code: str, label: str, stdin: str | None,
                       cancel: threading.Event) -> None:
        try:
            result = self.code_runner(code, stdin, self.run_limits, cancel)
            report = run_report(f"/run {label}", result, self.run_limits)
            self._from_thread(self._code_done, report, result.passed)
        except Exception as exc:  # noqa: BLE001 - shown in the UI
            self._from_thread(self._code_failed, exc)

    @work(thread=True, group="code", exit_on_error=False)
    def test_in_sandbox(self: Any, code: str, label: str, samples: list,
                        cancel: threading.Event) -> None:
        try:
            lines, passed = [], 0
            for i, sample in enumerate(samples, 1):
                result = self.code_runner(code, sample.input, self.run_limits, cancel)
                ok = result.passed and same_output(sample.output, result.stdout_tail)
                passed += ok
                lines.append(_sample_line(i, ok, sample, result, self.run_limits))
            head = (f"▶ /test {label}: {passed}/{len(samples)} samples passed · "
                    f"{sandbox_note(result, self.run_limits)}")
            report = "\n".join([head, *lines])
            self._from_thread(self._code_done, report, passed == len(samples))
        except Exception as exc:  # noqa: BLE001 - shown in the UI
            self._from_thread(self._code_failed, exc)

    async def _code_done(self: Any, report: str, passed: bool) -> None:
        self._code_running = False
        await self._add(RunOutput(report, passed))

    async def _code_failed(self: Any, error: BaseException) -> None:
        self._code_running = False
        await self.show_error(error)


def _sample_line(i: int, ok: bool, sample: Any, result: Any, limits: RunLimits) -> str:
    """`✓ sample 1 (0.03 s)`, or what went wrong: expected and got, or how it ended."""
    took = f"({result.elapsed_s:.2f} s)"
    if ok:
        return f"✓ sample {i} {took}"
    if not result.passed:
        tail = [x for x in result.stderr_tail.splitlines() if x.strip()][-1:]
        why = outcome(result, limits) + (f": {tail[0].strip()[:200]}" if tail else "")
        return f"✗ sample {i} {took}: {why}"
    return (f"✗ sample {i} {took}: expected {_short(sample.output)}, "
            f"got {_short(result.stdout_tail)}")


def _short(text: str) -> str:
    text = " ⏎ ".join(text.strip().splitlines())
    return repr(text if len(text) <= 80 else text[:77] + "…")
