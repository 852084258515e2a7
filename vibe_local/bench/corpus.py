"""The text the quality bench scores: a file the user names, or one the reference model writes.

The default works offline and in-distribution: the reference model answers a dozen short math,
arithmetic and code questions (some drawn from the demo model's curriculum) with VibeThinker's
sampling and a fixed seed, going round the set until the text is long enough. The text is
question + thinking + answer of each reply, cached in home_dir()/bench/ per reference file, so
every later bench of that model scores the same text without generating it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from ..errors import InvalidRequestError
from ..paths import home_dir

QUESTIONS = (
    "What is the sum of the first 20 positive integers?",
    "Solve for x: 3x + 7 = 22.",
    "Write a Python function that returns the n-th Fibonacci number.",
    "How many prime numbers are there below 50?",
    "What is the remainder when 2^10 is divided by 7?",
    "Write a Python function that checks whether a string is a palindrome.",
    "A rectangle has perimeter 30 and area 56. What are its side lengths?",
    "What is the derivative of x^3 + 2x?",
)
CORPUS_VERSION = 1  # bump when the questions or the way replies are joined change
REPLY_CAP = 768  # new tokens per reply: long enough to reason, short enough to stay quick
MAX_ROUNDS = 16

Progress = Callable[[str], None]


def questions() -> list[str]:
    """The fixed prompt set: the questions above and four from the demo model's curriculum."""
    from ..demo.problems import make_problems

    drawn = [p.question for op in ("+", "-", "*")
             for p in make_problems(0, 2 if op == "+" else 1, op=op,
                                    digits=(2, 2) if op == "*" else (3, 3))]
    return list(QUESTIONS) + drawn


def read_corpus(path: str | Path) -> str:
    """The text of a user-given corpus file.

    Raises:
        InvalidRequestError: missing, unreadable, not UTF-8, or empty.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")  # no newline translation: score the file as is
    except FileNotFoundError:
        raise InvalidRequestError(f"no such corpus file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"cannot read corpus file {path}: {exc}") from None
    if not text.strip():
        raise InvalidRequestError(f"the corpus file {path} is empty; give a text of at "
                                  "least one context length (512 tokens by default)")
    return text


def generated_corpus(reference: Path, target_tokens: int, *, seed: int = 0,
                     threads: int | None = None, progress: Progress | None = None) -> str:
    """Text the reference model writes for the fixed questions, at least `target_tokens` long.

    Cached per (reference file, target, seed); going round the questions stops after
    MAX_ROUNDS rounds even if the text is still short (a model that answers in a few tokens).
    """
    from .fidelity import file_identity

    key = json.dumps([file_identity(reference), target_tokens, seed, REPLY_CAP, CORPUS_VERSION])
    file = home_dir() / "bench" / f"corpus-{hashlib.sha256(key.encode()).hexdigest()[:20]}.txt"
    if file.is_file():
        return file.read_bytes().decode("utf-8")
    text = _generate(reference, target_tokens, seed, threads, progress)
    from quantize.atomic import atomic_output

    with atomic_output(file) as temp:
        temp.write_bytes(text.encode("utf-8"))  # bytes: a "\r" must read back unchanged
    return text


def _generate(reference: Path, target_tokens: int, seed: int, threads: int | None,
              progress: Progress | None) -> str:
    from ..api import load

    prompts = questions()
    pieces: list[str] = []
    total = 0
    # A margin over the target: a reply's tokens retokenize to slightly different counts.
    goal = int(target_tokens * 1.05) + 16
    from ..gguf_info import read_geometry

    # A model trained on short contexts (the demo model: 512) gets replies that fit its window.
    ctx = min(REPLY_CAP + 256, read_geometry(reference).n_ctx_train)
    cap = min(REPLY_CAP, ctx // 2)
    with load(reference, ctx=ctx, threads=threads) as model:
        for n in range(MAX_ROUNDS * len(prompts)):
            question = prompts[n % len(prompts)]
            reply = model.chat(question, seed=seed + n, max_tokens=cap)
            pieces.append("\n\n".join(p.strip() for p in (question, reply.thinking, reply.answer)
                                      if p.strip()))
            total += reply.stats.completion_tokens + len(question) // 4
            if progress is not None:
                progress(f"corpus: reply {n + 1}, ~{min(total, goal):,}/{goal:,} tokens")
            if total >= goal:
                break
    return "\n\n".join(pieces) + "\n"
