"""Pytest fixture pointing the real ``huggingface_hub`` client at a :class:`fake_hub.FakeHub`.

Register with ``pytest_plugins = ["hub_fixtures"]`` in ``conftest.py`` (``tests/`` is on
``sys.path``) or ``from hub_fixtures import fake_hf`` in a test module.

Why environment variables are not enough
----------------------------------------
``huggingface_hub/constants.py`` (checked for 2.4.0) reads its environment **once, at import**:

* ``ENDPOINT`` <- ``HF_ENDPOINT``; ``HUGGINGFACE_CO_URL_TEMPLATE`` (the ``/resolve/`` URL used by
  ``hf_hub_download``) and ``HF_URL_HOSTS`` are derived from it.  ``HfApi()`` reads
  ``constants.ENDPOINT`` when constructed, so the module-level helpers
  (``huggingface_hub.model_info``, ``list_repo_tree``, ...) -- bound methods of the singleton
  ``huggingface_hub.hf_api.api`` created at import -- keep the old endpoint unless
  ``api.endpoint`` is patched as well.
* ``HF_HUB_OFFLINE`` <- ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``; ``is_offline_mode()``
  returns this constant, and the client's request hook raises ``OfflineModeIsEnabled`` from it.
* ``HF_HOME`` and everything derived from it: ``HF_HUB_CACHE`` (the default ``cache_dir``, read at
  call time), ``HUGGINGFACE_HUB_CACHE``, ``HF_ASSETS_CACHE``, ``HF_XET_CACHE``, ``HF_TOKEN_PATH``,
  ``HF_STORED_TOKENS_PATH``, ``AGENT_HARNESSES_PATH`` (2.4 fetches ``/api/agent-harnesses`` once
  per process to build its User-Agent and caches it there -- unpatched, a test would write into
  the real ``~/.cache/huggingface``), ``CHECK_FOR_*_DONE_PATH``.
* ``HF_HUB_DISABLE_XET``, ``HF_HUB_DISABLE_TELEMETRY``, ``HF_HUB_ETAG_TIMEOUT``,
  ``HF_HUB_DOWNLOAD_TIMEOUT``.

(``utils._http._HUB_ORIGINS``, used to decide which redirects keep auth, is import-time too; the
fake never redirects, so it is left alone.)

So when ``huggingface_hub`` is already imported (always, in a pytest session that imported it
once), the fixture patches those attributes too; the environment variables are still set so that
subprocesses (e.g. our CLI run with ``subprocess``) see the same configuration.  Code that copied
a constant into its own namespace at import (``from huggingface_hub.constants import ENDPOINT``)
cannot be reached this way: read ``constants.X`` at call time instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hub import FakeHub, fake_hub

ETAG_TIMEOUT = 2  # seconds; keeps a hung test short
DOWNLOAD_TIMEOUT = 2


def set_hf_offline(monkeypatch: pytest.MonkeyPatch, offline: bool = True) -> None:
    """Switch the client's offline mode (env var *and* the import-time constant)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)


def point_hf_at(monkeypatch: pytest.MonkeyPatch, endpoint: str, hf_home: Path) -> None:
    """Point env + ``huggingface_hub.constants`` at ``endpoint`` with an isolated ``hf_home``."""
    from huggingface_hub import constants, hf_api

    hf_home = Path(hf_home)
    env = {"HF_ENDPOINT": endpoint, "HF_HOME": str(hf_home), "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_HUB_DISABLE_XET": "1", "HF_HUB_ETAG_TIMEOUT": str(ETAG_TIMEOUT),
           "HF_HUB_DOWNLOAD_TIMEOUT": str(DOWNLOAD_TIMEOUT)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
                "HF_ASSETS_CACHE", "HF_XET_CACHE", "HF_TOKEN_PATH", "HF_TOKEN",
                "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_CO_STAGING"):
        monkeypatch.delenv(key, raising=False)

    patches = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_OFFLINE": False,
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hf_home / "hub"),
        "HUGGINGFACE_HUB_CACHE": str(hf_home / "hub"),
        "HF_ASSETS_CACHE": str(hf_home / "assets"),
        "HUGGINGFACE_ASSETS_CACHE": str(hf_home / "assets"),
        "HF_XET_CACHE": str(hf_home / "xet"),
        "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
        "AGENT_HARNESSES_PATH": str(hf_home / ".agent_harnesses.json"),
        "CHECK_FOR_UPDATE_DONE_PATH": str(hf_home / ".check_for_update_done"),
        "CHECK_FOR_SKILL_UPDATE_DONE_PATH": str(hf_home / ".check_for_skill_update_done"),
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_ETAG_TIMEOUT": ETAG_TIMEOUT,
        "HF_HUB_DOWNLOAD_TIMEOUT": DOWNLOAD_TIMEOUT,
    }
    if hasattr(constants, "HF_URL_HOSTS"):
        patches["HF_URL_HOSTS"] = constants.HF_URL_HOSTS | {"127.0.0.1"}
    for name, value in patches.items():
        if hasattr(constants, name):  # older/newer versions lack some of these
            monkeypatch.setattr(constants, name, value)
    if getattr(hf_api, "api", None) is not None:
        monkeypatch.setattr(hf_api.api, "endpoint", endpoint)


@pytest.fixture
def fake_hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A started :class:`FakeHub` that ``huggingface_hub`` (env and constants) points at.

    The HF cache lives in ``tmp_path / "hf_home"``; xet, telemetry and offline mode are off.
    """
    try:
        from huggingface_hub.utils import close_session
    except ImportError:  # huggingface_hub < 1.0 (requests-based client)
        from huggingface_hub.utils import reset_sessions as close_session

    with fake_hub(tmp_path) as hub:
        point_hf_at(monkeypatch, hub.endpoint, tmp_path / "hf_home")
        close_session()  # drop pooled connections to servers of earlier tests
        try:
            yield hub
        finally:
            close_session()
