"""Qwen2 decoder in plain torch, parameter names exactly as Hugging Face's `Qwen2ForCausalLM`.

Written out (about a hundred lines) rather than taken from transformers so training needs only
torch; the names match so the state dict is the checkpoint, and the maths matches what llama.cpp
runs for the "qwen2" architecture: RMSNorm, q/k/v with bias, NeoX-style RoPE (rotate halves),
grouped-query attention, SwiGLU MLP, tied embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class NanoConfig:
    vocab_size: int = 512
    hidden_size: int = 256  # multiple of 256: llama.cpp's K-quants need whole 256-blocks per row
    intermediate_size: int = 1024  # also a multiple of 256 (the row length of down_proj)
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    rope_theta: float = 10_000.0
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 512

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(cfg: NanoConfig, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, [length, head_dim], halves repeated (HF's and llama.cpp NeoX layout)."""
    inv_freq = 1.0 / cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2).float() / cfg.head_dim)
    freqs = torch.outer(torch.arange(length).float(), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, cfg: NanoConfig):
        super().__init__()
        self.cfg = cfg
        kv = cfg.num_key_value_heads * cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=True)
        self.k_proj = nn.Linear(cfg.hidden_size, kv, bias=True)
        self.v_proj = nn.Linear(cfg.hidden_size, kv, bias=True)
        self.o_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: list[torch.Tensor] | None = None) -> torch.Tensor:
        """`cache` (decoding): [k, v] of earlier positions, extended in place."""
        batch, length, _ = x.shape
        c = self.cfg

        def heads(t: torch.Tensor, n: int) -> torch.Tensor:
            return t.view(batch, length, n, c.head_dim).transpose(1, 2)

        q = apply_rope(heads(self.q_proj(x), c.num_attention_heads), cos, sin)
        k = apply_rope(heads(self.k_proj(x), c.num_key_value_heads), cos, sin)
        v = heads(self.v_proj(x), c.num_key_value_heads)
        if cache is not None:
            if cache:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        # one new query sees every cached key; a chunk from position 0 is plain causal
        causal = k.shape[2] == length
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, -1))


class MLP(nn.Module):
    def __init__(self, cfg: NanoConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg: NanoConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: list[torch.Tensor] | None = None) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    def __init__(self, cfg: NanoConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class NanoQwen2(nn.Module):
    """Causal LM; `state_dict()` keys are the checkpoint's tensor names (lm_head tied)."""

    def __init__(self, cfg: NanoConfig):
        super().__init__()
        self.cfg = cfg
        self.model = Decoder(cfg)
        cos, sin = rope_tables(cfg, cfg.max_position_embeddings)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(self._init)
        for layer in self.model.layers:  # GPT-2 style: residual writers start smaller
            for out in (layer.self_attn.o_proj, layer.mlp.down_proj):
                nn.init.normal_(out.weight, std=0.02 / (2 * cfg.num_hidden_layers) ** 0.5)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor, caches: list[list] | None = None,
                start: int = 0) -> torch.Tensor:
        """Logits [batch, length, vocab] for token ids [batch, length] at positions start...

        `caches`: one list per layer, empty at first, for incremental greedy decoding."""
        end = start + ids.shape[1]
        cos, sin = self.cos[start:end], self.sin[start:end]
        x = self.model.embed_tokens(ids)
        for i, layer in enumerate(self.model.layers):
            x = layer(x, cos, sin, None if caches is None else caches[i])
        return self.model.norm(x) @ self.model.embed_tokens.weight.T

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
