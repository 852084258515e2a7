"""`vibe-local demo`: the whole product, offline, on the bundled nano model, in under a minute.

Four steps, each the real thing a user would otherwise run by hand: the ladder is built from the
bundled checkpoint by the quantizer (`vibe-quantize ladder`; cached after the first run), the fit
picks a quant for this machine (`vibe-local fit`), the chosen file answers a few held-out
problems streaming its thinking (`vibe-local run`), and the quality bench shows what each bit
width costs (`vibe-local bench quality --task arithmetic`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

from .problems import Problem, make_problems

MODEL_ID = "vibethinker-nano"
QUALITY_CTX = 256  # chunk length for the KLD pass: the demo model's context is 512 tokens
QUESTION_SEED = 2026  # fixed, so the tour asks the same questions on every machine
# Problems per quant in the quality table: all 150 of the arithmetic task (50 per kind). At the
# accuracies this model reaches (92-100 %) the standard error stays under 2.5 points, and the
# seven quants take about 15 s on 2 cores.
QUALITY_ITEMS = 150


def demo_questions(count: int) -> list[Problem]:
    """One held-out addition, subtraction and multiplication, cycling for larger counts."""
    shapes = [("+", (3, 3)), ("-", (3, 3)), ("*", (2, 1))]
    per_shape = -(-count // len(shapes))
    pools = [make_problems(QUESTION_SEED, per_shape, op=op, digits=digits)
             for op, digits in shapes]
    mixed = [pool[i] for i in range(per_shape) for pool in pools]
    return mixed[:count]


class Tour:
    """Runs the demo's steps, writing to `out` (a terminal gets dimmed thinking)."""

    def __init__(self, out: TextIO, *, questions: int = 3, quality_limit: int = QUALITY_ITEMS,
                 quality: bool = True):
        self.out = out
        self.questions = questions
        self.quality_limit = quality_limit
        self.quality = quality
        self.steps = 4 if quality else 3

    def run(self) -> int:
        started = time.perf_counter()
        path = self._ladder()
        result = self._fit()
        if result.choice is None:
            return 3
        correct = self._ask()
        if self.quality:
            self._quality(path)
        self._say(f"\nDone in {time.perf_counter() - started:.1f} s: {correct}/{self.questions} "
                  "answers right. Next: `vibe-local chat -m vibethinker-nano` to chat with it, "
                  "`vibe-local pull vibethinker-1.5b` for the real model (network needed).")
        return 0

    def _ladder(self) -> Path:
        from quantize.display import format_bytes, text_table

        from ..resolve import resolve

        self._step(1, "the quantization ladder, built from the bundled checkpoint")
        started = time.perf_counter()
        lines: list[str] = []
        resolved = resolve(MODEL_ID, report=lines.append)
        took = time.perf_counter() - started
        self._say(f"built {len(_manifest_files(resolved.path))} files in {took:.1f} s"
                  if lines else "cached from an earlier run")
        table = text_table(("quant", "size"), [(quant, format_bytes(size)) for quant, size
                                               in _manifest_files(resolved.path)], right=(1,))
        self._say("\n".join(f"  {line}" for line in table.splitlines()))
        self._say(f"  in {resolved.path}")
        return resolved.path

    def _fit(self):
        from ..api import fit
        from ..commands.fit import machine_line
        from ..fitting import format_table

        self._step(2, "what fits this machine")
        result = fit(MODEL_ID)
        self._say(machine_line(result.hardware))
        self._say(format_table(result))
        return result

    def _ask(self) -> int:
        from ..api import load
        from ..bench.tasks.answers import extract_number, same_number
        from ..commands.stream_printer import StreamPrinter

        self._step(3, "the chosen quant thinks, then answers")
        correct = 0
        with load(MODEL_ID) as model:
            self._say(f"loaded {model.info.path.name} ({model.info.quant}, context "
                      f"{model.info.ctx:,} tokens)")
            for problem in demo_questions(self.questions):
                self._say(f"\n> {problem.question}")
                printer = StreamPrinter(self.out, hide_thinking=False, quiet=False)
                for event in model.stream(problem.question, seed=0):
                    printer.show(event)
                printer.finish(interrupted=False)
                right = same_number(extract_number("".join(printer.answer)), problem.answer)
                correct += right
                self._say(f"{'right' if right else 'wrong'} (expected {problem.answer})")
        return correct

    def _quality(self, path: Path) -> None:
        from quantize.display import status_line

        from ..bench.quality import run_quality
        from ..bench.quality_report import format_quality_table

        self._step(4, f"what each bit width costs (KLD on the model's own text, accuracy on "
                   f"{self.quality_limit} held-out problems)")
        show, clear = status_line()
        try:
            report = run_quality(path, task="arithmetic", limit=self.quality_limit,
                                 ctx=QUALITY_CTX, progress=show)
        finally:
            clear()
        self._say(format_quality_table(report))

    def _step(self, n: int, title: str) -> None:
        self._say(f"\n[{n}/{self.steps}] {title}")

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def _manifest_files(path: Path) -> list[tuple[str, int]]:
    from quantize.manifest import load_manifest

    manifest = load_manifest(path)
    return [(f.quant, f.bytes) for f in manifest.files] if manifest else []
