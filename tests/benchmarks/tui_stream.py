"""Benchmark: streaming a long reply through the real chat UI, and the time to first paint.

    uv run python tests/benchmarks/tui_stream.py [--tokens 5000] [--math]

Streaming: a scripted engine yields N answer tokens (prose, a fenced code block and a list,
repeated; with --math, prose full of inline and display LaTeX, an aligned environment and a
boxed answer, which the chat renders as Unicode while it streams; --raw turns the rendering off
to measure what it costs) into the real ChatApp under
`run_test()` — real AssistantMessage, ReplyBuffer, math renderer and Markdown stream. Two modes:

* paced: the engine yields the next token only once the screen has taken the previous one
  (backpressure on `AssistantMessage.pending`), so each token pays the whole UI path. The time
  per token over the first 500 and the last 500 tokens is compared: a ratio near 1 means the
  cost does not grow with the message.
* firehose: the engine yields as fast as it can; the UI coalesces. Reports tokens/s rendered
  (N / time from the first token to the end of the final full render).

First paint: a fresh interpreter imports the chat UI, builds ChatApp and runs it headless until
the first screen is composed (the model loads afterwards, in a thread). Reported with the
interpreter's own start-up and the import share (see also `python -X importtime`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

PROSE = ("The sum of a list can be computed with a loop that keeps a running total, "
         "which is easy to read and to check by hand. ")
CODE = ("```python\ndef total(xs):\n    result = 0\n    for x in xs:\n        result += x\n"
        "    return result\n```\n\n")
LIST = "Points to remember:\n\n- it works on any iterable\n- it starts from zero\n\n"
MATH = ("Let \\(a_n = \\frac{n(n+1)}{2}\\) for \\(n \\ge 1\\); then \\(a_{n+1} - a_n = n + 1\\) "
        "and \\(\\sqrt{8a_n + 1} = 2n + 1\\), so \\(\\alpha^2 + \\beta^2 \\le \\dfrac{3}{4}\\).\n\n"
        "\\[ \\sum_{k=1}^{n} k^2 = \\frac{n(n+1)(2n+1)}{6} \\implies \\lim_{n \\to \\infty} "
        "\\frac{S_n}{n^3} = \\frac{1}{3} \\]\n\n"
        "\\[\n\\begin{aligned}\nx + y &= 10 \\\\\nx - y &= 4\n\\end{aligned}\n\\]\n\n"
        "A 15\\% tip on $40 is $6, and \\(x \\in \\mathbb{R}\\). "
        "The answer is \\(\\boxed{\\dfrac{7}{3}}\\).\n\n")

_FIRST_PAINT = r"""
import asyncio, json, sys, tempfile, time
from pathlib import Path
t0 = time.perf_counter()
from vibe_local.tui import ChatApp
from vibe_local.history import History
t1 = time.perf_counter()
painted = {}

class Timed(ChatApp):
    def on_mount(self):
        super().on_mount()
        self.call_after_refresh(lambda: painted.setdefault("t", time.perf_counter()))

async def main():
    home = Path(tempfile.mkdtemp())
    app = Timed("vibethinker-1.5b", history=History(home / "h.sqlite3"),
                loader=lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no load")))
    async with app.run_test(size=(100, 30)) as pilot:
        while "t" not in painted:
            await pilot.pause(0.001)
asyncio.run(main())
print(json.dumps({"import_s": t1 - t0, "paint_s": painted["t"] - t0}))
"""


def tokens(n: int, math: bool = False) -> list[str]:
    """n word-sized pieces of a reply mixing prose, a code block and a list (or math)."""
    import re

    unit = MATH if math else PROSE * 3 + "\n\n" + CODE + LIST
    pieces = re.findall(r"\s*\S+|\s+", unit)
    out: list[str] = []
    while len(out) < n:
        out += pieces
    return out[:n]


class PacedEngine:
    """Yields one answer token at a time, waiting (if paced) until the UI has taken it."""

    def __init__(self, pieces: list[str], paced: bool):
        from fixtures.scripted_engine import INFO, STATS

        self.pieces, self.paced = pieces, paced
        self.info, self.stats, self.template, self.sampling = INFO, STATS, None, None
        self.app = None
        self.taken: list[float] = []

    def stream(self, messages, **overrides):
        from vibe_local.generation import Done
        from vibe_local.reasoning import AnswerDelta

        reply = self.app.reply
        for piece in self.pieces:
            yield AnswerDelta(piece)
            while self.paced and reply.pending:
                time.sleep(0.0002)
            self.taken.append(time.perf_counter())
        yield Done(self.stats)

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


async def stream_once(n: int, paced: bool, math: bool = False, raw: bool = False) -> dict:
    from fixtures.tui_app import SIZE, loaded, make_app, send, until

    engine = PacedEngine(tokens(n, math), paced)
    home = Path(tempfile.mkdtemp())
    app = make_app("bench", home / "history.sqlite3", loader=lambda *a, **k: engine)
    engine.app = app
    app.render_math = not raw
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        started = time.perf_counter()
        await send(pilot, app, "Explain sums.", wait=False)
        await until(pilot, lambda: app.state == "ready", "the reply", timeout_s=3600)
        ended = time.perf_counter()
        assert app.reply.answer == "".join(engine.pieces)
    return {"taken": engine.taken, "started": started, "ended": ended}


def per_token_ms(taken: list[float], first: int, last: int) -> tuple[float, float]:
    head = (taken[first - 1] - taken[0]) / (first - 1)
    tail = (taken[-1] - taken[-last]) / (last - 1)
    return head * 1e3, tail * 1e3


def windows_ms(taken: list[float], window: int) -> list[float]:
    return [(taken[i + window - 1] - taken[i]) / (window - 1) * 1e3
            for i in range(0, len(taken) - window + 1, window)]


def renderer_us(pieces: list[str], window: int) -> list[float]:
    """CPU time of the math renderer alone (MathStream.feed) per token, per window: the part
    of the UI's cost that --math adds, without the screen's noise."""
    from vibe_local.render import MARKDOWN, MathStream

    stream, spent = MathStream(MARKDOWN), []
    for piece in pieces:
        start = time.thread_time()
        stream.feed(piece)
        spent.append(time.thread_time() - start)
    return [sum(spent[i:i + window]) / window * 1e6 for i in range(0, len(spent), window)]


def first_paint(runs: int) -> dict:
    results = []
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _FIRST_PAINT], capture_output=True,
                             text=True, check=True, cwd=ROOT)
        wall = time.perf_counter() - t
        results.append({**json.loads(out.stdout.strip().splitlines()[-1]), "wall_s": wall})
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--paint-runs", type=int, default=3)
    parser.add_argument("--math", action="store_true",
                        help="stream a math-heavy reply (LaTeX rendered while it streams)")
    parser.add_argument("--raw", action="store_true",
                        help="show the reply raw (math not rendered), to measure the renderer")
    args = parser.parse_args()
    kind = ("math-heavy" if args.math else "prose/code/list") + (" raw" if args.raw else "")

    paint = first_paint(args.paint_runs)
    print(f"first paint: {paint['paint_s'] * 1e3:.0f} ms after the script starts "
          f"(import of the chat UI {paint['import_s'] * 1e3:.0f} ms); whole headless run incl. "
          f"interpreter start and exit {paint['wall_s'] * 1e3:.0f} ms "
          f"(median of {args.paint_runs})")

    if args.math and not args.raw:
        us = renderer_us(tokens(args.tokens, math=True), args.window)
        print(f"math renderer alone, µs of CPU per token in each window of {args.window}: "
              + " ".join(f"{x:.1f}" for x in us))

    paced = asyncio.run(stream_once(args.tokens, paced=True, math=args.math, raw=args.raw))
    head, tail = per_token_ms(paced["taken"], args.window, args.window)
    total = paced["ended"] - paced["started"]
    print(f"paced, {args.tokens} {kind} tokens: {args.tokens / total:,.0f} tokens/s through "
          "the UI; "
          f"per token: first {args.window} {head:.3f} ms, last {args.window} {tail:.3f} ms, "
          f"last/first = {tail / head:.2f}")
    print(f"  ms per token in each window of {args.window}: "
          + " ".join(f"{ms:.1f}" for ms in windows_ms(paced["taken"], args.window)))

    fire = asyncio.run(stream_once(args.tokens, paced=False, math=args.math, raw=args.raw))
    total = fire["ended"] - fire["started"]
    print(f"firehose, {args.tokens} {kind} tokens: rendered in {total:.2f} s = "
          f"{args.tokens / total:,.0f} tokens/s (final full render included)")


if __name__ == "__main__":
    main()
