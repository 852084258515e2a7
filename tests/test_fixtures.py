"""Self-checks for the tiny Qwen2 checkpoint builder and the NumPy reference model."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from fixtures.numpy_qwen2 import qwen2_logits
from fixtures.qwen2_checkpoint import (
    CHATML_TEMPLATE,
    TOKENIZATION_CORPUS,
    TinyQwen2Spec,
    bf16_to_float32,
    build_checkpoint,
    round_to_bf16,
)

SPECS = {
    "bf16-2shards-tied": TinyQwen2Spec(),
    "f32-1shard-jinja": TinyQwen2Spec(dtype="float32", num_shards=1, chat_template_in="jinja"),
    "bf16-1shard-untied": TinyQwen2Spec(num_shards=1, tie_word_embeddings=False),
    "f32-3shards-untied": TinyQwen2Spec(dtype="float32", num_shards=3, tie_word_embeddings=False),
}
NP_DTYPES = {"BF16": "<u2", "F32": "<f4"}


def read_safetensors(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Minimal independent reader: (raw header, name -> float32 array)."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0
    header = json.loads(data[8 : 8 + n])
    assert header.pop("__metadata__") == {"format": "pt"}
    base, tensors, expected_begin = 8 + n, {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = info["data_offsets"]
        assert begin == expected_begin
        expected_begin = end
        raw = np.frombuffer(data[base + begin : base + end], dtype=NP_DTYPES[info["dtype"]])
        arr = bf16_to_float32(raw) if info["dtype"] == "BF16" else raw.astype(np.float32)
        tensors[name] = arr.reshape(info["shape"])
    assert base + expected_begin == len(data)
    return header, tensors


def dir_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(params=list(SPECS), scope="module")
def ckpt(request, tmp_path_factory):
    return build_checkpoint(tmp_path_factory.mktemp(request.param), SPECS[request.param])


def test_layout_and_tensors(ckpt):
    spec, path = ckpt.spec, ckpt.path
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"] and config["model_type"] == "qwen2"
    assert config["torch_dtype"] == spec.dtype
    assert config["bos_token_id"] == ckpt.token_ids["<|endoftext|>"]
    assert config["eos_token_id"] == ckpt.token_ids["<|im_end|>"]

    if spec.num_shards == 1:
        files = ["model.safetensors"]
        assert not (path / "model.safetensors.index.json").exists()
    else:
        files = [
            f"model-{i:05d}-of-{spec.num_shards:05d}.safetensors"
            for i in range(1, spec.num_shards + 1)
        ]
        index = json.loads((path / "model.safetensors.index.json").read_text())
        assert sorted(set(index["weight_map"].values())) == files
    loaded, total = {}, 0
    for fname in files:
        header, tensors = read_safetensors(path / fname)
        assert tensors, "empty shard"
        total += sum(i["data_offsets"][1] - i["data_offsets"][0] for i in header.values())
        assert {i["dtype"] for i in header.values()} == {
            "BF16" if spec.dtype == "bfloat16" else "F32"
        }
        if spec.num_shards > 1:
            assert all(index["weight_map"][n] == fname for n in tensors)
        loaded.update(tensors)
    if spec.num_shards > 1:
        assert index["metadata"]["total_size"] == total
        assert set(index["weight_map"]) == set(loaded)

    assert set(loaded) == set(ckpt.weights)
    assert ("lm_head.weight" in loaded) == (not spec.tie_word_embeddings)
    for name, arr in ckpt.weights.items():
        assert arr.dtype == np.float32
        np.testing.assert_array_equal(loaded[name], arr, err_msg=name)
    h, kv = (
        spec.hidden_size,
        spec.num_key_value_heads * spec.hidden_size // spec.num_attention_heads,
    )
    assert loaded["model.embed_tokens.weight"].shape == (spec.vocab_size, h)
    assert loaded["model.layers.0.self_attn.k_proj.weight"].shape == (kv, h)
    assert loaded["model.layers.0.self_attn.v_proj.bias"].shape == (kv,)
    assert "model.layers.0.self_attn.o_proj.bias" not in loaded
    assert loaded["model.layers.1.mlp.down_proj.weight"].shape == (h, spec.intermediate_size)
    assert abs(float(loaded["model.norm.weight"].mean()) - 1.0) < 0.1


def test_tokenizer_and_configs(ckpt):
    spec, path = ckpt.spec, ckpt.path
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    assert tok.get_vocab_size(with_added_tokens=True) < spec.vocab_size
    for token, tid in ckpt.token_ids.items():
        assert tok.token_to_id(token) == tid
    assert list(ckpt.token_ids.values()) == sorted(ckpt.token_ids.values())

    tok_config = json.loads((path / "tokenizer_config.json").read_text())
    decoder = {int(k): v for k, v in tok_config["added_tokens_decoder"].items()}
    assert {decoder[i]["content"]: i for i in decoder if decoder[i]["special"]} == ckpt.token_ids
    assert [v["content"] for v in decoder.values() if not v["special"]] == ["<tool_call>"]
    assert tok_config["eos_token"] == "<|im_end|>" and tok_config["bos_token"] is None
    if spec.chat_template_in == "jinja":
        assert "chat_template" not in tok_config
        assert (path / "chat_template.jinja").read_text() == CHATML_TEMPLATE
    else:
        assert tok_config["chat_template"] == CHATML_TEMPLATE
        assert not (path / "chat_template.jinja").exists()

    gen = json.loads((path / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [ckpt.token_ids["<|im_end|>"], ckpt.token_ids["<|endoftext|>"]]

    enc = tok.encode("<|im_start|>user\nhi<|im_end|>")
    assert enc.ids[0] == ckpt.token_ids["<|im_start|>"]
    assert enc.ids[-1] == ckpt.token_ids["<|im_end|>"]
    for text in TOKENIZATION_CORPUS:
        ids = tok.encode(text).ids
        assert all(0 <= i < spec.vocab_size for i in ids)


def test_numpy_reference_logits(ckpt):
    config = json.loads((ckpt.path / "config.json").read_text())
    ids = [ckpt.token_ids["<|im_start|>"], 5, 300, 17, 899, 42, 42, 7]
    logits = qwen2_logits(ckpt.weights, config, ids)
    assert logits.shape == (len(ids), ckpt.spec.vocab_size) and logits.dtype == np.float64
    assert np.all(np.isfinite(logits))
    assert logits.std() > 1e-3, "logits are degenerate"
    # Causality: a prefix gives the same logits for its own positions.
    np.testing.assert_allclose(
        qwen2_logits(ckpt.weights, config, ids[:3]), logits[:3], rtol=1e-10, atol=1e-12
    )


def test_round_to_bf16_is_nearest_even():
    one_plus = np.array([1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, -2.5], dtype=np.float32)
    out = bf16_to_float32(round_to_bf16(one_plus))
    np.testing.assert_array_equal(
        out, np.array([1.0, 1 + 2**-6, 1 + 2**-7, -2.5], dtype=np.float32)
    )


def test_deterministic_across_builds_and_processes(tmp_path):
    a = build_checkpoint(tmp_path / "a")
    b = build_checkpoint(tmp_path / "b")
    assert dir_digest(a.path) == dir_digest(b.path)
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "from fixtures.qwen2_checkpoint import build_checkpoint;"
        "build_checkpoint(Path(sys.argv[2]))"
    )
    tests_dir = str(Path(__file__).parent)
    subprocess.run([sys.executable, "-c", code, tests_dir, str(tmp_path / "c")], check=True)
    assert dir_digest(tmp_path / "c") == dir_digest(a.path)
