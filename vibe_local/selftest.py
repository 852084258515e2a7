"""Backend self-test: can this llama.cpp build evaluate K-quant batches with weight repacking?

On some virtual machines llama.cpp's AMX kernels (enabled by weight repacking) die with SIGILL as
soon as a batched prompt is evaluated with a K-quant model (DESIGN.md). A signal cannot be caught
in-process, so a child process evaluates a batch with repacking on; if it dies, repacking stays
off. The verdict is cached per (llama-cpp-python version, CPU flags) in the user data dir.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

from .paths import cache_dir, home_dir

RESULT_FILE = "backend.json"
_CHILD_TIMEOUT_S = 180


@dataclass(frozen=True)
class SelfTestResult:
    """The cached verdict."""

    key: str
    repack_ok: bool
    detail: str
    tested_at: float


def backend_key() -> str:
    """Identity of (llama-cpp-python version, CPU feature flags)."""
    from .hardware import cpu_signature

    digest = hashlib.sha256(cpu_signature().encode()).hexdigest()[:16]
    return f"llama-cpp-python {version('llama-cpp-python')} / cpu {digest}"


def cached_result() -> SelfTestResult | None:
    """The stored verdict if it was made for this build and CPU."""
    file = home_dir() / RESULT_FILE
    try:
        result = SelfTestResult(**json.loads(file.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return result if result.key == backend_key() else None


def repack_allowed() -> bool:
    """Whether models may be loaded with repacking; runs the self-test on first use."""
    result = cached_result() or run_selftest()
    return result.repack_ok


def run_selftest(child_command: list[str] | None = None) -> SelfTestResult:
    """Evaluate a batched prompt with a Q4_K_M model in a child process; cache the verdict.

    Args:
        child_command: what to run instead of the real child (tests use a child that dies).
    """
    command = child_command or [sys.executable, "-m", "vibe_local.selftest", str(selftest_model())]
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=_CHILD_TIMEOUT_S)
        ok = child.returncode == 0
        detail = "batched K-quant evaluation with repacking works" if ok else (
            f"child died with signal {-child.returncode}" if child.returncode < 0
            else f"child failed: {child.stderr.strip().splitlines()[-1:] or child.returncode}"
        )
    except subprocess.TimeoutExpired:
        ok, detail = False, f"child did not finish in {_CHILD_TIMEOUT_S} s"
    result = SelfTestResult(backend_key(), ok, detail, time.time())
    _save(result)
    return result


def _save(result: SelfTestResult) -> None:
    from quantize.atomic import atomic_output

    target = home_dir() / RESULT_FILE
    with atomic_output(target) as temp:
        temp.write_text(json.dumps(asdict(result), indent=2))


def selftest_model() -> Path:
    """A tiny random Qwen2 model in Q4_K_M (built once into the cache dir)."""
    target = cache_dir() / "selftest" / "selftest-Q4_K_M.gguf"
    if target.is_file():
        return target
    from quantize.llama_quantize import quantize_gguf

    master = target.with_name("selftest-F32.gguf")
    _write_f32_model(master)
    quantize_gguf(master, target, "Q4_K_M")
    master.unlink()
    return target


def _write_f32_model(path: Path) -> None:
    """Write a 2-layer Qwen2 GGUF with a 256-token byte vocabulary and random weights."""
    import gguf

    from quantize import qwen2
    from quantize.atomic import atomic_output

    cfg = qwen2.Qwen2Config(n_layer=2, n_embd=256, n_ff=512, n_head=4, n_head_kv=2, n_vocab=256,
                            n_ctx_train=512, rope_theta=1e4, rms_eps=1e-6, tied_embeddings=True,
                            head_dim=64, explicit_head_dim=False, rope_scaling=None)
    rng = np.random.default_rng(0)
    with atomic_output(path) as temp:
        writer = gguf.GGUFWriter(temp, arch=qwen2.ARCH_NAME)
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name("vibe-local self-test")
        qwen2.add_hparams(writer, cfg)
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        _add_byte_vocab(writer)
        for name, shape in _tensor_shapes(cfg).items():
            data = np.ones(shape, np.float32) if name.endswith("norm.weight") else (
                rng.standard_normal(shape).astype(np.float32) * 0.05)
            writer.add_tensor(name, data)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()


def _add_byte_vocab(writer) -> None:
    """GPT-2 style byte tokens; llama.cpp requires at least one merge."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = iter(range(256, 512))
    mapping = {b: chr(b) if b in printable else chr(next(extra)) for b in range(256)}
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list([mapping[b] for b in range(256)])
    writer.add_token_types([1] * 256)
    writer.add_token_merges([f"{mapping[32]} {mapping[116]}"])
    writer.add_eos_token_id(0)


def _tensor_shapes(cfg) -> dict[str, tuple[int, ...]]:
    """GGUF tensor name -> NumPy shape, from the converter's own Qwen2 layout."""
    from quantize import qwen2

    return {qwen2.gguf_tensor_name(name, cfg.n_layer): shape
            for name, shape in qwen2.expected_shapes(cfg, has_lm_head=False).items()}


def _child(model: str) -> None:
    """Runs in the child: load with repacking on and evaluate a 64-token batch."""
    from .backend import open_llama

    llm = open_llama(model, repack=True, n_ctx=128, n_batch=64, n_threads=2)
    llm.eval(list(range(1, 65)))
    llm.close()


if __name__ == "__main__":
    _child(sys.argv[1])
