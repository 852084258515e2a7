"""`vibe-local demo` and the bundled catalogue model, offline, as a newcomer runs them."""

from __future__ import annotations

import io

import pytest

from quantize.manifest import load_manifest
from vibe_local.catalog import get_entry
from vibe_local.cli import main
from vibe_local.demo.tour import demo_questions
from vibe_local.resolve import resolve


@pytest.fixture(autouse=True)
def _offline(backend_ready, monkeypatch) -> None:
    """No network at all (conftest already points the Hub at a dead port); stdin is a pipe."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


def test_bundled_model_is_built_on_first_use_then_reused() -> None:
    entry = get_entry("vibethinker-nano")
    first = resolve("vibethinker-nano")
    manifest = load_manifest(first.path)
    assert [f.quant for f in manifest.files] == list(entry.ladder)
    stamps = {f.file: (first.path / f.file).stat().st_mtime_ns for f in manifest.files}
    again = resolve("vibethinker-nano:Q4_K_M")
    assert again.path == first.path and again.quant == "Q4_K_M"
    assert {f: (first.path / f).stat().st_mtime_ns for f in stamps} == stamps  # not rebuilt


def test_pull_and_list_the_bundled_model(capsys) -> None:
    assert main(["pull", "vibethinker-nano"]) == 0
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "vibethinker-nano" in out and "Q2_K" in out and "BF16" in out


def test_demo_runs_offline_end_to_end(capsys) -> None:
    code = main(["demo", "--questions", "2", "--quality-limit", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "[1/4] the quantization ladder" in out and "built 7 files" in out
    assert "[2/4] what fits this machine" in out and "verdict" in out and "machine:" in out
    for problem in demo_questions(2):
        assert f"> {problem.question}" in out
        assert f"(expected {problem.answer})" in out
    assert "<think>" in out and "</think>" in out  # thinking streamed, kept apart (piped)
    quality = out.split("[4/4]")[1]
    for quant in get_entry("vibethinker-nano").ladder:
        assert quant in quality
    assert "KLD is exact" in quality and "accuracy" in quality
    assert "Done in" in out


def test_second_demo_run_uses_the_cached_ladder(capsys) -> None:
    assert main(["demo", "--questions", "0", "--no-quality"]) == 0
    capsys.readouterr()
    assert main(["demo", "--questions", "0", "--no-quality"]) == 0
    assert "cached from an earlier run" in capsys.readouterr().out


def test_demo_questions_are_held_out_and_mixed() -> None:
    questions = demo_questions(6)
    assert all(q.held_out for q in questions)
    assert [q.op for q in questions[:3]] == ["+", "-", "*"]
    assert demo_questions(6) == questions


def test_bad_demo_arguments_are_one_line_errors(capsys) -> None:
    assert main(["demo", "--quality-limit", "0"]) == 1
    assert "vibe-local: error:" in capsys.readouterr().err
