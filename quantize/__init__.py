"""vibe-quantize: Hugging Face checkpoint -> GGUF master -> llama.cpp quantization ladder.

Public API: `convert` (one GGUF file) and `build_ladder` (master + quants + manifest.json).
This package must not import `vibe_local`; the runtime depends on it, not the other way round.
"""

from __future__ import annotations

from .version import __version__

__all__ = ["__version__", "build_ladder", "convert"]


def __getattr__(name: str):
    """Import the heavy modules only when their function is first used."""
    if name == "convert":
        from .convert import convert

        return convert
    if name == "build_ladder":
        from .ladder import build_ladder

        return build_ladder
    raise AttributeError(name)
