"""The Qwen2 architecture (VibeThinker-1.5B and -3B): hyperparameters and tensor layout.

Geometry is read from config.json; tensor names are mapped with the `gguf` package's tensor
name map for MODEL_ARCH.QWEN2, and every tensor's shape is checked against the config before
any data is read, so a bad checkpoint fails in a second, not after an hour of conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gguf

from .checkpoint import Checkpoint
from .errors import CheckpointError, UnsupportedArchitectureError

SUPPORTED_ARCHITECTURES = ("Qwen2ForCausalLM",)
ARCH = gguf.MODEL_ARCH.QWEN2
ARCH_NAME = gguf.MODEL_ARCH_NAMES[ARCH]  # "qwen2"


@dataclass(frozen=True)
class Qwen2Config:
    """The hyperparameters that fix tensor shapes and the GGUF header."""

    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_vocab: int
    n_ctx_train: int
    rope_theta: float
    rms_eps: float
    tied_embeddings: bool
    head_dim: int
    explicit_head_dim: bool  # config.json names head_dim itself (then it is written to GGUF)
    rope_scaling: dict[str, Any] | None

    @classmethod
    def from_hf(cls, config: dict[str, Any]) -> Qwen2Config:
        """Read config.json values; a missing key is a CheckpointError naming it."""

        def need(key: str) -> Any:
            if key not in config:
                raise CheckpointError(f"config.json has no {key!r}")
            return config[key]

        rope = config.get("rope_parameters") or {}
        n_embd, n_head = int(need("hidden_size")), int(need("num_attention_heads"))
        return cls(
            n_layer=int(need("num_hidden_layers")),
            n_embd=n_embd,
            n_ff=int(need("intermediate_size")),
            n_head=n_head,
            n_head_kv=int(config.get("num_key_value_heads") or n_head),
            n_vocab=int(need("vocab_size")),
            n_ctx_train=int(need("max_position_embeddings")),
            rope_theta=float(rope.get("rope_theta", config.get("rope_theta", 10000.0))),
            rms_eps=float(need("rms_norm_eps")),
            tied_embeddings=bool(config.get("tie_word_embeddings", False)),
            head_dim=int(config.get("head_dim") or n_embd // n_head),
            explicit_head_dim=config.get("head_dim") is not None,
            rope_scaling=config.get("rope_scaling") or (rope if "rope_type" in rope else None),
        )


def check_supported(checkpoint: Checkpoint) -> None:
    """Raise UnsupportedArchitectureError unless the checkpoint is a Qwen2 causal LM."""
    if checkpoint.architecture not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedArchitectureError(
            f"architecture {checkpoint.architecture!r} is not supported; "
            f"supported: {', '.join(SUPPORTED_ARCHITECTURES)} (VibeThinker-1.5B / -3B)"
        )


def expected_shapes(cfg: Qwen2Config, has_lm_head: bool) -> dict[str, tuple[int, ...]]:
    """Hugging Face tensor name -> PyTorch shape, for every tensor a Qwen2 checkpoint holds."""
    q_dim, kv_dim = cfg.n_head * cfg.head_dim, cfg.n_head_kv * cfg.head_dim
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (cfg.n_vocab, cfg.n_embd),
        "model.norm.weight": (cfg.n_embd,),
    }
    if has_lm_head:
        shapes["lm_head.weight"] = (cfg.n_vocab, cfg.n_embd)
    for i in range(cfg.n_layer):
        p = f"model.layers.{i}."
        shapes |= {
            p + "input_layernorm.weight": (cfg.n_embd,),
            p + "self_attn.q_proj.weight": (q_dim, cfg.n_embd),
            p + "self_attn.q_proj.bias": (q_dim,),
            p + "self_attn.k_proj.weight": (kv_dim, cfg.n_embd),
            p + "self_attn.k_proj.bias": (kv_dim,),
            p + "self_attn.v_proj.weight": (kv_dim, cfg.n_embd),
            p + "self_attn.v_proj.bias": (kv_dim,),
            p + "self_attn.o_proj.weight": (cfg.n_embd, q_dim),
            p + "post_attention_layernorm.weight": (cfg.n_embd,),
            p + "mlp.gate_proj.weight": (cfg.n_ff, cfg.n_embd),
            p + "mlp.up_proj.weight": (cfg.n_ff, cfg.n_embd),
            p + "mlp.down_proj.weight": (cfg.n_embd, cfg.n_ff),
        }
    return shapes


def check_tensors(checkpoint: Checkpoint, cfg: Qwen2Config) -> list[str]:
    """Check names and shapes against the config; return the tensor names to convert, in order.

    A tied checkpoint normally has no lm_head.weight; if it carries one anyway it is written,
    as llama.cpp's converter does. The order is llama.cpp's: shard by shard, names sorted.

    Raises:
        CheckpointError: a tensor is missing, has the wrong shape, or is not part of Qwen2.
    """
    present = checkpoint.tensors
    if not cfg.tied_embeddings and "lm_head.weight" not in present:
        raise CheckpointError("tensor 'lm_head.weight' is missing (embeddings are not tied)")
    expected = expected_shapes(cfg, has_lm_head="lm_head.weight" in present)
    for name, shape in expected.items():
        if name not in present:
            raise CheckpointError(f"tensor {name!r} is missing from the checkpoint")
        if present[name].shape != shape:
            raise CheckpointError(
                f"tensor {name!r} has shape {list(present[name].shape)}, config.json implies "
                f"{list(shape)}"
            )
    unknown = [n for n in present if n not in expected and not n.endswith(".rotary_emb.inv_freq")]
    if unknown:
        raise CheckpointError(f"unexpected tensor {unknown[0]!r} for Qwen2 ({len(unknown)} in all)")
    names = [n for n in present if n in expected]
    return sorted(names, key=lambda n: (present[n].path.name, n))


def gguf_tensor_name(hf_name: str, n_layer: int) -> str:
    """Map a Hugging Face tensor name to llama.cpp's GGUF name via gguf's tensor map."""
    mapped = gguf.get_tensor_name_map(ARCH, n_layer).get_name(
        hf_name, try_suffixes=(".weight", ".bias")
    )
    if mapped is None:
        raise CheckpointError(f"no GGUF name for tensor {hf_name!r}")
    return mapped


def add_hparams(writer: gguf.GGUFWriter, cfg: Qwen2Config) -> None:
    """Write the architecture keys llama.cpp's Qwen2 loader reads."""
    writer.add_block_count(cfg.n_layer)
    writer.add_context_length(cfg.n_ctx_train)
    writer.add_embedding_length(cfg.n_embd)
    writer.add_feed_forward_length(cfg.n_ff)
    writer.add_head_count(cfg.n_head)
    writer.add_head_count_kv(cfg.n_head_kv)
    _add_rope_scaling(writer, cfg.rope_scaling)
    writer.add_rope_freq_base(cfg.rope_theta)
    writer.add_layer_norm_rms_eps(cfg.rms_eps)
    if cfg.explicit_head_dim:
        writer.add_key_length(cfg.head_dim)
        writer.add_value_length(cfg.head_dim)


def _add_rope_scaling(writer: gguf.GGUFWriter, scaling: dict[str, Any] | None) -> None:
    """Linear and YaRN context extension, the two kinds Qwen2 checkpoints use."""
    if not scaling:
        return
    kind = scaling.get("rope_type", scaling.get("type"))
    factor = scaling.get("factor")
    if factor is None or kind not in ("linear", "yarn"):
        return
    if kind == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(factor)
        return
    writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
    writer.add_rope_scaling_factor(factor)
    writer.add_rope_scaling_orig_ctx_len(scaling["original_max_position_embeddings"])
