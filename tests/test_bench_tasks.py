"""Bench tasks: answer extraction, the tasks' items and judges, `evaluate` on a real model.

`evaluate` runs the real scripted GGUF (it always answers "answer two"), judged by a tiny task
defined here whose references are words. gsm8k is fetched from the local fake Hub; HumanEval
completions run in the real sandbox.
"""

from __future__ import annotations

import io
import json
import math
import os
import textwrap
from fractions import Fraction
from pathlib import Path

import pytest

from fixtures.scripted_model import ScriptedModel
from vibe_local.backend import open_llama
from vibe_local.bench.accuracy import evaluate, standard_error
from vibe_local.bench.tasks import TASKS, TaskItem, get_task
from vibe_local.bench.tasks.answers import extract_number, format_number, same_number
from vibe_local.demo.problems import Problem
from vibe_local.engine import Model, ModelInfo
from vibe_local.errors import CorruptDownloadError, InvalidRequestError, OfflineError

# ---- answer extraction -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (r"So the total is \boxed{1,234}.", "1234"),
    (r"\boxed{-5}", "-5"),
    (r"\boxed{\$12}", "12"),
    (r"\boxed{12.0}", "12"),
    (r"\boxed{\frac{1}{2}}", "0.5"),
    (r"\boxed{-\dfrac{3}{4}}", "-0.75"),
    (r"\boxed{\frac{1}{3}}", "1/3"),
    (r"\boxed{x = 5}", "5"),
    (r"\boxed{18 \text{ dollars}}", "18"),
    (r"\boxed{\text{{7}}}", "7"),
    (r"\boxed{5\%}", "5"),
    (r"\boxed{1{,}234}", "1234"),
    (r"\boxed{1\,234\,567}", "1234567"),
    (r"\fbox{7}", "7"),
    (r"first \boxed{1}, finally \boxed{2}", "2"),  # the last box
    (r"\boxed{2} and then \boxed{3", "2"),  # an unclosed box is skipped
    (r"\boxed{3} but the last number is 9", "3"),  # a box beats free text
    ("work...\n#### 1,000", "1000"),
    ("#### 7\nmore text 12", "7"),
    ("The answer is 42.", "42"),
    ("It is 3-5 = -2", "-2"),
    ("total: \u22127", "-7"),  # Unicode minus
    ("$1,234.50 in all", "1234.5"),
    ("version v2", None),
    ("no numbers here", None),
    (r"\boxed{}", None),
    ("", None),
])
def test_extract_number(text: str, expected: str | None) -> None:
    assert format_number(extract_number(text)) == expected


def test_numbers_compare_exactly() -> None:
    assert same_number(extract_number(r"\boxed{12.0}"), 12)
    assert same_number(extract_number(r"\boxed{0.50}"), Fraction(1, 2))
    assert same_number(extract_number("1,000"), "1000")
    assert not same_number(extract_number("12.01"), 12)
    assert not same_number(None, 0)


def test_thinking_is_never_read() -> None:
    task = get_task("arithmetic")
    item = task.items(1)[0]
    assert task.score(item, f"\\boxed{{{item.reference}}}", "")
    assert not task.score(item, "", f"\\boxed{{{item.reference}}}")


# ---- task registry and arithmetic --------------------------------------------------------------


def test_unknown_task_or_option_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequestError, match="arithmetic, gsm8k, humaneval"):
        get_task("mmlu")
    with pytest.raises(InvalidRequestError, match="unexpected keyword"):
        get_task("arithmetic", colour="red")
    with pytest.raises(InvalidRequestError, match="at least 1"):
        get_task("arithmetic").items(0)
    assert TASKS == ("arithmetic", "gsm8k", "humaneval")


def test_arithmetic_items_are_deterministic_held_out_and_mixed() -> None:
    items = get_task("arithmetic").items()
    assert items == get_task("arithmetic").items() and len(items) == 150
    assert len({i.id for i in items}) == 150
    ops = []
    for item in items:
        a, op, b = item.prompt.removeprefix("What is ").removesuffix("?").split()
        problem = Problem(int(a), op, int(b))
        assert problem.held_out and item.reference == problem.answer
        assert item.prompt == problem.question
        ops.append(op)
    assert ops[:6] == ["+", "-", "*", "+", "-", "*"]  # a --limit keeps the mix
    assert get_task("arithmetic").items(4) == items[:4]
    assert len(get_task("arithmetic", per_kind=5).items()) == 15
    with pytest.raises(InvalidRequestError, match="fewer"):
        get_task("arithmetic", per_kind=500)  # 2-digit x 1-digit has ~90 held-out problems


def test_arithmetic_scoring() -> None:
    task = get_task("arithmetic")
    item = TaskItem("x", "What is 518 + 371?", 889)
    assert task.judge(item, r"518 + 371 = \boxed{889}", "").correct
    judged = task.judge(item, "It is 888.", "")
    assert not judged.correct and judged.extracted == "888"


# ---- evaluate on the real scripted model --------------------------------------------------------


class WordTask:
    """References are words; the scripted model always answers "answer two"."""

    name = "words"
    source = "test"

    def __init__(self, references: list[str]):
        self._items = [TaskItem(f"w{i}", f"Question {i}?", ref) for i, ref in enumerate(references)]

    def items(self, limit=None):
        return self._items[:limit] if limit else list(self._items)

    def score(self, item, answer, thinking):
        return item.reference in answer.split()


class Recorder:
    """The real model, with each call's options and reply kept for the test to read."""

    def __init__(self, model: Model):
        self.model, self.calls, self.replies = model, [], []

    def chat(self, prompt, **options):
        self.calls.append(options)
        self.replies.append(self.model.chat(prompt, **options))
        return self.replies[-1]


@pytest.fixture
def model(scripted: ScriptedModel, backend_ready) -> Model:
    llm = open_llama(scripted.gguf, n_ctx=256, n_threads=2)
    with Model(llm, ModelInfo(scripted.gguf, "F32", 256, 0, "f16", False)) as loaded:
        yield loaded


def test_evaluate_accuracy_samples_seeds_and_stderr(model: Model) -> None:
    recorder, seen = Recorder(model), []
    task = WordTask(["two", "three", "two"])
    result = evaluate(recorder, task, samples=2, seed=10,
                      progress=lambda done, total: seen.append((done, total)))
    assert result.accuracy == pytest.approx(2 / 3) and result.per_sample == [2 / 3, 2 / 3]
    assert [i.correct for i in result.items] == [2, 0, 2]
    assert [i.passes for i in result.items] == [[True, True], [False, False], [True, True]]
    # sd of per-item means (1, 0, 1) is sqrt(1/3); divided by sqrt(3 items)
    assert result.stderr == pytest.approx(math.sqrt(1 / 3) / math.sqrt(3))
    assert [c["seed"] for c in recorder.calls] == [10, 11] * 3
    assert [r.stats.seed for r in recorder.replies] == [10, 11] * 3
    assert all(c["temperature"] is None for c in recorder.calls)  # the model's own sampling
    assert seen == [(n, 6) for n in range(1, 7)]
    assert result.completion_tokens == sum(r.stats.completion_tokens for r in recorder.replies)
    assert result.n_items == 3 and result.samples == 2 and not result.greedy
    assert result.items[0].finish_reasons == ["stop", "stop"]
    assert json.loads(json.dumps(result.to_dict()))["items"][1]["id"] == "w1"
    assert result.summary() == ("words: 66.7% ± 33.3% over 3 items × 2 sample(s) "
                                "(sampled, seed 10)")


def test_evaluate_greedy_limit_and_think_budget(model: Model) -> None:
    recorder = Recorder(model)
    result = evaluate(recorder, WordTask(["two", "three", "two"]), limit=2, greedy=True,
                      think_budget=2, max_tokens=100)
    assert result.n_items == 2 and result.accuracy == 0.5 and result.greedy
    assert recorder.calls[0] == {"temperature": 0.0, "think_budget": 2, "max_tokens": 100,
                                 "seed": 0}
    assert recorder.replies[0].stats.thinking_closed_by == "budget"
    with pytest.raises(InvalidRequestError, match="greedy"):
        evaluate(model, WordTask(["two"]), greedy=True, samples=2)
    with pytest.raises(InvalidRequestError, match="samples"):
        evaluate(model, WordTask(["two"]), samples=0)


def test_replies_cut_by_max_tokens_or_context_count_as_wrong(model: Model) -> None:
    class AnythingGoes(WordTask):
        def score(self, item, answer, thinking):
            return True

    cut = evaluate(model, AnythingGoes(["two"]), max_tokens=3)
    assert cut.accuracy == 0 and cut.items[0].finish_reasons == ["length"]
    too_long = AnythingGoes(["two"])
    too_long._items = [TaskItem("long", "word " * 300, "two")]
    full = evaluate(model, too_long)
    assert full.accuracy == 0 and full.items[0].finish_reasons == ["context_full"]
    assert evaluate(model, AnythingGoes(["two"])).accuracy == 1  # the control


def test_standard_error_formula() -> None:
    assert standard_error([1.0]) is None
    assert standard_error([1.0, 1.0, 1.0]) == 0
    assert standard_error([1.0, 0.0]) == pytest.approx(0.5)  # sd sqrt(0.5) / sqrt(2)


# ---- gsm8k through the fake Hub -----------------------------------------------------------------

GSM8K_FILE = "main/test-00000-of-00001.parquet"
ROWS = [{"question": "Tom has 3 apples and buys 4 more. How many?",
         "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
        {"question": "A book costs $1,200; two cost?", "answer": "2400\n#### 2,400"},
        {"question": "Temperature drops from 2 by 7?", "answer": "2-7=-5\n#### -5"}]


def _parquet(rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


def test_gsm8k_online_then_offline_from_the_cache(fake_hf, monkeypatch) -> None:
    from hub_fixtures import set_hf_offline

    commit = fake_hf.add_repo("openai/gsm8k", {GSM8K_FILE: _parquet(ROWS)}, repo_type="dataset")
    task = get_task("gsm8k")
    items = task.items()
    assert [i.reference for i in items] == [7, 2400, -5]
    assert [i.id for i in items] == ["gsm8k/0", "gsm8k/1", "gsm8k/2"]
    assert items[0].prompt.startswith(ROWS[0]["question"]) and "\\boxed{}" in items[0].prompt
    assert commit[:12] in task.source
    assert any("/datasets/openai/gsm8k/resolve/" in path for _, path, _ in fake_hf.requests)
    assert task.score(items[1], r"Two books: \boxed{\$2,400}", "")

    fake_hf.stop()
    set_hf_offline(monkeypatch, True)
    assert get_task("gsm8k").items(2) == items[:2]


def test_gsm8k_offline_without_cache_says_what_to_do(monkeypatch) -> None:
    from hub_fixtures import set_hf_offline

    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE is set.*network connection"):
        get_task("gsm8k").items()
    set_hf_offline(monkeypatch, False)  # online, but the Hub (a dead local port) is unreachable
    with pytest.raises(OfflineError, match="cannot download.*127.0.0.1:9"):
        get_task("gsm8k").items()


def test_gsm8k_cache_is_checked_against_the_hub_checksum(fake_hf, monkeypatch) -> None:
    from hub_fixtures import set_hf_offline

    fake_hf.add_repo("openai/gsm8k", {GSM8K_FILE: _parquet(ROWS)}, repo_type="dataset")
    get_task("gsm8k").items()
    blob = next(Path(os.environ["HF_HOME"], "hub").glob(f"datasets--openai--gsm8k/snapshots/*/"
                                                        f"{GSM8K_FILE}")).resolve()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # bit rot after the download (a page, not the footer)
    blob.write_bytes(bytes(data))
    set_hf_offline(monkeypatch, True)
    with pytest.raises(CorruptDownloadError, match="checksum does not match"):
        get_task("gsm8k").items()
    assert not blob.exists()


def test_gsm8k_bad_files_are_reported(fake_hf) -> None:
    fake_hf.add_repo("openai/gsm8k", {GSM8K_FILE: b"not parquet" * 200}, repo_type="dataset")
    with pytest.raises(CorruptDownloadError, match="not GSM8K's parquet") as error:
        get_task("gsm8k").items()
    Path(str(error.value).split(" is not ")[0]).unlink()  # as the message advises
    fake_hf.add_repo("openai/gsm8k", {GSM8K_FILE: _parquet([{"question": "q", "answer": "7"}])},
                     repo_type="dataset")
    with pytest.raises(CorruptDownloadError, match="####"):
        get_task("gsm8k").items()


# ---- humaneval: extraction, assembly, sandboxed judging ----------------------------------------


@pytest.fixture(scope="module")
def humaneval():
    task = get_task("humaneval")
    return task, {item.id: item for item in task.items()}


def _block(code: str, tag: str = "python") -> str:
    return f"Here it is:\n```{tag}\n{code}```\nDone."


def test_humaneval_items_are_chat_instructions(humaneval) -> None:
    task, items = humaneval
    assert len(items) == 164 and task.items(2)[1].id == "HumanEval/1"
    prompt = items["HumanEval/0"].prompt
    assert "```python\nfrom typing import List" in prompt and "whole function" in prompt


def test_humaneval_known_correct_completions_pass(humaneval) -> None:
    task, items = humaneval
    zero, ten = items["HumanEval/0"], items["HumanEval/10"]
    body = zero.reference["canonical_solution"]

    whole = zero.reference["prompt"] + body
    only_def = whole.split("\n\n\n", 1)[1]  # without `from typing import List`
    for answer in (_block(body), _block(whole), _block(only_def), _block(textwrap.dedent(body)),
                   _block(body, tag="")):
        judged = task.judge(zero, answer, "")
        assert judged.correct, (answer, judged)
        assert judged.extracted == "passed" and judged.isolation in ("netns", "socket-guard")
    # HumanEval/10 calls the prompt's own helper (is_palindrome), which the reply leaves out
    make_palindrome = ten.reference["canonical_solution"]
    assert task.judge(ten, _block(make_palindrome), "").correct


def test_humaneval_wrong_or_missing_code_fails(humaneval) -> None:
    task, items = humaneval
    zero = items["HumanEval/0"]
    right = _block(zero.reference["canonical_solution"])
    wrong = _block("    return False\n")
    judged = task.judge(zero, wrong, "")
    assert not judged.correct and judged.extracted == "exit 1: AssertionError"
    assert task.judge(zero, wrong + right, "").correct  # the last block counts
    assert not task.judge(zero, right + wrong, "").correct
    assert task.judge(zero, "I cannot help.", right).extracted == "no code block"  # no thinking
    quick = get_task("humaneval", timeout_s=1)
    endless = quick.judge(zero, _block("    while True:\n        pass\n"), "")
    assert not endless.correct and endless.extracted == "timed out"
