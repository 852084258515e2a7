"""Write the trained model as an ordinary Hugging Face Qwen2 checkpoint directory.

bf16 weights (as VibeThinker ships), config.json and generation_config.json in the shape Qwen2
checkpoints have, the tokenizer files, and a model card. The directory is built beside the target
and renamed into place, so an interrupted export never leaves a half-written model.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from .model import NanoConfig, NanoQwen2
from .tokenizer import EOS_TOKEN, PAD_TOKEN
from .tokenizer import save as save_tokenizer


def hf_config(cfg: NanoConfig, eos_id: int, pad_id: int) -> dict:
    """config.json for `Qwen2ForCausalLM` with this geometry."""
    values = asdict(cfg)
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": pad_id,
        "eos_token_id": eos_id,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "max_window_layers": cfg.num_hidden_layers,
        "model_type": "qwen2",
        "rope_scaling": None,
        "sliding_window": cfg.max_position_embeddings,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.51.0",
        "use_cache": True,
        "use_sliding_window": False,
        **values,
    }


def generation_config(eos_id: int, pad_id: int) -> dict:
    """VibeThinker's recommended sampling, which the engine also defaults to."""
    return {"bos_token_id": pad_id, "eos_token_id": [eos_id, pad_id], "pad_token_id": pad_id,
            "do_sample": True, "temperature": 0.6, "top_p": 0.95,
            "transformers_version": "4.51.0"}


def _dump(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def export(model: NanoQwen2, tok, out: Path, card: str) -> None:
    """Write the checkpoint to `out`, replacing what was there only once all files exist."""
    from safetensors.torch import save_file

    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    eos_id, pad_id = tok.token_to_id(EOS_TOKEN), tok.token_to_id(PAD_TOKEN)
    tensors = {name: t.detach().to("cpu").bfloat16().contiguous()
               for name, t in model.state_dict().items()}
    save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    _dump(tmp / "config.json", hf_config(model.cfg, eos_id, pad_id))
    _dump(tmp / "generation_config.json", generation_config(eos_id, pad_id))
    save_tokenizer(tok, tmp, model.cfg.max_position_embeddings)
    (tmp / "README.md").write_text(card, encoding="utf-8")
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
