"""`vibe-quantize imatrix`: the command, its calibration choices and its failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantize.cli import main
from quantize.imatrix.calibration import DEFAULT_NAME, default_text, problem_prompts
from quantize.imatrix.imatrix_file import read_imatrix
from quantize.imatrix.make import ImatrixRequest, make_imatrix

SMALL = ("--ctx", "32", "--chunks", "2", "--threads", "2")


def _one_line_error(capsys: pytest.CaptureFixture, code: int, *words: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("vibe-quantize: error: "), err
    for word in words:
        assert word in err[0]


def test_default_calibration_writes_a_file_llama_cpp_reads(
        tiny_f16_gguf: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "tiny.imatrix.gguf"
    assert main(["imatrix", str(tiny_f16_gguf), *SMALL, "-o", str(out)]) == 0
    assert "14 matrices, 2 chunks of 32 tokens" in capsys.readouterr().out
    imatrix = read_imatrix(out)
    assert imatrix.datasets == [DEFAULT_NAME] and imatrix.chunk_count == 2
    assert all(e.counts.tolist() == [64] for e in imatrix.entries.values())


def test_ladder_directory_uses_its_master(ladder_dir: Path, tmp_path: Path) -> None:
    result = make_imatrix(ImatrixRequest(ladder_dir, tmp_path / "m.gguf", n_ctx=32, chunks=1))
    assert len(result.entries) == 14


def test_text_file_and_self_calibration(tiny_f16_gguf: Path, tmp_path: Path) -> None:
    text = tmp_path / "calib.txt"
    text.write_text(default_text(20), encoding="utf-8")
    from_file = make_imatrix(ImatrixRequest(tiny_f16_gguf, tmp_path / "a.gguf", str(text),
                                            chunks=1, n_ctx=32))
    assert from_file.datasets == ["calib.txt"]
    own = make_imatrix(ImatrixRequest(tiny_f16_gguf, tmp_path / "b.gguf", "self", chunks=2,
                                      n_ctx=32))
    assert own.datasets[0].startswith("self: ") and own.chunk_count == 2


def test_default_text_is_the_chat_format_and_fixed() -> None:
    text = default_text()
    assert text == default_text()  # the same on every run and machine
    assert text.count("<|im_start|>assistant\n<think>\n") == text.count("</think>") > 100
    assert "\\boxed{" in text and "```python" in text
    assert problem_prompts(3)[0].endswith("<|im_start|>assistant\n")
    assert problem_prompts(3)[0] not in text  # self's problems are not the default text's


@pytest.mark.parametrize(("args", "words"), [
    (("--ctx", "8"), ("--ctx 8", "16")),
    (("--chunks", "0"), ("--chunks 0",)),
    (("--calibration", "nope.txt"), ("nope.txt", "default")),
    (("--ctx", "100000"), ("fewer than one chunk",)),
])
def test_bad_numbers_and_calibration_are_one_line(
        tiny_f16_gguf: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        args: tuple[str, ...], words: tuple[str, ...]) -> None:
    out = tmp_path / "o" / "x.gguf"
    code = main(["imatrix", str(tiny_f16_gguf), *args, "-o", str(out)])
    _one_line_error(capsys, code, *words)
    assert not (tmp_path / "o").exists()


def test_missing_model_and_directory_output(tmp_path: Path, tiny_f16_gguf: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    code = main(["imatrix", str(tmp_path / "none.gguf"), "-o", str(tmp_path / "x.gguf")])
    _one_line_error(capsys, code, "does not exist")
    code = main(["imatrix", str(tiny_f16_gguf), "-o", str(tmp_path)])
    _one_line_error(capsys, code, "is a directory")
    code = main(["imatrix", str(tmp_path), "-o", str(tmp_path / "x.gguf")])
    _one_line_error(capsys, code, "no ladder master")


def test_interrupted_run_leaves_no_file(tiny_f16_gguf: Path, tmp_path: Path) -> None:
    def interrupt(done: int, total: int, label: str) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "x.gguf"
    with pytest.raises(KeyboardInterrupt):
        make_imatrix(ImatrixRequest(tiny_f16_gguf, out, chunks=2, n_ctx=32), on_chunk=interrupt)
    assert list(tmp_path.iterdir()) == []
