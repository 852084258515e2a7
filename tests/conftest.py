"""Shared fixtures: an isolated user home for every test, and tiny models built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures.qwen2_checkpoint import TinyCheckpoint, TinyQwen2Spec, build_checkpoint  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every user directory at the test's own tmp dir; no test touches the real home."""
    home = tmp_path / "home"
    monkeypatch.setenv("VIBE_LOCAL_HOME", str(home / "vibe-local"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    return home


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> TinyCheckpoint:
    """The default fixture: bf16, two shards, tied embeddings, template in tokenizer_config."""
    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-qwen2", TinyQwen2Spec())


@pytest.fixture(scope="session")
def tiny_f16_gguf(tiny_checkpoint: TinyCheckpoint, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default fixture converted to F16 once for the whole session."""
    from quantize.convert import convert

    out = tmp_path_factory.mktemp("gguf") / "tiny-F16.gguf"
    convert(tiny_checkpoint.path, out, "f16")
    return out
