"""Each way the command lines used to fail badly, fixed: one line on stderr, the right exit code.

Unexpected exceptions are logged, a closed stdout ends quietly, bad stdin and a bad user data
folder are one line, a damaged store entry is listed as damaged and removable, a broken
config.json is named when planning a pull, and `doctor` reports a llama_cpp that will not import.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vibe_local.cli import main
from vibe_local.store import list_installed, model_dir

ROOT = Path(__file__).resolve().parent.parent


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- unexpected exceptions -------------------------------------------------------------------

def _crash(args) -> int:
    raise ZeroDivisionError("boom\nsecond line")


def test_a_bug_is_one_line_naming_the_log(capsys, monkeypatch, isolated_home: Path) -> None:
    monkeypatch.setattr("vibe_local.commands.list_models.run", _crash)
    code, _, err = _cli(capsys, "list")
    line = _one_line(err)
    assert code == 1 and line.startswith("vibe-local: internal error: ZeroDivisionError: boom")
    assert "VIBE_DEBUG=1" in line
    logs = list((Path(os.environ["VIBE_LOCAL_HOME"]) / "logs").iterdir())
    assert len(logs) == 1 and str(logs[0]) in line
    assert "Traceback" in logs[0].read_text() and "_crash" in logs[0].read_text()


def test_a_bug_with_an_unwritable_log_dir_logs_to_the_temp_dir(capsys, monkeypatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.setattr("vibe_local.commands.list_models.run", _crash)
    monkeypatch.setattr("vibe_local.cli._log_dir", lambda: tmp_path / "a-file" / "logs")
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    code, _, err = _cli(capsys, "list")
    assert code == 1 and str(tmp_path / "tmp") in _one_line(err)


def test_vibe_debug_shows_the_traceback(capsys, monkeypatch) -> None:
    monkeypatch.setattr("vibe_local.commands.list_models.run", _crash)
    monkeypatch.setenv("VIBE_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["list"])


def test_ctrl_c_is_130(capsys, monkeypatch) -> None:
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("vibe_local.commands.list_models.run", interrupted)
    code, _, err = _cli(capsys, "list")
    assert code == 130 and _one_line(err) == "vibe-local: interrupted"


def test_vibe_quantize_bug_is_one_line_too(capsys, monkeypatch, tmp_path: Path) -> None:
    from quantize import cli as qcli

    monkeypatch.setitem(qcli._COMMANDS, "types", _crash)
    monkeypatch.setattr(qcli, "_log_dir", lambda: tmp_path / "qlogs")
    assert qcli.main(["types"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("vibe-quantize: internal error: ZeroDivisionError")
    assert str(tmp_path / "qlogs") in line and len(list((tmp_path / "qlogs").iterdir())) == 1


def test_usage_errors_are_one_line_with_status_2(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", "--ctx", "many"])
    assert caught.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("vibe-local run: error: argument --ctx") and "--help" in line


# --- stdout closed, stdin not text ------------------------------------------------------------

def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "VIBE_LOCAL_HOME": str(home), "PYTHONPATH": str(ROOT)}


def test_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    """`vibe-quantize types | head -0`: the reader is gone before the first line is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "quantize.cli", "types"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, env=_env(tmp_path), timeout=60)
    finally:
        os.close(write_end)
    assert done.returncode == 1 and done.stderr == ""


def test_run_rejects_stdin_that_is_not_utf8(tmp_path: Path, scripted) -> None:
    done = subprocess.run([sys.executable, "-m", "vibe_local.cli", "run", "-m",
                           str(scripted.gguf), "Summarise."], input=b"caf\xe9\xff\n",
                          capture_output=True, env=_env(tmp_path / "home"), timeout=120)
    line = _one_line(done.stderr.decode())
    assert done.returncode == 1 and "not UTF-8" in line and done.stdout == b""


# --- the user data folder ---------------------------------------------------------------------

def test_a_missing_home_is_created(capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIBE_LOCAL_HOME", str(tmp_path / "new" / "home"))
    code, out, _ = _cli(capsys, "list")
    assert code == 0 and "no models" in out and (tmp_path / "new" / "home").is_dir()
    assert list((tmp_path / "new" / "home").iterdir()) == []  # the write probe is gone


def test_a_home_that_cannot_be_created_is_one_line(capsys, monkeypatch, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("VIBE_LOCAL_HOME", str(tmp_path / "file" / "home"))
    code, _, err = _cli(capsys, "list")
    line = _one_line(err)
    assert code == 1 and "cannot write to VIBE_LOCAL_HOME" in line and "file/home" in line


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits and mounts")
def test_a_read_only_home_is_one_line(capsys, monkeypatch, tmp_path: Path) -> None:
    home = tmp_path / "ro"
    home.mkdir(mode=0o500)
    monkeypatch.setenv("VIBE_LOCAL_HOME", str(home))
    if os.geteuid() != 0:
        code, _, err = _cli(capsys, "list")
        assert code == 1 and "cannot write to VIBE_LOCAL_HOME" in _one_line(err)
        return
    # Permission bits do not stop root; a read-only mount does (a private mount namespace).
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-rm", "true"]).returncode != 0:
        pytest.skip("running as root without mount namespaces: a read-only home cannot be made")
    script = (f"mount --bind {home} {home} && mount -o remount,bind,ro {home} && "
              f"exec {sys.executable} -m vibe_local.cli list")
    result = subprocess.run([unshare, "-rm", "sh", "-c", script], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "VIBE_LOCAL_HOME": str(home)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cannot write to VIBE_LOCAL_HOME" in _one_line(result.stderr)
    assert "Read-only file system" in result.stderr


# --- a damaged store entry --------------------------------------------------------------------

@pytest.mark.parametrize("damage", ['{"files": [', "[]", '{"files": [{"quant": 1}]}',
                                    '{"format": 1, "files": "x"}'])
def test_a_damaged_manifest_is_listed_and_removable(capsys, ladder_dir: Path,
                                                    damage: str) -> None:
    shutil.copytree(ladder_dir, model_dir("good"))
    model_dir("bad").mkdir()
    (model_dir("bad") / "manifest.json").write_text(damage)
    assert [(m.id, bool(m.damaged)) for m in list_installed()] == [("bad", True), ("good", False)]
    code, out, err = _cli(capsys, "list")
    assert code == 0 and err == ""
    assert "bad" in out and "DAMAGED" in out and "vibe-local rm bad" in out and "Q8_0" in out
    code, out, _ = _cli(capsys, "list", "--json")
    rows = {m["id"]: m for m in json.loads(out)["models"]}
    assert rows["bad"]["damaged"] and rows["good"]["damaged"] is None
    code, _, err = _cli(capsys, "rm", "bad:Q8_0")
    assert code == 1 and "`vibe-local rm bad` removes it all" in _one_line(err)
    assert _cli(capsys, "rm", "bad")[0] == 0 and not model_dir("bad").exists()
    assert model_dir("good").is_dir()


def test_rm_never_leaves_the_store(capsys) -> None:
    for ref in ("..", "../models", "/tmp", ""):
        code, _, err = _cli(capsys, "rm", ref)
        assert code == 1 and "not a model id" in _one_line(err)


# --- config.json when planning a pull ---------------------------------------------------------

@pytest.mark.parametrize("config, words", [
    (b"{not json", "JSONDecodeError"),
    (b'{"hidden_size": 64}', "has no 'num_"),
    (b'["a list"]', "TypeError: it holds a JSON list"),
    (json.dumps({"num_hidden_layers": 0, "hidden_size": 64, "num_attention_heads": 0,
                 "intermediate_size": 128, "vocab_size": 256, "max_position_embeddings": 512,
                 "rms_norm_eps": 1e-6}).encode(), "ZeroDivisionError"),
])
def test_pull_auto_names_a_broken_config_json(capsys, fake_hf, config: bytes,
                                              words: str) -> None:
    (Path(os.environ["VIBE_LOCAL_HOME"])).mkdir(parents=True, exist_ok=True)
    (Path(os.environ["VIBE_LOCAL_HOME"]) / "models.toml").write_text(
        '[models."broken"]\nname = "broken"\nsource = "test/Broken"\n'
        'architecture = "Qwen2ForCausalLM"\nparameters = 1000000\ncontext = 2048\n'
        'ladder = ["Q8_0", "Q4_K_M"]\n', encoding="utf-8")
    fake_hf.add_repo("test/Broken", {"config.json": config})
    code, _, err = _cli(capsys, "pull", "broken")
    line = _one_line(err)
    assert code == 1 and "config.json of test/Broken" in line and words in line
    assert "vibe-local pull broken:Q4_K_M" in line and not model_dir("broken").exists()


# --- doctor without llama_cpp -----------------------------------------------------------------

def test_doctor_reports_a_llama_cpp_that_will_not_import(capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # `import llama_cpp` now fails
    code, out, err = _cli(capsys, "doctor")
    assert code == 1
    assert "BROKEN: ModuleNotFoundError" in out and "RAM " in out and "CPU " in out
    assert "uv sync --reinstall-package llama-cpp-python" in out
    assert "cannot be imported" in _one_line(err)
    code, out, _ = _cli(capsys, "doctor", "--json")
    data = json.loads(out)
    assert code == 1 and data["selftest"] is None and data["import_error"]
    assert data["hardware"]["ram_total"] > 0


# --- stdin for `run` in process (StringIO has no .buffer) ------------------------------------

def test_run_reads_binary_stdin_strictly(monkeypatch) -> None:
    from vibe_local.commands.run import _read_stdin

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("é ok".encode())))
    assert _read_stdin() == "é ok"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xff"),
                                                      errors="surrogateescape"))
    with pytest.raises(UnicodeDecodeError):
        _read_stdin()


# --- chat refuses before taking over the screen ----------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["chat", "-m", "nowhere/model.gguf"], "no such model file"),
    (["chat", "-m", "no-such-id"], "known ids"),
    (["chat", "--memory", "lots"], "not a size"),
    (["chat"], "needs a terminal"),  # stdin and stdout are not terminals under pytest
])
def test_chat_refuses_before_the_ui(capsys, monkeypatch, argv, words) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, err = _cli(capsys, *argv)
    assert code == 1 and words in _one_line(err) and out == ""
    assert not (Path(os.environ["VIBE_LOCAL_HOME"]) / "history.sqlite3").exists()


def test_counts_must_be_positive(capsys) -> None:
    for argv in (["fit", "--ctx", "0"], ["run", "--ctx", "-1", "q"], ["chat", "--ctx", "x"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2 and "argument --ctx" in _one_line(capsys.readouterr().err)


def test_ladder_types_with_no_name_is_refused(capsys, tmp_path: Path, tiny_checkpoint) -> None:
    from quantize import cli as qcli
    from quantize.quant_types import DEFAULT_LADDER, parse_types

    assert parse_types(None) == parse_types(" ") == list(DEFAULT_LADDER)
    code = qcli.main(["ladder", str(tiny_checkpoint.path), "--out", str(tmp_path / "l"),
                      "--types", " , "])
    assert code == 1 and "names no type" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "l").exists()
