"""`vibe-local serve`: the OpenAI-compatible HTTP face of the engine.

One module per concern: `errors` (OpenAI's error schema), `requests` (what a request may ask,
checked), `jobs` (the one-at-a-time generation queue), `shaping` (engine events -> OpenAI
fields, stop strings), `app` (routes, auth, streaming), `runner` (uvicorn, signals).
Starlette and uvicorn come with the optional `server` extra; `require_extra` says how to get them.
"""

from __future__ import annotations

INSTALL_HINT = "pip install 'vibe-local[server]' (or uv sync --extra server)"


def require_extra() -> None:
    """Fail in one line, naming the install command, when the server's packages are missing.

    Raises:
        InvalidRequestError: starlette or uvicorn is not installed.
    """
    from ..errors import InvalidRequestError

    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise InvalidRequestError(f"`vibe-local serve` needs {exc.name}: {INSTALL_HINT}") from None
