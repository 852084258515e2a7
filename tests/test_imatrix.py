"""Importance matrices: the collected statistic against a NumPy forward pass, and the files.

The statistic is the one llama-imatrix collects: for each decoder weight matrix, the per-column
sum of squares of its inputs over every evaluated token, and the number of tokens.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from fixtures.numpy_qwen2 import qwen2_logits
from fixtures.qwen2_checkpoint import TinyQwen2Spec, build_checkpoint
from quantize.convert import convert
from quantize.imatrix.imatrix_file import (
    Imatrix,
    ImatrixEntry,
    ImatrixFileError,
    read_imatrix,
    write_imatrix,
)
from quantize.imatrix.run import RunOptions, collect_imatrix

GGML_TYPE_F32 = 0
FLASH_ATTN_OFF = 0  # the CPU flash-attention kernel rounds through F16; exactness needs it off
N_CTX, N_CHUNKS = 32, 3
HF_TO_GGUF = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
              "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
              "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


def gguf_name(hf_name: str) -> str:
    """model.layers.1.mlp.up_proj.weight -> blk.1.ffn_up.weight"""
    _, _, layer, *rest = hf_name.split(".")
    return f"blk.{layer}.{HF_TO_GGUF['.'.join(rest[:-1])]}.weight"


def numpy_statistics(weights, config, tokens: list[int]) -> dict[str, np.ndarray]:
    """Sums of squares of every decoder matrix's inputs, chunk by chunk from position 0."""
    sums: dict[str, np.ndarray] = {}

    def record(name: str, x: np.ndarray) -> None:
        key = gguf_name(name)
        sums[key] = sums.get(key, 0) + (x * x).sum(axis=0)

    for start in range(0, N_CHUNKS * N_CTX, N_CTX):
        qwen2_logits(weights, config, tokens[start:start + N_CTX], record)
    return sums


@pytest.fixture(scope="module")
def f32_model(tmp_path_factory: pytest.TempPathFactory):
    spec = TinyQwen2Spec(dtype="float32", num_shards=1)
    ckpt = build_checkpoint(tmp_path_factory.mktemp("imat") / "tiny-f32", spec)
    return ckpt, convert(ckpt.path, ckpt.path.parent / "tiny-F32.gguf", "f32").path


def test_statistics_equal_a_numpy_forward_pass(f32_model) -> None:
    ckpt, gguf_path = f32_model
    tokens = [int(t) for t in np.random.default_rng(7).integers(0, 900, N_CHUNKS * N_CTX + 5)]
    options = RunOptions(n_ctx=N_CTX, context_fields={"type_k": GGML_TYPE_F32,
                                                      "type_v": GGML_TYPE_F32,
                                                      "flash_attn_type": FLASH_ATTN_OFF})
    got = collect_imatrix(gguf_path, tokens, dataset="random tokens", options=options)
    config = json.loads((ckpt.path / "config.json").read_text())
    expected = numpy_statistics(ckpt.weights, config, tokens)

    assert set(got.entries) == set(expected)  # 7 matrices x 2 layers, no output matrix
    assert len(expected) == 7 * ckpt.spec.num_hidden_layers
    for name, want in expected.items():
        entry = got.entries[name]
        assert entry.counts.tolist() == [N_CHUNKS * N_CTX], name
        np.testing.assert_allclose(entry.sums[0], want, rtol=1e-4, err_msg=name)
    assert (got.chunk_count, got.chunk_size, got.datasets) == (N_CHUNKS, N_CTX, ["random tokens"])


def test_chunks_limit_and_short_text(f32_model) -> None:
    from quantize.errors import QuantizeError

    _, gguf_path = f32_model
    tokens = list(range(10, 10 + 3 * N_CTX))
    one = collect_imatrix(gguf_path, tokens, dataset="d",
                          options=RunOptions(n_ctx=N_CTX, chunks=1))
    assert one.chunk_count == 1
    assert one.entries["blk.0.attn_q.weight"].counts.tolist() == [N_CTX]
    with pytest.raises(QuantizeError, match="fewer than one chunk"):
        collect_imatrix(gguf_path, tokens[:N_CTX - 1], dataset="d",
                        options=RunOptions(n_ctx=N_CTX))


def _sample_imatrix() -> Imatrix:
    rng = np.random.default_rng(1)
    return Imatrix(
        entries={"blk.0.ffn_up.weight": ImatrixEntry(rng.random((1, 8)) * 100, np.array([64])),
                 "blk.0.attn_q.weight": ImatrixEntry(rng.random((2, 4)), np.array([32, 0]))},
        datasets=["calibration.txt"], chunk_count=2, chunk_size=32)


def test_gguf_round_trip(tmp_path: Path) -> None:
    import gguf

    original = _sample_imatrix()
    path = write_imatrix(original, tmp_path / "m.imatrix.gguf")
    back = read_imatrix(path)
    assert (back.datasets, back.chunk_count, back.chunk_size) == (["calibration.txt"], 2, 32)
    assert set(back.entries) == set(original.entries)
    for name, entry in original.entries.items():
        np.testing.assert_array_equal(back.entries[name].sums, entry.sums.astype(np.float32))
        assert back.entries[name].counts.tolist() == entry.counts.tolist()
    # llama.cpp's layout: F32 [n_cols, n_mat] sums and [1, n_mat] counts, name order
    tensors = gguf.GGUFReader(path).tensors
    assert [t.name for t in tensors] == [
        "blk.0.attn_q.weight.in_sum2", "blk.0.attn_q.weight.counts",
        "blk.0.ffn_up.weight.in_sum2", "blk.0.ffn_up.weight.counts"]
    assert [list(t.shape) for t in tensors] == [[4, 2], [1, 2], [8, 1], [1, 1]]
    assert all(t.tensor_type == gguf.GGMLQuantizationType.F32 for t in tensors)


def test_importance_is_the_mean_square_and_one_where_nothing_was_counted() -> None:
    entry = _sample_imatrix().entries["blk.0.attn_q.weight"]
    importance = entry.importance()
    np.testing.assert_array_equal(importance[:4], (entry.sums[0] / 32).astype(np.float32))
    assert importance[4:].tolist() == [1.0] * 4


def test_legacy_dat_is_read(tmp_path: Path) -> None:
    mean = np.array([0.5, 2.0, 4.5], dtype=np.float32)
    ncall = 10
    name = b"blk.3.ffn_down.weight"
    data = struct.pack("<i", 1) + struct.pack("<i", len(name)) + name
    data += struct.pack("<ii", ncall, 3) + (mean * ncall).astype("<f4").tobytes()
    data += struct.pack("<ii", 7, len(b"wiki.txt")) + b"wiki.txt"
    (tmp_path / "old.dat").write_bytes(data)
    back = read_imatrix(tmp_path / "old.dat")
    assert back.datasets == ["wiki.txt"] and back.chunk_count == 7
    np.testing.assert_allclose(back.entries[name.decode()].importance(), mean, rtol=1e-6)


@pytest.mark.parametrize("content", [b"", b"\x00\x00\x00\x00", b"GGUF\x03\x00\x00", b"\x05\x00"])
def test_unreadable_files_are_one_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad").write_bytes(content)
    with pytest.raises(ImatrixFileError, match="not a readable imatrix"):
        read_imatrix(tmp_path / "bad")


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ImatrixFileError, match="vibe-quantize imatrix"):
        read_imatrix(tmp_path / "nope.gguf")
