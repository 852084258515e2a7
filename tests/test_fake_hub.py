"""The real ``huggingface_hub`` client against :mod:`fake_hub` -- no mocks, real HTTP.

Besides checking the fake, these tests pin down how the installed client (2.4.0) behaves on
dropped connections, corrupted bodies and offline mode, which our download code builds on.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx2
import huggingface_hub
import pytest
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import get_hf_file_metadata

REPO = "vibe-test/tiny-model"
CONFIG = b'{"model_type": "qwen2"}\n'
WEIGHTS = bytes(range(256)) * 16  # 4 KiB -> served as LFS
SHA256 = hashlib.sha256(WEIGHTS).hexdigest()
POINTER = f"version https://git-lfs.github.com/spec/v1\noid sha256:{SHA256}\nsize 4096\n".encode()


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def file_gets(hub, filename: str) -> list[dict]:
    """Headers of the GET requests made for ``filename`` (agent-harness/API calls ignored)."""
    return [h for m, p, h in hub.requests if m == "GET" and p.endswith(f"/resolve/main/{filename}")]


@pytest.fixture
def repo(fake_hf):
    return fake_hf.add_repo(REPO, {"config.json": CONFIG, "model.safetensors": WEIGHTS})


def test_hf_hub_download_small_and_lfs_files(fake_hf, repo):
    for name, data in (("config.json", CONFIG), ("model.safetensors", WEIGHTS)):
        path = Path(hf_hub_download(REPO, name))
        assert path.read_bytes() == data
        assert path.parent.name == repo  # snapshots/<commit sha>/<file>
    blobs = Path(constants.HF_HUB_CACHE) / "models--vibe-test--tiny-model" / "blobs"
    assert sorted(p.name for p in blobs.iterdir()) == sorted([git_sha1(CONFIG), SHA256])

    meta = get_hf_file_metadata(huggingface_hub.hf_hub_url(REPO, "model.safetensors"))
    assert (meta.commit_hash, meta.etag, meta.size) == (repo, SHA256, len(WEIGHTS))
    assert get_hf_file_metadata(huggingface_hub.hf_hub_url(REPO, "config.json")).etag == \
        git_sha1(CONFIG)


def test_raw_http_headers_and_ranges(fake_hf, repo):
    url = f"{fake_hf.endpoint}/{REPO}/resolve/main/model.safetensors"
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as r:
        assert r.status == 200
        assert r.headers["X-Repo-Commit"] == repo
        assert r.headers["ETag"] == r.headers["X-Linked-Etag"] == f'"{SHA256}"'
        assert r.headers["X-Linked-Size"] == r.headers["Content-Length"] == str(len(WEIGHTS))
        assert r.headers["Accept-Ranges"] == "bytes"
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=4000-"})) as r:
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes 4000-{len(WEIGHTS) - 1}/{len(WEIGHTS)}"
        assert r.read() == WEIGHTS[4000:]
    for path, code in ((f"/{REPO}/resolve/main/nope.bin", "EntryNotFound"),
                       (f"/{REPO}/resolve/{'0' * 40}/config.json", "RevisionNotFound"),
                       ("/nobody/nothing/resolve/main/config.json", "RepoNotFound"),
                       ("/api/whatever", None)):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(fake_hf.endpoint + path)
        assert err.value.code == 404 and err.value.headers.get("X-Error-Code") == code
        assert "error" in json.loads(err.value.read())


def test_snapshot_download_allow_patterns(fake_hf):
    sha = fake_hf.add_repo(REPO, {"config.json": CONFIG, "tokenizer.json": b"{}",
                                  "model.safetensors": WEIGHTS, "sub/extra.gguf": b"GGUF"})
    folder = Path(snapshot_download(REPO, allow_patterns=["*.json"]))
    assert folder.name == sha
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "tokenizer.json"]
    assert (folder / "config.json").read_bytes() == CONFIG
    paths = [p for _, p, _ in fake_hf.requests]
    assert f"/api/models/{REPO}/revision/main" in paths  # resolves main -> sha
    assert any(p.startswith(f"/api/models/{REPO}/tree/{sha}?recursive=true") for p in paths)
    assert not any("model.safetensors" in p or "extra.gguf" in p for p in paths)


def test_model_info_tree_and_paths_info(fake_hf, repo):
    info = HfApi().model_info(REPO, files_metadata=True)
    assert info.sha == repo and info.private is False
    lfs = {s.rfilename: s.lfs for s in info.siblings}
    assert lfs["config.json"] is None
    assert {s.rfilename: s.blob_id for s in info.siblings} == \
        {"config.json": git_sha1(CONFIG), "model.safetensors": git_sha1(POINTER)}
    weights = lfs["model.safetensors"]
    expected = (SHA256, len(WEIGHTS), len(POINTER))
    assert (weights.sha256, weights.size, weights.pointer_size) == expected
    # module-level helper is bound to an HfApi created at import: needs the api.endpoint patch
    assert [s.size for s in huggingface_hub.model_info(REPO).siblings] == [None, None]

    fake_hf.add_repo("org/nested", {"a/b/c.txt": b"c", "top.txt": b"t"})
    api = HfApi()
    assert [e.path for e in api.list_repo_tree("org/nested", recursive=True)] == \
        ["a", "a/b", "a/b/c.txt", "top.txt"]
    assert [e.path for e in api.list_repo_tree("org/nested", "a/b")] == ["a/b/c.txt"]
    infos = api.get_paths_info("org/nested", ["a", "top.txt", "missing"])
    assert [(type(i).__name__, i.path) for i in infos] == \
        [("RepoFolder", "a"), ("RepoFile", "top.txt")]


def test_not_found_errors(fake_hf, repo):
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("nobody/nothing", "config.json")
    with pytest.raises(RepositoryNotFoundError):
        HfApi().model_info("nobody/nothing")
    with pytest.raises(RepositoryNotFoundError):
        snapshot_download("nobody/nothing")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO, "missing.bin")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO, "config.json", revision="f" * 40)


def test_drop_inside_first_chunk_restarts_from_zero(fake_hf):
    """2.4.0 retries a short body itself (RemoteProtocolError -> sleep 1 s -> new GET), but it only
    counts bytes per ``DOWNLOAD_CHUNK_SIZE`` (10 MiB) chunk: a drop before the first full chunk
    loses what was received, so the retry is a plain GET without Range."""
    data = os.urandom(300_000)
    fake_hf.add_repo(REPO, {"model.safetensors": data})
    fake_hf.drop_connection_after(REPO, "model.safetensors", 1000)
    assert Path(hf_hub_download(REPO, "model.safetensors")).read_bytes() == data
    gets = file_gets(fake_hf, "model.safetensors")
    assert len(gets) == 2 and [g.get("range") for g in gets] == [None, None]


def test_drop_after_first_chunk_resumes_with_range(fake_hf):
    chunk = constants.DOWNLOAD_CHUNK_SIZE
    data = os.urandom(chunk + 65536)
    fake_hf.add_repo(REPO, {"model.safetensors": data})
    fake_hf.drop_connection_after(REPO, "model.safetensors", chunk + 1000)
    assert Path(hf_hub_download(REPO, "model.safetensors")).read_bytes() == data
    assert [g.get("range") for g in file_gets(fake_hf, "model.safetensors")] == \
        [None, f"bytes={chunk}-"]


def test_connection_reset_is_not_retried_and_partial_is_discarded(fake_hf):
    """ECONNRESET surfaces as ``httpx2.ReadError``, which 2.4.0's ``http_get`` does not retry.
    Its partial file is process-unique and deleted, so the next call starts again from byte 0."""
    data = os.urandom(300_000)
    fake_hf.add_repo(REPO, {"model.safetensors": data})
    fake_hf.drop_connection_after(REPO, "model.safetensors", 1000, reset=True)
    with pytest.raises(httpx2.ReadError):
        hf_hub_download(REPO, "model.safetensors")
    assert not list(Path(constants.HF_HUB_CACHE).rglob("*.incomplete"))
    assert Path(hf_hub_download(REPO, "model.safetensors")).read_bytes() == data
    assert [g.get("range") for g in file_gets(fake_hf, "model.safetensors")] == [None, None]


def test_corrupted_lfs_download_is_not_verified_by_client(fake_hf, repo):
    """2.4.0 does not hash what it downloads: a same-length corrupted body is cached under the
    advertised sha256 without any error.  ``HfApi.verify_repo_checksums`` can detect it later."""
    fake_hf.corrupt(REPO, "model.safetensors")
    path = Path(hf_hub_download(REPO, "model.safetensors"))
    got = path.read_bytes()
    assert len(got) == len(WEIGHTS) and got != WEIGHTS
    assert path.resolve().name == SHA256 != hashlib.sha256(got).hexdigest()

    result = HfApi().verify_repo_checksums(REPO, cache_dir=constants.HF_HUB_CACHE)
    assert [(m["path"], m["algorithm"]) for m in result.mismatches] == \
        [("model.safetensors", "sha256")]


def test_offline_uses_cache_without_requests(fake_hf, repo, monkeypatch):
    from hub_fixtures import set_hf_offline

    online = hf_hub_download(REPO, "config.json")
    fake_hf.requests.clear()
    set_hf_offline(monkeypatch)
    assert hf_hub_download(REPO, "config.json") == online
    with pytest.raises(LocalEntryNotFoundError) as err:
        hf_hub_download(REPO, "model.safetensors")
    assert isinstance(err.value.__cause__, OfflineModeIsEnabled)
    with pytest.raises(OfflineModeIsEnabled):  # raw API calls fail in the client's request hook
        HfApi().model_info(REPO)
    assert fake_hf.requests == []


def test_environment_alone_configures_a_subprocess(fake_hf, repo):
    """Fresh interpreters read the env vars at import; the fixture sets them too."""
    code = f"import huggingface_hub as h; print(h.hf_hub_download({REPO!r}, 'config.json'))"
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                         check=True).stdout.strip()
    assert Path(out).read_bytes() == CONFIG
    assert Path(out).is_relative_to(Path(os.environ["HF_HOME"]))
    assert time.monotonic() - start < 10
