"""Shared fixtures: an isolated user home for every test, and tiny models built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hub_fixtures import fake_hf, point_hf_at, set_hf_offline  # noqa: E402, F401  (fixture)

from fixtures.qwen2_checkpoint import TinyCheckpoint, TinyQwen2Spec, build_checkpoint  # noqa: E402

# Nothing listens here: a test that forgets the fake Hub fails fast instead of going online.
_NO_HUB = "http://127.0.0.1:9"


@pytest.fixture(scope="session")
def backend_verdict(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the real backend self-test once per session; tests reuse its cached verdict."""
    import os

    from vibe_local import selftest

    home = tmp_path_factory.mktemp("selftest-home")
    previous = os.environ.get("VIBE_LOCAL_HOME")
    os.environ["VIBE_LOCAL_HOME"] = str(home)
    try:
        selftest.run_selftest()
    finally:
        if previous is None:
            del os.environ["VIBE_LOCAL_HOME"]
        else:
            os.environ["VIBE_LOCAL_HOME"] = previous
    return home / selftest.RESULT_FILE


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every user directory at the test's own tmp dir; no test touches the real home.

    The Hugging Face client is made offline and pointed at a dead local endpoint, in its
    import-time constants too (see hub_fixtures); the `fake_hf` fixture re-points it.
    """
    home = tmp_path / "home"
    monkeypatch.setenv("VIBE_LOCAL_HOME", str(home / "vibe-local"))
    # A fixed machine for the speed prediction: nothing measured, nothing machine-dependent.
    monkeypatch.setenv("VIBE_LOCAL_BANDWIDTH", "20000000000")
    monkeypatch.setenv("VIBE_LOCAL_FLOPS", "200000000000")
    # A quiet machine: cached figures are never re-measured because of the build's own load.
    from vibe_local.bench import bandwidth

    monkeypatch.setattr(bandwidth, "load_per_cpu", lambda: 0.0)
    point_hf_at(monkeypatch, _NO_HUB, home / "hf")
    set_hf_offline(monkeypatch, True)
    return home


@pytest.fixture
def backend_ready(isolated_home: Path, backend_verdict: Path) -> None:
    """Give this test's home the session's self-test verdict, so loading needs no child run."""
    import shutil

    target = isolated_home / "vibe-local" / backend_verdict.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(backend_verdict, target)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> TinyCheckpoint:
    """The default fixture: bf16, two shards, tied embeddings, template in tokenizer_config."""
    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-qwen2", TinyQwen2Spec())


@pytest.fixture(scope="session")
def scripted(tmp_path_factory: pytest.TempPathFactory):
    """A real GGUF that follows a next-token script (see fixtures/scripted_model.py)."""
    from fixtures.scripted_model import build_standard_scripted_model

    return build_standard_scripted_model(tmp_path_factory.mktemp("scripted"))


@pytest.fixture(scope="session")
def ladder_dir(tiny_checkpoint: TinyCheckpoint, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default ladder of the default fixture, built once."""
    from quantize.ladder import build_ladder

    out = tmp_path_factory.mktemp("ladder")
    build_ladder(tiny_checkpoint.path, out, name="tiny")
    return out


@pytest.fixture(scope="session")
def tiny_f16_gguf(tiny_checkpoint: TinyCheckpoint,
                  tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default fixture converted to F16 once for the whole session."""
    from quantize.convert import convert

    out = tmp_path_factory.mktemp("gguf") / "tiny-F16.gguf"
    convert(tiny_checkpoint.path, out, "f16")
    return out
