"""The bundled demo model `vibethinker-nano`: it converts, quantizes, and really does arithmetic.

Run through the real converter, ladder and engine (llama.cpp), as a user's first `vibe-local demo`
would. One conversion and one ladder are shared by the module's tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vibe_local.demo.problems import make_problems
from vibe_local.demo.training.evaluate import SETS, accuracy, boxed_value
from vibe_local.demo.training.tokenizer import CHAT_TEMPLATE, chat_prompt

NANO = Path(__file__).parent.parent / "vibe_local" / "demo" / "vibethinker-nano"
# Enough held-out problems of each kind to tell 95 % from a weaker model, few enough to stay
# quick on 2 cores (the engine runs this model at hundreds of tokens/s).
HELD_OUT = {name: make_problems(7, 40, op=op, digits=digits, held_out=True)
            for name, (op, digits) in SETS.items()}
ADDITIONS = HELD_OUT["add 3+3"]


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from quantize.ladder import build_ladder

    out = tmp_path_factory.mktemp("nano-ladder")
    build_ladder(NANO, out, "BF16,Q8_0,Q4_K_M", name="vibethinker-nano")
    return out


@pytest.fixture(scope="module")
def nano_bf16(ladder: Path, backend_verdict: Path, tmp_path_factory: pytest.TempPathFactory):
    import os

    import vibe_local

    # loading needs the session's self-test verdict in the (module-wide) home
    home = tmp_path_factory.mktemp("nano-home")
    (home / backend_verdict.name).write_bytes(backend_verdict.read_bytes())
    previous = os.environ.get("VIBE_LOCAL_HOME")
    os.environ["VIBE_LOCAL_HOME"] = str(home)
    try:
        with vibe_local.load(ladder, quant="BF16", ctx=512, threads=2) as model:
            yield model
    finally:
        if previous is None:
            os.environ.pop("VIBE_LOCAL_HOME", None)
        else:
            os.environ["VIBE_LOCAL_HOME"] = previous


def test_checkpoint_is_small_and_says_what_it_is() -> None:
    total = sum(f.stat().st_size for f in NANO.iterdir())
    assert total <= 20 * 2**20
    config = json.loads((NANO / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"]
    assert config["hidden_size"] % 256 == 0 and config["intermediate_size"] % 256 == 0
    assert "not VibeThinker" in (NANO / "README.md").read_text()


def test_template_matches_the_prompt_trained_on() -> None:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    shipped = json.loads((NANO / "tokenizer_config.json").read_text())["chat_template"]
    assert shipped == CHAT_TEMPLATE
    rendered = Jinja2ChatFormatter(shipped, eos_token="", bos_token="")(
        messages=[{"role": "user", "content": "What is 1 + 2?"}]).prompt
    assert rendered == chat_prompt("What is 1 + 2?")


def test_ladder_has_the_quants(ladder: Path) -> None:
    manifest = json.loads((ladder / "manifest.json").read_text())
    names = json.dumps(manifest)
    for quant in ("BF16", "Q8_0", "Q4_K_M"):
        assert quant in names
    assert len(list(ladder.glob("*.gguf"))) == 3


def test_reply_has_the_promised_shape(nano_bf16) -> None:
    problem = ADDITIONS[0]
    reply = nano_bf16.chat(problem.question, temperature=0, max_tokens=300)
    assert "carry" in reply.thinking and "result:" in reply.thinking
    assert reply.answer.startswith("The answer is \\boxed{")
    assert boxed_value(reply.answer) is not None
    assert reply.stats.finish_reason == "stop"


@pytest.mark.parametrize("kind", list(HELD_OUT))
def test_solves_held_out_problems_of_every_kind(nano_bf16, kind: str) -> None:
    assert accuracy(nano_bf16, HELD_OUT[kind], temperature=0, max_tokens=300) >= 0.95


def test_trace_works_out_the_right_answer() -> None:
    import random

    from vibe_local.demo.problems import Problem
    from vibe_local.demo.training.trace import reply, thinking

    rng = random.Random(0)
    for _ in range(2000):
        op = rng.choice("+-*")
        a, b = rng.randint(0, 9999), rng.randint(0, 9 if op == "*" else 9999)
        problem = Problem(a, op, b) if rng.random() < 0.5 else Problem(b, op, a)
        result = thinking(problem).splitlines()[-1]
        assert result == f"result: {problem.answer}"
        assert boxed_value(reply(problem)) == problem.answer
    assert thinking(Problem(512, "-", 509)).splitlines()[1] == "ones: 2-9-0, borrow 1, so 3"


def test_trace_lines_have_one_width_per_shape() -> None:
    """What makes the trace learnable: a digit the model needs is always the same distance back."""
    from vibe_local.demo.training.trace import thinking

    for op, digits in (("+", (3, 2)), ("-", (3, 3)), ("*", (1, 3))):
        widths: dict[str, set[int]] = {}
        for problem in make_problems(0, 300, op=op, digits=digits, held_out=None):
            for line in thinking(problem).splitlines()[:-1]:
                widths.setdefault(line.split(":")[0], set()).add(len(line))
        assert all(len(found) == 1 for found in widths.values()), (op, digits, widths)
