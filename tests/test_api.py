"""The public Python API: `vibe_local.fit`, `vibe_local.load`, lazy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import vibe_local
from fixtures.scripted_model import ScriptedModel
from vibe_local.errors import DoesNotFitError


def test_import_is_light() -> None:
    """`import vibe_local` must not load llama.cpp (CLI help and fit start instantly)."""
    code = "import sys, vibe_local; print('llama_cpp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fit_and_load_are_the_functions_even_after_submodule_imports() -> None:
    import vibe_local.api  # noqa: F401
    import vibe_local.fitting  # noqa: F401

    assert callable(vibe_local.fit) and callable(vibe_local.load)


def test_fit_returns_the_table_and_a_choice(ladder_dir: Path) -> None:
    result = vibe_local.fit(ladder_dir, memory="4GiB", gpu="none")
    assert result.choice is not None and result.choice.quant == "BF16"
    assert {row["quant"] for row in result.rows} >= {"Q2_K", "Q4_K_M", "Q8_0", "BF16"}
    assert result.hardware.simulated == ("memory", "gpu")


def test_load_and_chat(backend_ready, scripted: ScriptedModel) -> None:
    with vibe_local.load(scripted.gguf) as model:
        reply = model.chat("What is 1 + 1?")
        assert (reply.thinking, reply.answer) == (" think about the problem", "answer two")
        assert str(reply) == "answer two"
        assert model.info.quant == "F32" and model.info.ctx == 4096


def test_does_not_fit_carries_the_fit(ladder_dir: Path) -> None:
    with pytest.raises(DoesNotFitError) as caught:
        vibe_local.load(ladder_dir, memory="40MiB")
    assert caught.value.fit.choice is None
    assert len(caught.value.fit.rows) == 7
