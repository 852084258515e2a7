"""The tokenizer part of a GGUF file, built from a checkpoint's `tokenizer.json`.

Tokens, token types and the pre-tokenizer name are derived here; merges, special-token ids and
the chat template are read by the `gguf` package's `SpecialVocab`, the same code llama.cpp's own
converter uses, so both agree on which of tokenizer_config.json / config.json /
generation_config.json wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import gguf

from .checkpoint import Checkpoint, read_json
from .errors import CheckpointError, CheckpointNotFoundError

# The regex Qwen2 (and so VibeThinker) splits text with before byte-level BPE. llama.cpp calls
# this pre-tokenizer "qwen2". We recognise it from the tokenizer's own definition, not from a
# hash of its output on a probe string, so retrained vocabularies with the same rules work too.
QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_PRE_TOKENIZERS = {QWEN2_SPLIT_PATTERN: "qwen2"}

# Added tokens that look like control tokens even when not flagged special (same rule llama.cpp's
# converter applies): <|...|> style markers.
_LOOKS_SPECIAL = re.compile(r"^<\|.*\|>$|^<｜.*｜>$")


@dataclass
class Vocab:
    """Token strings and types indexed by id, padded to the model's embedding rows."""

    tokens: list[str]
    token_types: list[int]
    pre: str
    special: gguf.SpecialVocab

    def add_to(self, writer: gguf.GGUFWriter) -> None:
        """Write the tokenizer keys (model, pre, tokens, types, merges, ids, template)."""
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.token_types)
        self.special.add_to_gguf(writer, quiet=True)


def load_vocab(checkpoint: Checkpoint, n_vocab: int) -> Vocab:
    """Build the GGUF vocabulary for a byte-level BPE checkpoint.

    Args:
        checkpoint: the opened checkpoint.
        n_vocab: rows of the embedding matrix (config `vocab_size`); ids without a token become
            unused `[PAD{i}]` entries, as llama.cpp expects one token per row.

    Raises:
        CheckpointNotFoundError: tokenizer.json is missing.
        CheckpointError: not a byte-level BPE, unknown pre-tokenizer, or ids beyond n_vocab.
    """
    file = checkpoint.path / "tokenizer.json"
    if not file.is_file():
        raise CheckpointNotFoundError(f"{checkpoint.path} has no tokenizer.json")
    tokenizer = read_json(file)
    model = tokenizer.get("model") or {}
    if model.get("type") != "BPE":
        raise CheckpointError(
            f"tokenizer.json uses a {model.get('type')!r} model; only byte-level BPE is supported"
        )
    pre = detect_pre_tokenizer(tokenizer.get("pre_tokenizer"))
    tokens, types = _tokens_and_types(model["vocab"], tokenizer.get("added_tokens") or [], n_vocab)
    special = gguf.SpecialVocab(checkpoint.path, load_merges=True, n_vocab=len(tokens))
    if not special.merges:
        raise CheckpointError("tokenizer.json has no BPE merges")
    # Qwen2 adds no BOS/EOS around a text (its post-processor is ByteLevel). llama.cpp's own
    # gguf-py infers that from the post-processor; the PyPI release does not, so say it here
    # unless tokenizer_config.json sets add_bos_token / add_eos_token explicitly.
    special.add_special_token.setdefault("bos", False)
    special.add_special_token.setdefault("eos", False)
    return Vocab(tokens, types, pre, special)


def detect_pre_tokenizer(definition: dict | None) -> str:
    """Name llama.cpp's pre-tokenizer from a tokenizer.json `pre_tokenizer` block.

    Raises:
        CheckpointError: the split rules are not ones llama.cpp implements for this model.
    """
    steps = (definition or {}).get("pretokenizers") or [definition or {}]
    patterns = [
        s.get("pattern", {}).get("Regex") for s in steps if s.get("type") == "Split"
    ]
    byte_level = [s for s in steps if s.get("type") == "ByteLevel"]
    if len(patterns) == 1 and byte_level and patterns[0] in _PRE_TOKENIZERS:
        return _PRE_TOKENIZERS[patterns[0]]
    raise CheckpointError(
        "tokenizer.json has a pre-tokenizer this converter does not know; supported: "
        + ", ".join(f"{name} (Qwen2 split regex + ByteLevel)" for name in _PRE_TOKENIZERS.values())
    )


def _tokens_and_types(
    vocab: dict[str, int], added: list[dict], n_vocab: int
) -> tuple[list[str], list[int]]:
    """Tokens by id and their gguf.TokenType, with [PAD{i}] filling unused ids."""
    by_id: dict[int, str] = {i: t for t, i in vocab.items()}
    types: dict[int, int] = {i: gguf.TokenType.NORMAL for i in by_id}
    for entry in added:
        token_id, content = int(entry["id"]), entry["content"]
        by_id[token_id] = content
        control = entry.get("special") or _LOOKS_SPECIAL.match(content)
        types[token_id] = gguf.TokenType.CONTROL if control else gguf.TokenType.USER_DEFINED
    if by_id and max(by_id) >= n_vocab:
        raise CheckpointError(
            f"tokenizer has token id {max(by_id)} but the model has only {n_vocab} embedding rows"
        )
    tokens = [by_id.get(i, f"[PAD{i}]") for i in range(n_vocab)]
    token_types = [int(types.get(i, gguf.TokenType.UNUSED)) for i in range(n_vocab)]
    return tokens, token_types

