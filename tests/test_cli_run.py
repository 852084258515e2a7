"""`vibe-local run` and `vibe-local fit` as a user runs them, including every bad input."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from fixtures.scripted_model import ScriptedModel
from vibe_local.cli import main


@pytest.fixture(autouse=True)
def _backend(backend_ready, monkeypatch) -> None:
    """Loading goes through the cached self-test verdict; stdin is an empty pipe."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


def _run(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_prints_thinking_then_answer_as_plain_text(capsys, scripted: ScriptedModel) -> None:
    code, out, err = _run(capsys, "run", "-m", str(scripted.gguf), "What is 1 + 1?")
    assert code == 0, err
    assert out == "<think>\n think about the problem\n</think>\n\nanswer two\n"
    assert "\033[" not in out  # no terminal colours when stdout is not a terminal


def test_run_can_hide_thinking(capsys, scripted: ScriptedModel) -> None:
    code, out, _ = _run(capsys, "run", "-m", str(scripted.gguf), "--hide-thinking", "q")
    assert code == 0 and out == "answer two\n"


def test_run_json(capsys, scripted: ScriptedModel) -> None:
    code, out, _ = _run(capsys, "run", "-m", str(scripted.gguf), "--json", "--seed", "5", "q")
    data = json.loads(out)
    assert code == 0
    assert data["thinking"] == " think about the problem" and data["answer"] == "answer two"
    assert data["quant"] == "F32" and data["model"] == str(scripted.gguf)
    stats = data["stats"]
    assert stats["seed"] == 5 and stats["finish_reason"] == "stop"
    assert stats["completion_tokens"] == 9 and stats["generation_tokens_per_s"] > 0


def test_run_no_speculate(capsys, scripted: ScriptedModel) -> None:
    """The prompt holds the thinking's words, so drafts come from it; --no-speculate: none."""
    prompt = "Please think about the problem first."
    replies = {}
    for flags in ((), ("--no-speculate",)):
        code, out, err = _run(capsys, "run", "-m", str(scripted.gguf), "--json", *flags, prompt)
        assert code == 0, err
        replies[flags] = json.loads(out)
    on, off = replies[()], replies[("--no-speculate",)]
    assert (on["thinking"], on["answer"]) == (off["thinking"], off["answer"])
    assert on["stats"]["accepted_draft_tokens"] > 0 and off["stats"]["draft_tokens"] == 0


def test_piped_stdin_goes_before_the_prompt(capsys, monkeypatch, ladder_dir: Path) -> None:
    from vibe_local import engine

    seen = []
    original = engine.Model.stream

    def spy(self, messages, **kw):
        seen.append(messages)
        return original(self, messages, **kw)

    monkeypatch.setattr(engine.Model, "stream", spy)
    code, _, err = _run(capsys, "run", "-m", str(ladder_dir), "--max-tokens", "3", "Solve it.",
                        stdin="x = 2 + 3\n", monkeypatch=monkeypatch)
    assert code == 0, err
    assert seen == ["x = 2 + 3\n\nSolve it."]


def test_max_tokens_caps_the_whole_reply(capsys, ladder_dir: Path) -> None:
    code, out, _ = _run(capsys, "run", "-m", str(ladder_dir), "--json", "--max-tokens", "7",
                        "--quant", "Q4_K_M", "hello")
    stats = json.loads(out)["stats"]
    assert code == 0 and stats["completion_tokens"] <= 7
    assert json.loads(out)["quant"] == "Q4_K_M"


def test_fit_json_schema(capsys, ladder_dir: Path) -> None:
    code, out, _ = _run(capsys, "fit", "-m", str(ladder_dir), "--memory", "8GiB", "--gpu",
                        "cuda:6GiB", "--json")
    data = json.loads(out)
    assert code == 0
    assert {"quant", "n_gpu_layers", "ctx", "kv_type", "reason"} <= set(data["choice"])
    assert data["choice"]["quant"] == "BF16" and data["choice"]["n_gpu_layers"] > 0
    assert data["hardware"]["simulated"] == ["memory", "gpu"]
    assert [r["quant"] for r in data["rows"]][0] == "BF16"
    for row in data["rows"]:
        assert {"quant", "weights_bytes", "kv_bytes", "compute_bytes", "total_bytes", "verdict",
                "n_gpu_layers"} <= set(row)
        assert row["total_bytes"] >= row["weights_bytes"] + row["kv_bytes"]


def test_fit_table(capsys, ladder_dir: Path) -> None:
    code, out, _ = _run(capsys, "fit", "-m", str(ladder_dir), "--memory", "8GiB")
    assert code == 0
    assert "Q4_K_M" in out and "verdict" in out and "fits" in out


# --- bad input: one line, non-zero exit, no traceback -----------------------------------------

def _assert_error(code: int, err: str, *words: str) -> None:
    assert code != 0 and "Traceback" not in err
    assert err.startswith("vibe-local: error: ") and len(err.strip().splitlines()) == 1
    for word in words:
        assert word in err


def test_missing_model_file(capsys, tmp_path: Path) -> None:
    code, _, err = _run(capsys, "run", "-m", str(tmp_path / "nope.gguf"), "hi")
    _assert_error(code, err, "no such model")


def test_not_a_gguf_file(capsys, tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_text("hello, I am not a model")
    code, _, err = _run(capsys, "run", "-m", str(bogus), "hi")
    _assert_error(code, err, "not a readable GGUF")


def test_truncated_gguf(capsys, tmp_path: Path, tiny_f16_gguf: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_f16_gguf.read_bytes()[: tiny_f16_gguf.stat().st_size // 2])
    code, _, err = _run(capsys, "run", "-m", str(cut), "hi")
    _assert_error(code, err, "truncated")


def test_model_that_does_not_fit_is_refused_before_loading(capsys, ladder_dir: Path) -> None:
    code, out, err = _run(capsys, "run", "-m", str(ladder_dir), "--memory", "40MiB", "hi")
    _assert_error(code, err, "nothing fits", "Q2_K", "`vibe-local fit` with the same options")
    assert out == ""


def test_empty_prompt(capsys, scripted: ScriptedModel) -> None:
    code, _, err = _run(capsys, "run", "-m", str(scripted.gguf), "   ")
    _assert_error(code, err, "empty")


def test_ctx_above_the_model_maximum(capsys, scripted: ScriptedModel) -> None:
    code, _, err = _run(capsys, "run", "-m", str(scripted.gguf), "--ctx", "100000", "hi")
    _assert_error(code, err, "100,000", "4,096")


def test_unknown_quant(capsys, ladder_dir: Path) -> None:
    code, _, err = _run(capsys, "run", "-m", str(ladder_dir), "--quant", "Q7_X", "hi")
    _assert_error(code, err, "Q7_X", "Q4_K_M", "Q8_0")


def test_ladder_without_manifest(capsys, tmp_path: Path, ladder_dir: Path) -> None:
    copy = Path(shutil.copytree(ladder_dir, tmp_path / "ladder"))
    (copy / "manifest.json").unlink()
    code, _, err = _run(capsys, "fit", "-m", str(copy))
    _assert_error(code, err, "manifest.json")
