"""vibe-local: run VibeThinker reasoning models on your own laptop, offline.

    import vibe_local
    model = vibe_local.load("path/to/ladder-or.gguf")
    print(model.chat("What is 17 * 23?").answer)

`load`, `fit`, `Model`, `Reply` and the stream events load lazily, so importing the package
does not import llama.cpp.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "load": "api", "fit": "api", "Model": "engine", "Reply": "engine",
    "ThinkingDelta": "reasoning", "AnswerDelta": "reasoning", "Done": "generation",
    "GenerationStats": "generation", "Sampling": "generation",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
