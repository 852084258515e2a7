"""Where vibe-quantize writes: unusable locations are refused before the work starts, failed
writes leave nothing behind (no temporary file, no directory created for it), full disks
included. Read-only and full locations are real: a permission bit for an ordinary user, a
read-only bind mount or a small tmpfs in a private mount namespace otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.qwen2_checkpoint import TinyCheckpoint
from quantize.atomic import atomic_output, check_output_dir, check_output_file
from quantize.cli import main
from quantize.errors import OutputPathError

REPO_ROOT = Path(__file__).parents[1]


def _one_line_error(capsys: pytest.CaptureFixture, *argv: str) -> str:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vibe-quantize: error: "), captured.err
    return lines[0]


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_convert_into_an_existing_directory_is_refused(capsys, tiny_checkpoint: TinyCheckpoint,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "models"
    out.mkdir()
    line = _one_line_error(capsys, "convert", str(tiny_checkpoint.path), "-o", str(out))
    assert f"{out} is a directory" in line and f"{out}/tiny-qwen2-F16.gguf" in line
    assert _tree(tmp_path) == ["models"]


def test_convert_below_a_file_is_refused(capsys, tiny_checkpoint: TinyCheckpoint,
                                        tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("keep me")
    line = _one_line_error(capsys, "convert", str(tiny_checkpoint.path),
                           "-o", str(tmp_path / "notes" / "sub" / "m.gguf"))
    assert "notes is a file, not a directory" in line
    assert _tree(tmp_path) == ["notes"] and (tmp_path / "notes").read_text() == "keep me"


def test_ladder_into_an_existing_file_is_refused_before_any_download(capsys,
                                                                    tmp_path: Path) -> None:
    """A Hub repo id as source, offline: the error is the output's, so it came before a fetch."""
    (tmp_path / "out").write_text("keep me")
    line = _one_line_error(capsys, "ladder", "owner/model-that-does-not-exist",
                           "--out", str(tmp_path / "out"))
    assert "out is a file, not a directory" in line
    assert _tree(tmp_path) == ["out"] and (tmp_path / "out").read_text() == "keep me"


def _private_mounts() -> str | None:
    """`unshare` when this user may make private user + mount namespaces, else None."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-rm", "true"]).returncode != 0:
        return None
    return unshare


def _run_cli_script(script: str, *, private: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [_private_mounts() or "unshare", "-rm", "sh", "-c", script] if private \
        else ["sh", "-c", script]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def _read_only(directory: Path) -> tuple[str, bool]:
    """A shell prefix that makes `directory` read-only, and whether it needs namespaces.

    An ordinary user gets a permission bit (restored by the caller); root ignores those, so
    root gets a read-only bind mount in a private mount namespace instead.
    """
    if os.geteuid() != 0:
        directory.chmod(0o555)
        return "", False
    if _private_mounts() is None:
        pytest.skip("running as root without user and mount namespaces: no way to make a "
                    "directory read-only here (an ordinary user's run covers this)")
    return f"mount --bind {directory} {directory} && mount -o remount,bind,ro {directory} && ", True


@pytest.mark.parametrize("command", ["convert", "ladder"])
def test_read_only_location_is_one_line_and_leaves_nothing(command: str,
                                                           tiny_checkpoint: TinyCheckpoint,
                                                           tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    prefix, private = _read_only(locked)
    out = ["-o", f"{locked}/sub/m.gguf"] if command == "convert" else ["--out", f"{locked}/lad"]
    script = (f"{prefix}{sys.executable} -m quantize.cli {command} {tiny_checkpoint.path} "
              f"{' '.join(out)}")
    try:
        result = _run_cli_script(script, private=private)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vibe-quantize: error: cannot write to "), \
        result.stderr
    assert str(locked) in lines[0] and "choose another output location" in lines[0]
    assert _tree(tmp_path) == ["locked"]


def _on_small_disk(size: str, command: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run `command` (with {disk} in it) with a tmpfs of `size` mounted at {disk}."""
    if _private_mounts() is None:
        pytest.skip("user and mount namespaces are not available here")
    disk = tmp_path / "small-disk"
    disk.mkdir()
    script = (f"mount -t tmpfs -o size={size} tmpfs {disk} && "
              f"{sys.executable} -m quantize.cli {command.format(disk=disk)}; code=$?; "
              f"find {disk} -mindepth 1 | sort; exit $code")
    return _run_cli_script(script, private=True)


def test_disk_full_in_llama_cpp_keeps_finished_steps_only(tiny_checkpoint: TinyCheckpoint,
                                                          tmp_path: Path) -> None:
    """The master fits on 5 MiB, its Q8_0 does not: llama.cpp's half-written file is removed."""
    result = _on_small_disk("5m", f"ladder {tiny_checkpoint.path} --types Q8_0 --out "
                            "{disk}/lad --name t", tmp_path)
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("vibe-quantize: error: not enough disk space to write") and \
        "t-Q8_0.gguf" in last
    disk = tmp_path / "small-disk"
    assert result.stdout.split() == [f"{disk}/lad", f"{disk}/lad/manifest.json",
                                     f"{disk}/lad/t-BF16.gguf"]


def test_failed_write_removes_the_temporary_file_and_new_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.bin"
    with pytest.raises(RuntimeError), atomic_output(target) as temp:
        temp.write_bytes(b"half")
        assert temp.parent.is_dir() and temp.name.startswith(".file.bin.partial-")
        raise RuntimeError("the writer failed")
    assert _tree(tmp_path) == []


def test_target_that_became_a_directory_is_one_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    with pytest.raises(OutputPathError, match="cannot write .*file.bin"), \
            atomic_output(target) as temp:
        temp.write_bytes(b"done")
        target.mkdir()  # someone made a directory of that name meanwhile: rename fails
    assert _tree(tmp_path) == ["file.bin"]


def test_checks_create_nothing(tmp_path: Path) -> None:
    assert check_output_file(tmp_path / "x" / "y.gguf") == tmp_path / "x" / "y.gguf"
    assert check_output_dir(tmp_path / "new" / "dir") == tmp_path / "new" / "dir"
    assert _tree(tmp_path) == []
    with pytest.raises(OutputPathError, match="is a directory"):
        check_output_file(tmp_path)
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputPathError, match="is a file"):
        check_output_dir(tmp_path / "f")
    with pytest.raises(OutputPathError, match="is a file"):
        check_output_file(tmp_path / "f" / "g.gguf")


def test_types_without_a_name_are_refused_before_any_work(capsys,
                                                          tiny_checkpoint: TinyCheckpoint,
                                                          tmp_path: Path) -> None:
    """`--types ,` used to build the master alone and call that a ladder."""
    line = _one_line_error(capsys, "ladder", str(tiny_checkpoint.path), "--out",
                           str(tmp_path / "l"), "--types", ", ,")
    assert "names no type" in line and "Q4_K_M,Q8_0" in line
    assert _tree(tmp_path) == []
