"""Quantization type names and their llama.cpp file-type numbers.

Names and numbers come from the `gguf` package's `LlamaFileType` enum, which mirrors
llama.cpp's `llama_ftype`; nothing here restates a number.
"""

from __future__ import annotations

from gguf import LlamaFileType

from .errors import ImatrixRequiredError, UnknownQuantTypeError
from .quant_names import canonical, split_name

# The ladder built when the user does not pick types (the 16-bit master is always built too).
DEFAULT_LADDER = ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0")

# Master (unquantized) output types the converter writes itself.
MASTER_TYPES = ("F32", "F16", "BF16")

# The i-quants we build (with an importance matrix, or where llama.cpp allows, without).
IQ_TYPES = ("IQ4_XS", "IQ4_NL", "IQ3_M", "IQ3_S", "IQ3_XXS", "IQ2_M", "IQ2_S", "IQ2_XS",
            "IQ2_XXS")

# File types whose main tensor type llama.cpp refuses to make without an importance matrix
# (llama-quant.cpp, tensor_requires_imatrix: IQ3_XXS, IQ2_XXS, IQ2_XS, IQ2_S tensors).
NEEDS_IMATRIX = frozenset({"IQ3_XXS", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS"})

# The 1-bit, ternary, MoE-only and experimental types are not meant for a dense Qwen2 model;
# IQ3_XS and Q2_K_S sit between types the ladder already has.
_EXCLUDED = {
    "IQ1_S", "IQ1_M", "IQ3_XS", "Q2_K_S",
    "TQ1_0", "TQ2_0", "MXFP4_MOE", "NVFP4", "Q1_0", "Q2_0", "GUESSED",
}


def _type_name(member: LlamaFileType) -> str:
    """"MOSTLY_Q4_K_M" -> "Q4_K_M", "ALL_F32" -> "F32"."""
    return member.name.split("_", 1)[1]


def available_types() -> dict[str, int]:
    """Every type name we can build, mapped to its llama.cpp ftype number, in enum order."""
    return {
        _type_name(m): int(m)
        for m in LlamaFileType
        if m.name != "GUESSED" and _type_name(m) not in _EXCLUDED
    }


def check_imatrix_given(type_name: str, given: bool) -> None:
    """Refuse a type that llama.cpp cannot make without an importance matrix.

    Raises:
        ImatrixRequiredError: one line naming --imatrix.
    """
    if not given and type_name.strip().upper() in NEEDS_IMATRIX:
        raise ImatrixRequiredError(
            f"{type_name.upper()} needs an importance matrix: add --imatrix auto (computed from "
            "the master) or --imatrix FILE (from `vibe-quantize imatrix`)")


def ftype_of(name: str) -> int:
    """The llama.cpp ftype number of a type name (case-insensitive; "Q4_K_M-imat" is a Q4_K_M).

    Raises:
        UnknownQuantTypeError: the name is not one we can build; the message lists the valid ones.
    """
    types = available_types()
    key = split_name(name.strip())[0].upper()
    if key not in types:
        raise UnknownQuantTypeError(
            f"unknown quantization type {name!r}; valid types: {', '.join(types)}"
        )
    return types[key]


def parse_types(spec: str | None) -> list[str]:
    """Parse a comma-separated type list ("q4_k_m, Q8_0, IQ2_XS-imat") into canonical names,
    validated; a "-imat" name asks for that type made with an importance matrix.

    None or an empty string gives the default ladder; commas with no name between them ("," or
    " , ") are a mistake, not a request for nothing.

    Raises:
        UnknownQuantTypeError: a name llama.cpp does not offer, or no name at all.
    """
    if not spec or not spec.strip():
        return list(DEFAULT_LADDER)
    names = [canonical(part) for part in spec.split(",") if part.strip()]
    if not names:
        raise UnknownQuantTypeError(f"--types {spec!r} names no type; give e.g. Q4_K_M,Q8_0 "
                                    "(`vibe-quantize types` lists them) or leave it out")
    for name in names:
        ftype_of(name)
    return list(dict.fromkeys(names))
