"""The converter is faithful: logits, tokens, metadata and chat template survive conversion."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import gguf
import numpy as np
import pytest
from llama_support import llama_logits
from tokenizers import Tokenizer

from fixtures.numpy_qwen2 import qwen2_logits
from fixtures.qwen2_checkpoint import (
    CHATML_TEMPLATE,
    TOKENIZATION_CORPUS,
    TinyCheckpoint,
    TinyQwen2Spec,
    build_checkpoint,
)
from quantize import safetensors_file
from quantize.convert import convert
from vibe_local.backend import open_llama

PROMPT_IDS = [5, 100, 200, 300, 17, 42, 901, 77, 880, 3, 250, 511, 64, 8, 902, 900]

VARIANTS = {
    "bf16-tied-2shards": TinyQwen2Spec(),
    "f32-untied-1file": TinyQwen2Spec(dtype="float32", tie_word_embeddings=False, num_shards=1),
    "bf16-jinja-3shards-theta1e4": TinyQwen2Spec(
        chat_template_in="jinja", num_shards=3, rope_theta=10_000.0, seed=3
    ),
}


def _reference_logits(ckpt: TinyCheckpoint) -> np.ndarray:
    config = json.loads((ckpt.path / "config.json").read_text())
    return qwen2_logits(ckpt.weights, config, PROMPT_IDS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_f32_gguf_logits_equal_numpy_forward(variant: str, tmp_path: Path) -> None:
    ckpt = build_checkpoint(tmp_path / variant, VARIANTS[variant])
    out = convert(ckpt.path, tmp_path / "model-F32.gguf", "f32").path
    expected = _reference_logits(ckpt)
    got = llama_logits(out, PROMPT_IDS)
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() <= 1e-5 * scale


@pytest.mark.parametrize(("outtype", "rel_tol"), [("f16", 2e-3), ("bf16", 1.5e-2)])
def test_16bit_gguf_logits_within_their_precision(
    tiny_checkpoint: TinyCheckpoint, tmp_path: Path, outtype: str, rel_tol: float
) -> None:
    out = convert(tiny_checkpoint.path, tmp_path / f"m-{outtype}.gguf", outtype).path
    expected = _reference_logits(tiny_checkpoint)
    error = np.abs(llama_logits(out, PROMPT_IDS) - expected).max()
    assert error <= rel_tol * np.abs(expected).max()
    assert error > 0  # really quantized to 16 bits: a zero error would mean we compared F32


def test_llama_cpp_tokenizes_like_the_tokenizers_library(
    tiny_checkpoint: TinyCheckpoint, tiny_f16_gguf: Path
) -> None:
    """Same ids for prose, code, digits, Unicode, whitespace runs and inline special tokens.

    Qwen2's tokenizer.json applies NFC before splitting; llama.cpp has no normalizer step, so
    text is NFC-normalized before it reaches llama.cpp (the runtime does the same).
    """
    reference = Tokenizer.from_file(str(tiny_checkpoint.path / "tokenizer.json"))
    llm = open_llama(tiny_f16_gguf, vocab_only=True)
    try:
        for text in TOKENIZATION_CORPUS:
            expected = reference.encode(text).ids
            nfc = unicodedata.normalize("NFC", text)
            got = llm.tokenize(nfc.encode("utf-8"), add_bos=False, special=True)
            assert got == expected, f"tokenization differs for {text!r}"
            decoded = llm.detokenize(got, special=True).decode("utf-8")
            assert decoded == reference.decode(expected, skip_special_tokens=False)
    finally:
        llm.close()


def _fields(path: Path) -> dict[str, object]:
    reader = gguf.GGUFReader(path)
    return {name: field.contents() for name, field in reader.fields.items()}


def test_tokenizer_metadata_and_vocab_padding(
    tiny_checkpoint: TinyCheckpoint, tiny_f16_gguf: Path
) -> None:
    meta = _fields(tiny_f16_gguf)
    ids = tiny_checkpoint.token_ids
    n_vocab = tiny_checkpoint.spec.vocab_size
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    assert meta["tokenizer.ggml.model"] == "gpt2"
    assert meta["tokenizer.ggml.pre"] == "qwen2"
    assert len(tokens) == len(types) == n_vocab
    tokenizer_json = json.loads((tiny_checkpoint.path / "tokenizer.json").read_text())
    n_real = len(tokenizer_json["model"]["vocab"])
    n_added = 4
    assert tokens[n_real + n_added :] == [f"[PAD{i}]" for i in range(n_real + n_added, n_vocab)]
    assert set(types[n_real + n_added :]) == {gguf.TokenType.UNUSED}
    for special in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        assert tokens[ids[special]] == special
        assert types[ids[special]] == gguf.TokenType.CONTROL
    assert types[tokens.index("<tool_call>")] == gguf.TokenType.USER_DEFINED
    assert meta["tokenizer.ggml.eos_token_id"] == ids["<|im_end|>"]
    assert meta["tokenizer.ggml.padding_token_id"] == ids["<|endoftext|>"]
    assert meta["tokenizer.ggml.bos_token_id"] == ids["<|endoftext|>"]
    assert meta["tokenizer.ggml.add_bos_token"] is False
    assert len(meta["tokenizer.ggml.merges"]) > 0


def test_architecture_metadata_comes_from_config(
    tiny_checkpoint: TinyCheckpoint, tiny_f16_gguf: Path
) -> None:
    meta = _fields(tiny_f16_gguf)
    spec = tiny_checkpoint.spec
    assert meta["general.architecture"] == "qwen2"
    assert meta["general.file_type"] == gguf.LlamaFileType.MOSTLY_F16
    assert meta["qwen2.block_count"] == spec.num_hidden_layers
    assert meta["qwen2.embedding_length"] == spec.hidden_size
    assert meta["qwen2.feed_forward_length"] == spec.intermediate_size
    assert meta["qwen2.attention.head_count"] == spec.num_attention_heads
    assert meta["qwen2.attention.head_count_kv"] == spec.num_key_value_heads
    assert meta["qwen2.context_length"] == spec.max_position_embeddings
    assert meta["qwen2.rope.freq_base"] == pytest.approx(spec.rope_theta)
    assert meta["qwen2.attention.layer_norm_rms_epsilon"] == pytest.approx(spec.rms_norm_eps)


def test_tensor_types_follow_llama_cpp_rules(tiny_f16_gguf: Path) -> None:
    """1-D tensors and norms stay F32; matrices take the output type; tied: no output.weight."""
    tensors = {t.name: t for t in gguf.GGUFReader(tiny_f16_gguf).tensors}
    assert "output.weight" not in tensors
    for name, tensor in tensors.items():
        one_dim = len([d for d in tensor.shape if d > 1]) <= 1
        expected = gguf.GGMLQuantizationType.F32 if one_dim else gguf.GGMLQuantizationType.F16
        assert tensor.tensor_type == expected, name


@pytest.mark.parametrize("where", ["tokenizer_config", "jinja"])
def test_chat_template_from_gguf_renders_chatml(tmp_path: Path, where: str) -> None:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    ckpt = build_checkpoint(tmp_path / "ckpt", TinyQwen2Spec(chat_template_in=where))
    out = convert(ckpt.path, tmp_path / "m.gguf", "f16").path
    llm = open_llama(out, vocab_only=True)
    try:
        template = llm.metadata["tokenizer.chat_template"]
        assert template == CHATML_TEMPLATE
        formatter = Jinja2ChatFormatter(template, eos_token="<|im_end|>", bos_token="")
        messages = [{"role": "user", "content": "What is 2 + 3?"}]
        prompt = formatter(messages=messages).prompt
        assert prompt == (
            "<|im_start|>system\nPlease reason step by step, and put your final answer within "
            "\\boxed{}.<|im_end|>\n<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n"
            "<|im_start|>assistant\n"
        )
        ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        assert ids[0] == ckpt.token_ids["<|im_start|>"]
        assert ids.count(ckpt.token_ids["<|im_end|>"]) == 2
    finally:
        llm.close()


def test_output_does_not_depend_on_chunk_size(
    tiny_checkpoint: TinyCheckpoint, tiny_f16_gguf: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tensors are streamed in chunks; odd chunk boundaries must not change a byte."""
    monkeypatch.setattr(safetensors_file, "_CHUNK_BYTES", 4098)
    small_chunks = convert(tiny_checkpoint.path, tmp_path / "chunked.gguf", "f16").path
    assert small_chunks.read_bytes() == tiny_f16_gguf.read_bytes()


def test_conversion_is_deterministic_and_atomic(
    tiny_checkpoint: TinyCheckpoint, tiny_f16_gguf: Path, tmp_path: Path
) -> None:
    again = convert(tiny_checkpoint.path, tmp_path / "again.gguf", "f16")
    assert again.path.read_bytes() == tiny_f16_gguf.read_bytes()
    assert again.n_parameters == sum(w.size for w in tiny_checkpoint.weights.values())
    assert [p.name for p in tmp_path.iterdir()] == ["again.gguf"]  # no temporary left
