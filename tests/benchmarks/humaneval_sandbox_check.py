"""Benchmark: every HumanEval reference solution through our assembly and sandbox.

Each of the 164 canonical solutions is judged in the reply shapes the task accepts (the body
only, the whole function with the prompt's imports, the body without indentation), plus a wrong
body (`return None`) per problem, by `HumanEvalTask.judge` — the same path a model's reply
takes. Prints pass counts (all references should pass, every wrong body fail), the isolation the
sandbox used, and the wall time per program against a bare `python -c pass` child.

    uv run python tests/benchmarks/humaneval_sandbox_check.py [--limit N]

Not a test: it takes a few minutes on a small machine, and times are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import textwrap
import time

from vibe_local.bench.tasks import get_task


def _block(code: str) -> str:
    return f"```python\n{code}```"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    task = get_task("humaneval")
    shapes = {"body": lambda p: p["canonical_solution"],
              "whole function": lambda p: p["prompt"] + p["canonical_solution"],
              "unindented body": lambda p: textwrap.dedent(p["canonical_solution"]),
              "wrong body": lambda p: "    return None\n"}
    passed = dict.fromkeys(shapes, 0)
    times: list[float] = []
    isolations: set[str] = set()
    items = task.items(args.limit)
    for item in items:
        for shape, make in shapes.items():
            started = time.perf_counter()
            judged = task.judge(item, _block(make(item.reference)), "")
            times.append(time.perf_counter() - started)
            passed[shape] += judged.correct
            isolations.add(judged.isolation or "none")
    bare = []
    for _ in range(20):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
        bare.append(time.perf_counter() - started)
    for shape, count in passed.items():
        print(f"{shape:>16}: {count}/{len(items)} passed")
    print(f"isolation: {', '.join(sorted(isolations))}")
    print(f"per program: median {statistics.median(times) * 1000:.0f} ms "
          f"(bare python -I -S child: {statistics.median(bare) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
