"""The ladder: a 16-bit master, llama.cpp quantizations of it, and an honest manifest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
from llama_support import llama_logits, mean_kld

from fixtures.qwen2_checkpoint import TinyCheckpoint, TinyQwen2Spec, build_checkpoint
from quantize.ladder import build_ladder
from quantize.manifest import load_manifest, sha256_file
from quantize.quant_types import DEFAULT_LADDER

BITS_FALLING = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"]


def test_manifest_lists_master_and_default_ladder(
    ladder_dir: Path, tiny_checkpoint: TinyCheckpoint
) -> None:
    manifest = load_manifest(ladder_dir)
    assert manifest is not None
    assert manifest.master == "BF16"  # bf16 source -> lossless BF16 master
    assert [f.quant for f in manifest.files] == ["BF16", *DEFAULT_LADDER]
    assert manifest.architecture == "Qwen2ForCausalLM"
    assert manifest.gguf_architecture == "qwen2"
    assert manifest.source == str(tiny_checkpoint.path.resolve())
    assert manifest.parameters == sum(w.size for w in tiny_checkpoint.weights.values())
    for entry in manifest.files:
        path = ladder_dir / entry.file
        assert entry.file == f"tiny-{entry.quant}.gguf"
        assert entry.bytes == path.stat().st_size
        assert entry.sha256 == sha256_file(path)
        assert entry.ftype == int(gguf.LlamaFileType[f"MOSTLY_{entry.quant}"])
        header = gguf.GGUFReader(path).fields["general.file_type"].contents()
        assert header == entry.ftype


def test_bits_per_weight_fall_along_the_ladder(ladder_dir: Path) -> None:
    manifest = load_manifest(ladder_dir)
    bpw = [manifest.entry(q).bpw for q in ["BF16", *BITS_FALLING]]
    assert bpw == sorted(bpw, reverse=True) and len(set(bpw)) == len(bpw)
    assert 15.9 < bpw[0] < 16.1


def test_kl_divergence_strictly_increases_as_bits_fall(ladder_dir: Path) -> None:
    """Against the master, on a fixed prompt set: Q8_0 < Q6_K < Q5_K_M < Q4_K_M < Q3_K_M < Q2_K."""
    manifest = load_manifest(ladder_dir)
    rng = np.random.default_rng(0)
    prompts = [[int(t) for t in rng.integers(0, 900, 64)] for _ in range(4)]
    reference = [llama_logits(ladder_dir / manifest.entry("BF16").file, p) for p in prompts]
    klds = []
    for quant in BITS_FALLING:
        path = ladder_dir / manifest.entry(quant).file
        klds.append(np.mean([mean_kld(r, llama_logits(path, p))
                             for r, p in zip(reference, prompts)]))
    assert all(a < b for a, b in zip(klds, klds[1:])), dict(zip(BITS_FALLING, klds))
    assert klds[0] > 0


def test_rerun_skips_files_whose_checksum_matches(ladder_dir: Path, tmp_path: Path,
                                                  tiny_checkpoint: TinyCheckpoint) -> None:
    out = tmp_path / "ladder"
    shutil.copytree(ladder_dir, out)
    lines: list[str] = []
    build_ladder(tiny_checkpoint.path, out, name="tiny", report=lines.append)
    assert len(lines) == 7 and all("skipped" in line for line in lines)

    damaged = out / "tiny-Q4_K_M.gguf"
    data = bytearray(damaged.read_bytes())
    data[-100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    lines.clear()
    build_ladder(tiny_checkpoint.path, out, name="tiny", report=lines.append)
    rebuilt = [line for line in lines if "skipped" not in line]
    assert len(rebuilt) == 1 and "Q4_K_M" in rebuilt[0]
    assert sha256_file(damaged) == load_manifest(out).entry("Q4_K_M").sha256

    lines.clear()
    build_ladder(tiny_checkpoint.path, out, ["Q8_0"], name="tiny", force=True,
                 report=lines.append)
    assert len(lines) == 2 and not any("skipped" in line for line in lines)


def test_f32_checkpoint_gets_an_f16_master(tmp_path: Path) -> None:
    ckpt = build_checkpoint(tmp_path / "f32", TinyQwen2Spec(dtype="float32", num_shards=1))
    manifest = build_ladder(ckpt.path, tmp_path / "out", ["Q8_0"])
    assert manifest.master == "F16"
    assert [f.quant for f in manifest.files] == ["F16", "Q8_0"]
    assert manifest.name == "f32"


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    return subprocess.run([sys.executable, "-m", "quantize.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_cli_ladder_keeps_llama_cpp_logs_out_unless_verbose(
    tiny_checkpoint: TinyCheckpoint, tmp_path: Path
) -> None:
    quiet = _cli("ladder", str(tiny_checkpoint.path), "--out", str(tmp_path / "a"),
                 "--types", "q4_k_m")
    assert quiet.returncode == 0, quiet.stderr
    assert "Q4_K_M" in quiet.stdout and "manifest.json" in quiet.stdout
    assert quiet.stderr.count("\n") == 2  # one progress line per step, nothing from llama.cpp
    loud = _cli("ladder", str(tiny_checkpoint.path), "--out", str(tmp_path / "b"),
                "--types", "Q4_K_M", "--verbose")
    assert loud.returncode == 0
    assert "llama_model_quantize" in loud.stderr or "llama_model_loader" in loud.stderr


def test_ladder_from_a_hub_repo_downloads_only_what_conversion_needs(
    fake_hf, tiny_checkpoint: TinyCheckpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub_fixtures import set_hf_offline

    files: dict[str, bytes | Path] = {p.name: p for p in tiny_checkpoint.path.iterdir()}
    files["pytorch_model.bin"] = b"\0" * 4096  # a format we never download
    files["original/consolidated.pth"] = b"\0" * 4096
    commit = fake_hf.add_repo("WeiboAI/Tiny-Qwen2", files)

    manifest = build_ladder("WeiboAI/Tiny-Qwen2", tmp_path / "out", ["Q8_0"])
    assert manifest.source == f"WeiboAI/Tiny-Qwen2@{commit}"
    assert manifest.name == "Tiny-Qwen2"
    assert [f.quant for f in manifest.files] == ["BF16", "Q8_0"]
    fetched = {path.split("/resolve/")[1].split("/", 1)[1]
               for method, path, _ in fake_hf.requests if method == "GET" and "/resolve/" in path}
    assert fetched == {p.name for p in tiny_checkpoint.path.iterdir()}

    # Offline, the cached snapshot still builds the ladder.
    set_hf_offline(monkeypatch, True)
    again = build_ladder("WeiboAI/Tiny-Qwen2", tmp_path / "out2", ["Q8_0"])
    assert again.entry("Q8_0").sha256 == manifest.entry("Q8_0").sha256


def test_unknown_hub_repo_is_a_clear_error(fake_hf, tmp_path: Path, capsys) -> None:
    from quantize.cli import main

    code = main(["ladder", "nobody/no-such-model", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "not found on the Hub" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_offline_without_cache_is_a_clear_error(tmp_path: Path, capsys) -> None:
    from quantize.cli import main

    code = main(["ladder", "WeiboAI/VibeThinker-1.5B", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "not in the local cache" in err


def test_corrupted_download_is_refused_and_evicted(
    fake_hf, tiny_checkpoint: TinyCheckpoint, tmp_path: Path
) -> None:
    from quantize.errors import SourceDownloadError

    files = {p.name: p for p in tiny_checkpoint.path.iterdir()}
    fake_hf.add_repo("WeiboAI/Tiny-Qwen2", files)
    shard = sorted(n for n in files if n.endswith(".safetensors"))[0]
    fake_hf.corrupt("WeiboAI/Tiny-Qwen2", shard)
    with pytest.raises(SourceDownloadError, match="corrupted"):
        build_ladder("WeiboAI/Tiny-Qwen2", tmp_path / "out", ["Q8_0"])
    assert not (tmp_path / "out").exists()
    manifest = build_ladder("WeiboAI/Tiny-Qwen2", tmp_path / "out", ["Q8_0"])  # re-downloaded
    assert manifest.entry("Q8_0") is not None


@pytest.fixture
def hub_repo(fake_hf, tiny_checkpoint: TinyCheckpoint):
    """The tiny checkpoint on the fake Hub; (hub, first safetensors shard name)."""
    files = {p.name: p for p in tiny_checkpoint.path.iterdir()}
    fake_hf.add_repo("WeiboAI/Tiny-Qwen2", files)
    return fake_hf, sorted(n for n in files if n.endswith(".safetensors"))[0]


def _cached(tmp_path: Path, name: str) -> Path:
    """The snapshot entry of `name` in the fake Hub test's huggingface_hub cache."""
    cache = tmp_path / "hf_home" / "hub" / "models--WeiboAI--Tiny-Qwen2"
    return next(cache.glob(f"snapshots/*/{name}"))


def test_metadata_failing_after_the_download_still_checks_the_weights(hub_repo,
                                                                      tmp_path: Path) -> None:
    """The Hub's file list is unreachable after the transfer: each file is checked against the
    checksum the Hub sent with it (the cached blob's name) instead of being accepted."""
    from quantize.errors import SourceDownloadError

    hub, shard = hub_repo
    hub.corrupt("WeiboAI/Tiny-Qwen2", shard)
    hub.fail_metadata("WeiboAI/Tiny-Qwen2")
    with pytest.raises(SourceDownloadError, match="corrupted"):
        build_ladder("WeiboAI/Tiny-Qwen2", tmp_path / "out", ["Q8_0"])
    assert sum(1 for m, p, _ in hub.requests if "blobs=" in p) == 1  # the failed metadata call
    hub.fail_metadata("WeiboAI/Tiny-Qwen2")
    assert build_ladder("WeiboAI/Tiny-Qwen2", tmp_path / "out", ["Q8_0"]).entry("Q8_0")


def test_offline_the_cached_checkpoint_is_still_checked(hub_repo, tmp_path: Path,
                                                        monkeypatch) -> None:
    from hub_fixtures import set_hf_offline

    from quantize.errors import SourceDownloadError

    hub, shard = hub_repo
    build_ladder("WeiboAI/Tiny-Qwen2", tmp_path / "out", ["Q8_0"])
    blob = _cached(tmp_path, shard).resolve()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # bit rot in the cache
    blob.write_bytes(bytes(data))
    set_hf_offline(monkeypatch, True)
    with pytest.raises(SourceDownloadError, match=f"{shard} from WeiboAI/Tiny-Qwen2 is corrupted"):
        build_ladder("WeiboAI/Tiny-Qwen2", tmp_path / "out2", ["Q8_0"])
    assert not blob.exists()  # evicted: the next online run downloads it again


def test_a_cached_file_with_no_checksum_is_refused_and_kept(hub_repo, tmp_path: Path,
                                                            monkeypatch, capsys) -> None:
    """Offline, a cache copy that is not stored under its checksum (a cache without symlinks)
    cannot be checked: refused with what to do, and left where it is."""
    from hub_fixtures import set_hf_offline

    from quantize.cli import main

    hub, shard = hub_repo
    build_ladder("WeiboAI/Tiny-Qwen2", tmp_path / "out", ["Q8_0"])
    entry = _cached(tmp_path, shard)
    data = entry.read_bytes()
    entry.unlink()
    entry.write_bytes(data)  # a plain copy, as huggingface_hub writes where symlinks fail
    set_hf_offline(monkeypatch, True)
    code = main(["ladder", "WeiboAI/Tiny-Qwen2", "--out", str(tmp_path / "out2")])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert code == 1 and len(errors) == 1  # (the rest is huggingface_hub's progress bar)
    assert f"{shard} from WeiboAI/Tiny-Qwen2 cannot be verified" in errors[0]
    assert "online" in errors[0]
    assert entry.read_bytes() == data and not (tmp_path / "out2").exists()
