"""One resident copy of the weights: with repacking, `open_llama` reads the file instead of
mapping it (else the mapped pages of the repacked weights stay resident next to the repacked
copy), and the memory fit stays honest about the RSS of a model loaded as the runtime loads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.fit_accuracy import measure

from fixtures.qwen2_checkpoint import TinyQwen2Spec, build_checkpoint
from vibe_local import backend, selftest
from vibe_local.fitting import MIB, RUNTIME_BYTES, estimate
from vibe_local.gguf_info import options_from_path, read_geometry

# Most bytes in the blocks' matrices (which llama.cpp repacks), few in the embeddings.
REPACK_SPEC = TinyQwen2Spec(hidden_size=512, intermediate_size=1536, num_hidden_layers=4,
                            num_attention_heads=8, num_key_value_heads=4, vocab_size=2048,
                            max_position_embeddings=4096, num_shards=1)


@pytest.fixture(scope="module")
def repack_ladder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from quantize.ladder import build_ladder

    root = tmp_path_factory.mktemp("repack")
    ckpt = build_checkpoint(root / "ckpt", REPACK_SPEC)
    build_ladder(ckpt.path, root / "ladder", ["Q4_K_M"], name="repack")
    return root / "ladder"


def _file(ladder: Path, quant: str) -> Path:
    return next(o.path for o in options_from_path(ladder) if o.quant == quant)


@pytest.mark.parametrize("offload", [True, False])
def test_repackable_weights_on_the_cpu(ladder_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                       offload: bool) -> None:
    """The decision follows where each weight runs; a build without offload runs all on the CPU."""
    monkeypatch.setattr(backend, "_gpu_offload", lambda: offload)
    monkeypatch.setattr(backend, "repacked_types", lambda: backend.REPACKED_TYPES)  # any CPU
    q4, q8, f16 = (_file(ladder_dir, q) for q in ("Q4_K_M", "Q8_0", "BF16"))
    n_layer = read_geometry(q4).n_layer
    assert backend.may_repack(q4) and backend.may_repack(q8)
    assert not backend.may_repack(f16)  # float weights are never repacked: keep the mapping
    assert backend.may_repack(q4, n_layer) is True  # one block still on the CPU
    for everything in (n_layer + 1, -1):  # only the embedding lookup stays on the CPU
        assert backend.may_repack(q4, everything) is not offload


@pytest.mark.parametrize(("machine", "features", "expected"), [
    ("x86_64", "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | FMA = 1 | REPACK = 1 |",
     {"Q4_0", "Q4_K", "IQ4_NL", "MXFP4"}),
    ("x86_64", "CPU : AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | REPACK = 1 |",
     {"Q4_0", "Q4_K", "IQ4_NL", "MXFP4", "Q2_K"}),
    ("AMD64", "CPU : AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 |",
     {"Q4_0", "Q4_K", "IQ4_NL", "MXFP4", "Q2_K", "Q4_1", "Q8_0", "Q5_K", "Q6_K", "IQ4_XS"}),
    ("x86_64", "CPU : SSE3 = 1 | AVX = 1 | REPACK = 1 |", set()),
    ("aarch64", "CPU : NEON = 1 | ARM_FMA = 1 |", set(backend.REPACKED_TYPES)),
    ("arm64", "", set(backend.REPACKED_TYPES)),
])
def test_repacked_types_follow_the_cpu(machine: str, features: str, expected: set) -> None:
    """On x86 only the types a kernel of this CPU repacks (a Q8_0 file on AVX-512 without AMX
    stays mapped: reading it would cost load time for nothing); elsewhere every repackable one."""
    assert backend.repacked_types(machine, features) == expected


def test_repacked_types_of_this_build_are_a_subset() -> None:
    assert backend.repacked_types() <= backend.REPACKED_TYPES


def _resident_file_bytes(path: Path) -> int | None:
    """Bytes of `path` mapped and resident in this process (Linux smaps; None elsewhere)."""
    try:
        text = Path("/proc/self/smaps").read_text()
    except OSError:
        return None
    total, inside = 0, False
    for line in text.splitlines():
        if "-" in line.split(" ", 1)[0]:  # a mapping's header line: range perms ... path
            inside = line.endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1]) * 1024
    return total


def test_open_llama_reads_the_file_when_it_repacks(ladder_dir: Path, backend_ready) -> None:
    """Through the real backend: read when repacking may apply (none of the file stays
    resident as a mapping), mapped otherwise."""
    q4, f16 = _file(ladder_dir, "Q4_K_M"), _file(ladder_dir, "BF16")
    repack = selftest.repack_allowed()
    cases = [(q4, False, {}, True), (q4, False, {"use_mmap": False}, False)]
    if repack:  # never ask for repacking where the self-test found that it crashes
        cases += [(q4, True, {}, not backend.may_repack(q4)), (f16, True, {}, True),
                  (q4, True, {"use_mmap": True}, True)]
    for path, rp, extra, mapped in cases:
        llm = backend.open_llama(path, repack=rp, n_ctx=64, n_threads=1, **extra)
        try:
            assert backend.is_mapped(llm) is mapped, (path.name, rp, extra)
            if not mapped:  # no page of the file is resident as a mapping
                assert _resident_file_bytes(path) in (0, None), (path.name, rp, extra)
        finally:
            llm.close()


def test_fit_is_honest_about_rss_as_the_runtime_loads(repack_ladder: Path,
                                                      backend_ready) -> None:
    """Peak RSS of a fresh process that loads like `api.load` (repacking as the self-test
    allows) against the estimate: one copy of the weights, not two."""
    path = _file(repack_ladder, "Q4_K_M")
    g = read_geometry(path)
    e = estimate(g, ctx=1024)
    m = measure(path, 1024, n_prompt=520, repack=selftest.repack_allowed())  # a full batch
    assert m["buffers"]["model"] == pytest.approx(e.weights_bytes / MIB, abs=0.01)
    grown, predicted = m["peak"] - m["imported"], e.total_bytes - RUNTIME_BYTES
    assert 0.85 <= grown / predicted <= 1.25, (m, e)  # a few MiB of per-model tables
    assert 0.85 <= m["peak"] / e.total_bytes <= 1.10, (m, e)
