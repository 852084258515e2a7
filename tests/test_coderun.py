"""Which code /run and /test take from an answer, their arguments, the sample parser, and real
runs in the bench's sandbox (bare code, fenced code, stdin, an endless loop killed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vibe_local.coderun import (
    RunLimits,
    RunRequest,
    is_bare_code,
    parse_run,
    pick_code,
    run_code,
    run_report,
)
from vibe_local.errors import InvalidRequestError
from vibe_local.samples import Sample, find_samples, same_output

FAST = RunLimits(timeout_s=2.0)
TWO_BLOCKS = ("First a draft:\n\n```python\nprint('draft')\n```\n\nIn C++:\n\n```cpp\nint main(){}"
              "\n```\n\nFinal:\n\n```py\nprint('final')\n```\n")


def test_pick_code_takes_the_last_python_block_or_block_n() -> None:
    assert pick_code(TWO_BLOCKS, None) == ("print('final')\n", "code block 3")
    assert pick_code(TWO_BLOCKS, 1) == ("print('draft')\n", "code block 1")
    with pytest.raises(InvalidRequestError, match="block 2 is cpp"):
        pick_code(TWO_BLOCKS, 2)
    with pytest.raises(InvalidRequestError, match="3 code block"):
        pick_code(TWO_BLOCKS, 4)


def test_pick_code_takes_a_bare_code_answer_but_not_prose() -> None:
    bare = "n = int(input())\nprint(n * 2)\n"
    assert pick_code(bare, None) == (bare, "the answer (bare code)")
    assert is_bare_code("import sys")
    for prose in ("The answer is 42.", "42", "answer", "x is 3 because of y"):
        assert not is_bare_code(prose)
    with pytest.raises(InvalidRequestError, match="no code"):
        pick_code("The sum is 12.", None)
    with pytest.raises(InvalidRequestError, match="no Python"):
        pick_code("```cpp\nint main(){}\n```", None)


def test_parse_run_reads_block_stdin_and_file(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("3\n1 2 3\n", "utf-8")
    assert parse_run("", tmp_path) == RunRequest(None, None)
    assert parse_run("2", tmp_path) == RunRequest(2, None)
    assert parse_run("2 5 6", tmp_path) == RunRequest(2, "5 6")
    assert parse_run("\n5\n6", tmp_path) == RunRequest(None, "5\n6")
    assert parse_run("hello world\nmore", tmp_path) == RunRequest(None, "hello world\nmore")
    assert parse_run("< in.txt", tmp_path) == RunRequest(None, "3\n1 2 3\n")
    assert parse_run("1 < in.txt", tmp_path) == RunRequest(1, "3\n1 2 3\n")
    with pytest.raises(InvalidRequestError, match="cannot read"):
        parse_run("< missing.txt", tmp_path)
    with pytest.raises(InvalidRequestError, match="from 1"):
        parse_run("0", tmp_path)


QUESTION = """Read n and n numbers; print their sum. Output the answer modulo 10^9+7.

**Sample Input 1**
```
3
1 2 3
```
**Sample Output 1**
```
6
```

Sample Input 2:
1
5
Sample Output 2:
5

In the first sample 1 + 2 + 3 = 6.

Example 3:
Input: 2 10 20
Output: 30
Explanation: 10 + 20.
"""


def test_find_samples_in_the_usual_forms() -> None:
    assert find_samples(QUESTION) == [Sample("3\n1 2 3\n", "6\n"), Sample("1\n5\n", "5\n"),
                                      Sample("2 10 20\n", "30\n")]
    assert find_samples("Write a function that adds two numbers.") == []
    assert find_samples("Input: 3\n") == []  # no output to compare with


def test_outputs_compare_as_a_judge_does() -> None:
    assert same_output("6\n", "6")
    assert same_output("1 2\n3\n", "1 2 3  \n")
    assert not same_output("6\n", "7\n")


def test_run_bare_code_with_stdin() -> None:
    code, label = pick_code("import sys\nprint(sum(map(int, sys.stdin.read().split())))", None)
    result = run_code(code, "1 2 3", FAST)
    assert result.passed and result.stdout_tail == "6\n"
    report = run_report(f"/run {label}", result, FAST)
    assert report.splitlines()[0].startswith("▶ /run the answer (bare code) · exit 0 · ")
    assert "sandbox: " in report and "limits 2 s, 512 MiB" in report
    assert report.splitlines()[-2:] == ["stdout:", "6"]


def test_run_fenced_code_that_fails() -> None:
    code, _ = pick_code("```python\nprint('before')\nraise SystemExit('boom')\n```", None)
    result = run_code(code, None, FAST)
    report = run_report("/run code block 1", result, FAST)
    assert "exit 1" in report and "stdout:\nbefore" in report and "stderr:\nboom" in report


def test_an_endless_loop_is_killed_at_the_limit() -> None:
    limits = RunLimits(timeout_s=1.0)
    result = run_code("while True:\n    pass\n", None, limits)
    assert result.timed_out and not result.passed
    assert 1.0 <= result.elapsed_s < 10
    assert "killed at the 1 s limit" in run_report("/run x", result, limits)


def test_input_without_stdin_gets_end_of_file() -> None:
    result = run_code("input()\n", None, FAST)
    assert not result.passed and "EOFError" in result.stderr_tail


def test_cancel_kills_the_program_before_its_limit() -> None:
    import threading

    cancel, results = threading.Event(), []
    runner = threading.Thread(target=lambda: results.append(
        run_code("print('started', flush=True)\nwhile True:\n    pass\n", None,
                 RunLimits(timeout_s=120.0), cancel)))
    runner.start()
    cancel.set()  # as the chat does when it quits
    runner.join(60)
    assert results, "the run did not end when cancelled"
    assert results[0].killed_by == "SIGKILL" and not results[0].timed_out
