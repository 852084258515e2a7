"""Quant names as the whole project writes them: llama.cpp's type name, upper case, and
"-imat" after it for a file made with an importance matrix ("Q4_K_M-imat").

Plain string handling with no imports, so the runtime's catalogue and command line can use it
without loading `gguf`.
"""

from __future__ import annotations

IMATRIX_SUFFIX = "-imat"


def imatrix_name(type_name: str) -> str:
    """The name of a file of this type made with an importance matrix ("Q4_K_M-imat")."""
    return type_name + IMATRIX_SUFFIX


def split_name(quant: str) -> tuple[str, bool]:
    """("Q4_K_M", True) for "Q4_K_M-imat"; (quant, False) for a plain name."""
    if quant.lower().endswith(IMATRIX_SUFFIX):
        return quant[: -len(IMATRIX_SUFFIX)], True
    return quant, False


def canonical(name: str) -> str:
    """"q4_k_m-IMAT" -> "Q4_K_M-imat"; "q8_0" -> "Q8_0"."""
    base, imat = split_name(name.strip())
    return imatrix_name(base.upper()) if imat else base.upper()
