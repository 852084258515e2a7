"""pull / list / rm and catalogue-id resolution against the local fake Hub (real HTTP, no network).

A user-catalogue entry `tiny` points at two fake repos: the tiny checkpoint (`test/Tiny-Qwen2`)
and a GGUF repo (`test/Tiny-GGUF`, files from the session's ladder). `tiny-src` has no GGUF
repo, so it is always built from the checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import namedtuple
from pathlib import Path

import pytest

from fixtures.qwen2_checkpoint import TinyCheckpoint
from vibe_local.cli import main
from vibe_local.errors import (
    CorruptDownloadError,
    DiskSpaceError,
    DownloadError,
    ModelNotFoundError,
    OfflineError,
)
from vibe_local.pull import pull
from vibe_local.resolve import resolve
from vibe_local.store import installed, list_installed, model_dir, remove

GGUF_REPO, SRC_REPO = "test/Tiny-GGUF", "test/Tiny-Qwen2"
ENTRY = """
[models."{id}"]
name = "tiny"
source = "{source}"
architecture = "Qwen2ForCausalLM"
parameters = {parameters}
context = 2048
ladder = ["BF16", "Q8_0", "Q4_K_M"]

[models."{id}".sampling]
temperature = 0.3
"""
GGUF = """
[[models."tiny".gguf]]
repo = "test/Tiny-GGUF"
pattern = "tiny-{quant}.gguf"
"""


@pytest.fixture
def catalog(tiny_checkpoint: TinyCheckpoint) -> None:
    """User catalogue with `tiny` (GGUF repo + checkpoint) and `tiny-src` (checkpoint only)."""
    params = sum(w.size for w in tiny_checkpoint.weights.values())
    text = ENTRY.format(id="tiny", source=SRC_REPO, parameters=params) + GGUF + \
        ENTRY.format(id="tiny-src", source=SRC_REPO, parameters=params) + \
        ENTRY.format(id="ghost", source="nobody/missing", parameters=params)
    path = Path(os.environ["VIBE_LOCAL_HOME"]) / "models.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def hub(fake_hf, catalog, tiny_checkpoint: TinyCheckpoint, ladder_dir: Path):
    fake_hf.add_repo(SRC_REPO, {p.name: p for p in tiny_checkpoint.path.iterdir()})
    fake_hf.add_repo(GGUF_REPO, {f"tiny-{q}.gguf": ladder_dir / f"tiny-{q}.gguf"
                                 for q in ("Q8_0", "Q4_K_M")})
    return fake_hf


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _gets(hub, filename: str) -> list[str | None]:
    """The Range header of each GET of `filename`."""
    return [h.get("range") for m, p, h in hub.requests if m == "GET" and p.endswith(filename)]


def test_pull_gguf_file_from_a_gguf_repo(hub, ladder_dir: Path) -> None:
    lines: list[str] = []
    result = pull("tiny:Q8_0", report=lines.append)
    target = model_dir("tiny") / "tiny-Q8_0.gguf"
    assert result.pulled == ["Q8_0"] and result.path == model_dir("tiny")
    assert _sha(target) == _sha(ladder_dir / "tiny-Q8_0.gguf")
    assert "via gguf" in lines[0] and "will download" in lines[0] and "free" in lines[0]
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert [(f["quant"], f["sha256"]) for f in manifest["files"]] == [("Q8_0", _sha(target))]
    assert not any("/test/Tiny-Qwen2/resolve/" in p for _, p, _ in hub.requests)  # no checkpoint
    assert not list((Path(os.environ["VIBE_LOCAL_HOME"]) / "downloads").iterdir())
    again = pull("tiny:Q8_0", report=lines.append)
    assert again.pulled == [] and "already in the store" in lines[-1]


def test_pull_checkpoint_then_quantize_locally(hub) -> None:
    lines: list[str] = []
    pull("tiny-src:Q8_0", report=lines.append)
    assert "via checkpoint+quantize" in lines[0]
    model = installed("tiny-src")
    assert [q.quant for q in model.quants] == ["Q8_0"]  # the BF16 master nobody asked for: gone
    assert sorted(p.name for p in model.path.iterdir()) == ["manifest.json", "tiny-Q8_0.gguf"]
    fetched = {p.rsplit("/", 1)[1] for m, p, _ in hub.requests if m == "GET" and "/resolve/" in p}
    assert any(name.endswith(".safetensors") for name in fetched)
    # `tiny` has Q8_0 and Q4_K_M as GGUF files but no BF16: that one is built.
    pull("tiny:all", report=lines.append)
    assert any("BF16 via gguf + checkpoint+quantize" in line for line in lines)
    assert sorted(q.quant for q in installed("tiny").quants) == ["BF16", "Q4_K_M", "Q8_0"]


def test_pull_resumes_within_the_call_after_a_dropped_connection(hub, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)  # a big file, in miniature
    hub.drop_connection_after(GGUF_REPO, "tiny-Q8_0.gguf", 200_000)
    pull("tiny:Q8_0", report=lambda line: None)
    assert _gets(hub, "tiny-Q8_0.gguf") == [None, f"bytes={3 * 64 * 1024}-"]
    assert installed("tiny").quants[0].quant == "Q8_0"


def test_pull_resumes_in_a_second_run_after_a_reset(hub, monkeypatch, ladder_dir) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    hub.drop_connection_after(GGUF_REPO, "tiny-Q8_0.gguf", 200_000, reset=True)
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        pull("tiny:Q8_0", report=lambda line: None)
    assert installed("tiny") is None  # nothing half-written is listed
    partial = next((Path(os.environ["VIBE_LOCAL_HOME"]) / "downloads").iterdir())
    kept = partial.stat().st_size  # whole chunks that arrived before the RST (it may drop all)
    assert kept < 200_000 and kept % (64 * 1024) == 0
    pull("tiny:Q8_0", report=lambda line: None)
    assert _gets(hub, "tiny-Q8_0.gguf") == [None, f"bytes={kept}-" if kept else None]
    assert _sha(model_dir("tiny") / "tiny-Q8_0.gguf") == _sha(ladder_dir / "tiny-Q8_0.gguf")


def test_pull_continues_a_partial_file_left_by_a_killed_run(hub, ladder_dir) -> None:
    from vibe_local.catalog import get_entry
    from vibe_local.download import partial_path
    from vibe_local.pull import plan_pull

    remote = plan_pull(get_entry("tiny"), ["Q8_0"]).gguf["Q8_0"]
    data = (ladder_dir / "tiny-Q8_0.gguf").read_bytes()
    partial_path(remote).parent.mkdir(parents=True)
    partial_path(remote).write_bytes(data[:100_000])
    lines: list[str] = []
    pull("tiny:Q8_0", report=lines.append)
    assert _gets(hub, "tiny-Q8_0.gguf") == ["bytes=100000-"]
    assert any("resuming tiny-Q8_0.gguf" in line for line in lines)
    assert (model_dir("tiny") / "tiny-Q8_0.gguf").read_bytes() == data
    assert not partial_path(remote).exists()


def test_corrupted_download_is_refused(hub) -> None:
    hub.corrupt(GGUF_REPO, "tiny-Q8_0.gguf")
    with pytest.raises(CorruptDownloadError, match="sha256"):
        pull("tiny:Q8_0", report=lambda line: None)
    assert installed("tiny") is None
    assert not list((Path(os.environ["VIBE_LOCAL_HOME"]) / "downloads").iterdir())
    assert pull("tiny:Q8_0", report=lambda line: None).pulled == ["Q8_0"]  # clean retry


def test_a_download_the_hub_lists_no_checksum_for_is_refused_and_kept(hub, capsys,
                                                                      ladder_dir) -> None:
    hub.hide_checksums(GGUF_REPO)
    assert main(["pull", "tiny:Q8_0"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "listed no checksum" in err
    assert installed("tiny") is None
    kept = list((Path(os.environ["VIBE_LOCAL_HOME"]) / "downloads").iterdir())
    assert [p.read_bytes() for p in kept] == [(ladder_dir / "tiny-Q8_0.gguf").read_bytes()]

    hub.no_checksums.clear()  # the Hub lists it again: the kept bytes are checked, not refetched
    lines: list[str] = []
    assert pull("tiny:Q8_0", report=lines.append).pulled == ["Q8_0"]
    assert len(_gets(hub, "tiny-Q8_0.gguf")) == 1 and "sha256 ok" in lines[-2]
    assert not list((Path(os.environ["VIBE_LOCAL_HOME"]) / "downloads").iterdir())


def test_a_file_kept_in_git_is_checked_by_its_git_sha1(tmp_path: Path) -> None:
    from vibe_local.download import RemoteFile, verify_download

    data = b"GGUF" + bytes(range(256)) * 4
    path = tmp_path / "small.gguf"
    path.write_bytes(data)
    git_sha1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    remote = RemoteFile("o/r", "small.gguf", "0" * 40, len(data), None, git_sha1)
    verify_download(path, remote)  # matches: no error
    path.write_bytes(data[:-1] + b"!")
    with pytest.raises(CorruptDownloadError, match="git blob sha1"):
        verify_download(path, remote)
    assert not path.exists()


def test_unknown_repo_is_a_clear_error(hub, capsys) -> None:
    assert main(["pull", "ghost:Q8_0"]) == 1
    err = capsys.readouterr().err
    assert "'nobody/missing'" in err and "not found on the Hub" in err


def test_unknown_quant_and_id(hub, capsys) -> None:
    assert main(["pull", "tiny:Q5_K_S"]) == 1
    assert "choose one of BF16, Q8_0, Q4_K_M" in capsys.readouterr().err
    assert main(["pull", "nope"]) == 1
    assert "known ids" in capsys.readouterr().err


def test_disk_too_small_is_refused_before_downloading(hub, monkeypatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(DiskSpaceError, match="needs .* GiB at .* only 0.00 GiB is free"):
        pull("tiny:Q8_0", report=lambda line: None)
    assert not any("/resolve/" in p for _, p, _ in hub.requests)
    assert not model_dir("tiny").exists()


def test_auto_pulls_what_fit_picks_and_list_shows_it(hub, capsys) -> None:
    pull("tiny", report=lambda line: None)  # tiny fits anywhere: the best quant, BF16 (built)
    assert [q.quant for q in installed("tiny").quants] == ["BF16"]
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(m["id"], m["fit_pick"]) for m in data["models"]] == [("tiny", "BF16")]


def test_list_and_rm_round_trip(hub, capsys) -> None:
    pull("tiny:Q8_0", report=lambda line: None)
    pull("tiny:Q4_K_M", report=lambda line: None)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "Q4_K_M" in out and str(model_dir("tiny")) in out
    assert "*Q8_0" in out  # the fit's pick is marked
    assert main(["rm", "tiny:Q8_0"]) == 0
    assert [q.quant for q in installed("tiny").quants] == ["Q4_K_M"]
    assert not (model_dir("tiny") / "tiny-Q8_0.gguf").exists()
    assert main(["rm", "tiny:Q8_0"]) == 1 and "has no Q8_0" in capsys.readouterr().err
    assert main(["rm", "tiny"]) == 0 and not model_dir("tiny").exists()
    assert list_installed() == []
    assert main(["list"]) == 0 and "no models in" in capsys.readouterr().out
    with pytest.raises(ModelNotFoundError):
        remove("tiny")


def test_fit_resolves_an_id_and_pulls_only_with_consent(hub, capsys, monkeypatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no question asked
    assert main(["fit", "-m", "tiny:Q8_0"]) == 1
    assert "pass --yes" in capsys.readouterr().err and installed("tiny") is None
    assert main(["fit", "-m", "tiny:Q8_0", "--yes", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["choice"]["quant"] == "Q8_0"
    assert "via gguf" in captured.err  # the pull's lines go to stderr, not into the JSON


def _install_from_ladder(ladder_dir: Path, model_id: str) -> Path:
    """Put the session's ladder into the store, as if pulled earlier."""
    target = model_dir(model_id)
    shutil.copytree(ladder_dir, target)
    return target


def test_offline_uses_the_store_and_never_asks_the_hub(catalog, ladder_dir, capsys,
                                                      monkeypatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    # the autouse fixture sets HF_HUB_OFFLINE=1 and a dead endpoint
    _install_from_ladder(ladder_dir, "tiny")
    assert main(["fit", "-m", "tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["choice"]["quant"] == "BF16"
    assert resolve("tiny:Q4_K_M").quant == "Q4_K_M"
    remove("tiny:Q8_0")
    with pytest.raises(OfflineError, match=r"HF_HUB_OFFLINE is set; run `vibe-local pull "
                                           r"tiny:Q8_0` when online"):
        resolve("tiny:Q8_0", assume_yes=True)
    assert main(["run", "-m", "tiny-src", "--yes", "hi"]) == 1
    assert "`vibe-local pull tiny-src`" in capsys.readouterr().err
    assert main(["run", "hi"]) == 1  # -m defaults to the shipped vibethinker-1.5b
    assert "`vibe-local pull vibethinker-1.5b`" in capsys.readouterr().err


def test_offline_pull_of_a_missing_model(catalog, capsys) -> None:
    assert main(["pull", "tiny:Q8_0"]) == 1
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err


def test_no_network_fails_fast(catalog, monkeypatch, capsys) -> None:
    from hub_fixtures import set_hf_offline

    set_hf_offline(monkeypatch, False)  # online, but the endpoint is dead (127.0.0.1:9)
    start = time.monotonic()
    assert main(["fit", "-m", "tiny:Q8_0", "--yes"]) == 1
    assert main(["pull", "tiny"]) == 1
    err = capsys.readouterr().err
    assert err.count("cannot reach the Hugging Face Hub") == 2
    assert time.monotonic() - start < 5


def test_load_uses_the_catalogue_sampling(catalog, ladder_dir, backend_ready) -> None:
    import vibe_local

    _install_from_ladder(ladder_dir, "tiny")
    with vibe_local.load("tiny:Q8_0", memory="4GiB", gpu="none") as model:
        assert model.info.quant == "Q8_0"
        assert model.sampling.temperature == 0.3 and model.sampling.top_p == 0.95
