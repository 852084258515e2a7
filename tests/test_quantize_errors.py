"""Bad input: one clear line on stderr, a non-zero exit, and nothing half-written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.qwen2_checkpoint import TinyCheckpoint, TinyQwen2Spec, build_checkpoint
from quantize.cli import main


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


def _assert_clean_failure(code: int, err: str, out_dir: Path, *words: str) -> None:
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vibe-quantize: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]
    leftovers = list(out_dir.iterdir()) if out_dir.exists() else []
    assert leftovers == [], leftovers


@pytest.fixture
def ckpt(tmp_path: Path, tiny_checkpoint: TinyCheckpoint) -> Path:
    """A private copy of the default checkpoint that a test may damage."""
    return Path(shutil.copytree(tiny_checkpoint.path, tmp_path / "ckpt"))


def _convert(capsys, src: Path, out_dir: Path) -> tuple[int, str]:
    return _run(capsys, "convert", str(src), "-o", str(out_dir / "m.gguf"))


def test_source_is_not_a_directory(capsys, tmp_path: Path) -> None:
    code, err = _convert(capsys, tmp_path / "nope", tmp_path / "out")
    _assert_clean_failure(code, err, tmp_path / "out", "not a directory")


def test_no_config_json(capsys, ckpt: Path, tmp_path: Path) -> None:
    (ckpt / "config.json").unlink()
    code, err = _convert(capsys, ckpt, tmp_path / "out")
    _assert_clean_failure(code, err, tmp_path / "out", "config.json")


def test_no_safetensors(capsys, ckpt: Path, tmp_path: Path) -> None:
    for file in [*ckpt.glob("*.safetensors"), ckpt / "model.safetensors.index.json"]:
        file.unlink()
    code, err = _convert(capsys, ckpt, tmp_path / "out")
    _assert_clean_failure(code, err, tmp_path / "out", "safetensors")


def test_unsupported_architecture_names_the_supported_ones(capsys, ckpt: Path,
                                                           tmp_path: Path) -> None:
    config = json.loads((ckpt / "config.json").read_text())
    config["architectures"] = ["LlamaForCausalLM"]
    (ckpt / "config.json").write_text(json.dumps(config))
    code, err = _convert(capsys, ckpt, tmp_path / "out")
    _assert_clean_failure(code, err, tmp_path / "out", "LlamaForCausalLM", "Qwen2ForCausalLM")


def _rewrite_index(ckpt: Path, edit) -> None:
    index = json.loads((ckpt / "model.safetensors.index.json").read_text())
    edit(index["weight_map"])
    (ckpt / "model.safetensors.index.json").write_text(json.dumps(index))


def test_missing_tensor(capsys, tmp_path: Path) -> None:
    spec = TinyQwen2Spec(num_shards=1)
    ckpt = build_checkpoint(tmp_path / "ckpt", spec)
    _drop_tensor(ckpt.path / "model.safetensors", "model.layers.1.mlp.up_proj.weight")
    code, err = _convert(capsys, ckpt.path, tmp_path / "out")
    _assert_clean_failure(code, err, tmp_path / "out", "model.layers.1.mlp.up_proj.weight",
                          "missing")


def test_tensor_with_wrong_shape(capsys, ckpt: Path, tmp_path: Path) -> None:
    config = json.loads((ckpt / "config.json").read_text())
    config["intermediate_size"] = 512
    (ckpt / "config.json").write_text(json.dumps(config))
    code, err = _convert(capsys, ckpt, tmp_path / "out")
    _assert_clean_failure(code, err, tmp_path / "out", "shape")


def test_truncated_safetensors(capsys, ckpt: Path, tmp_path: Path) -> None:
    shard = sorted(ckpt.glob("*.safetensors"))[-1]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    code, err = _convert(capsys, ckpt, tmp_path / "out")
    _assert_clean_failure(code, err, tmp_path / "out", "truncated", shard.name)


def test_garbage_safetensors(capsys, ckpt: Path, tmp_path: Path) -> None:
    shard = sorted(ckpt.glob("*.safetensors"))[0]
    shard.write_bytes(b"this is not a safetensors file at all")
    code, err = _convert(capsys, ckpt, tmp_path / "out")
    _assert_clean_failure(code, err, tmp_path / "out", shard.name)


def test_unknown_quant_type_lists_valid_ones(capsys, ckpt: Path, tmp_path: Path) -> None:
    code, err = _run(capsys, "ladder", str(ckpt), "--out", str(tmp_path / "out"),
                     "--types", "Q4_K_M,Q7_X")
    _assert_clean_failure(code, err, tmp_path / "out", "Q7_X", "Q4_K_M", "Q8_0", "Q2_K")


def _drop_tensor(shard: Path, name: str) -> None:
    """Rewrite a single-file checkpoint without one tensor (header and data)."""
    from fixtures.qwen2_checkpoint import write_safetensors
    from quantize.safetensors_file import read_header

    kept = {}
    for record in read_header(shard):
        if record.name != name:
            raw = record.read().tobytes()
            kept[record.name] = (record.dtype, record.shape, raw)
    write_safetensors(shard, kept)


@pytest.mark.parametrize("disk", ["tmpfs", "file-size-limit"])
def test_disk_full_leaves_nothing_behind(tiny_checkpoint: TinyCheckpoint, tmp_path: Path,
                                         disk: str) -> None:
    """A real full disk (a 1 MiB tmpfs in a private mount namespace, needs `unshare`) and, where
    namespaces are not allowed, the same failure through RLIMIT_FSIZE: the kernel refuses the
    write past 1 MiB (EFBIG) just as a full disk does (ENOSPC)."""
    out_dir = tmp_path / "small-disk"
    out_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    convert = [sys.executable, "-m", "quantize.cli", "convert", str(tiny_checkpoint.path),
               "-o", str(out_dir / "model.gguf")]
    if disk == "tmpfs":
        unshare = shutil.which("unshare")
        if unshare is None or subprocess.run([unshare, "-rm", "true"]).returncode != 0:
            pytest.skip("user and mount namespaces are not available here (the file-size-limit "
                        "case checks the same path)")
        script = (f"mount -t tmpfs -o size=1m tmpfs {out_dir} && {' '.join(convert)}; "
                  f"code=$?; ls -A {out_dir}; exit $code")
        result = subprocess.run([unshare, "-rm", "sh", "-c", script], capture_output=True,
                                text=True, env=env, timeout=120)
        left = result.stdout.strip()  # `ls -A` of the small disk, from inside the namespace
    else:
        resource = pytest.importorskip("resource")  # POSIX only
        limit = (1 << 20, 1 << 20)
        result = subprocess.run(convert, capture_output=True, text=True, env=env, timeout=120,
                                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE,
                                                                      limit))
        left = " ".join(p.name for p in out_dir.iterdir())
    assert result.returncode == 1
    assert "not enough disk space" in result.stderr and "Traceback" not in result.stderr
    assert left == ""  # nothing left behind


def test_a_quantize_struct_without_ftype_is_refused(tiny_f16_gguf: Path, tmp_path: Path,
                                                    monkeypatch) -> None:
    """An undeclared ctypes field is ignored silently: the file would get llama.cpp's default
    type under the name we asked for. Refused instead, nothing written."""
    import ctypes

    import llama_cpp

    from quantize.errors import QuantizeError
    from quantize.llama_quantize import quantize_gguf

    class OldQuantizeParams(ctypes.Structure):
        _fields_ = [("nthread", ctypes.c_int32)]

    monkeypatch.setattr(llama_cpp, "llama_model_quantize_default_params", OldQuantizeParams)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(QuantizeError, match="ftype"):
        quantize_gguf(tiny_f16_gguf, out / "tiny-Q8_0.gguf", "Q8_0")
    assert list(out.iterdir()) == []
