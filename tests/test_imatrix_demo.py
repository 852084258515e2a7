"""On the demo model, an importance matrix makes the 2-bit files closer to the master.

The imatrix is collected on transcripts of training problems (the model's own kind of text) and
the files are compared on transcripts of held-out problems: mean KL divergence of each file's
next-token distributions from the BF16 master's, through real llama.cpp.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llama_support import llama_logits, mean_kld
from tokenizers import Tokenizer

from quantize.imatrix.make import ImatrixRequest, make_imatrix
from quantize.ladder import build_ladder
from vibe_local.demo.problems import make_problems
from vibe_local.demo.training.evaluate import SETS
from vibe_local.demo.training.tokenizer import EOS_TOKEN, chat_prompt
from vibe_local.demo.training.trace import reply

NANO = Path(__file__).parent.parent / "vibe_local" / "demo" / "vibethinker-nano"
WINDOW = 500  # tokens per evaluated window (the model's context is 512)


def transcripts(held_out: bool, per_kind: int, seed: int) -> str:
    """Question, worked trace and answer of each problem, as the model reads and writes them."""
    return "".join(chat_prompt(p.question) + reply(p) + EOS_TOKEN + "\n"
                   for op, digits in SETS.values()
                   for p in make_problems(seed, per_kind, op=op, digits=digits,
                                          held_out=held_out))


@pytest.fixture(scope="module")
def klds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    work = tmp_path_factory.mktemp("nano-imat")
    build_ladder(NANO, work, "Q2_K", name="nano")
    calibration = work / "train.txt"
    calibration.write_text(transcripts(False, 60, 11), encoding="utf-8")
    make_imatrix(ImatrixRequest(work / "nano-BF16.gguf", work / "nano.imatrix.gguf",
                                str(calibration), chunks=8, threads=2))
    build_ladder(NANO, work, "Q2_K,IQ2_M", name="nano", imatrix=str(work / "nano.imatrix.gguf"))
    ids = Tokenizer.from_file(str(NANO / "tokenizer.json")).encode(transcripts(True, 8, 5)).ids
    windows = [ids[i:i + WINDOW] for i in range(0, len(ids) - WINDOW, WINDOW)][:3]
    reference = [llama_logits(work / "nano-BF16.gguf", w) for w in windows]
    return {quant: float(np.mean([mean_kld(r, llama_logits(work / f"nano-{quant}.gguf", w))
                                  for r, w in zip(reference, windows)]))
            for quant in ("Q2_K", "Q2_K-imat", "IQ2_M-imat")}


def test_imatrix_q2_k_is_closer_to_the_master(klds: dict[str, float]) -> None:
    print("mean KLD from BF16 on held-out traces:", klds)  # shown with pytest -s
    assert klds["Q2_K-imat"] < klds["Q2_K"], klds


def test_iq2_with_imatrix_beats_plain_q2_k(klds: dict[str, float]) -> None:
    assert klds["IQ2_M-imat"] < klds["Q2_K"], klds
