"""Run untrusted Python (model-written code) in a separate, limited, network-less process.

The benchmark (and the chat's /run) never `exec`s generated code in its own process. Each
program runs in a child `python -I -S` (isolated mode, no site-packages: HumanEval needs only
the standard library) in a fresh temporary directory that is its cwd, HOME and TMPDIR and is
deleted afterwards, with a minimal environment, stdin closed (or a given text) and its own
process group (killed with SIGKILL on timeout and after exit, so stray children go too).

Before the program runs, a small launcher in the child (sandbox_launcher.py) cuts the network,
sets resource limits and disables process spawning and file removal at the Python level. It runs
in the child rather than in a `preexec_fn`, because `preexec_fn` is unsafe when the parent has
threads (llama.cpp's are running) — and it reports back which isolation it achieved:

* "netns": a new user + network namespace (`unshare(2)` through ctypes; the project supports
  Python 3.10, which lacks `os.unshare`). Only a loopback interface that is down exists, so every
  connection fails, 127.0.0.1 included, and DNS cannot be reached.
* "socket-guard": namespaces unavailable (macOS, kernels that forbid unprivileged user
  namespaces): socket creation and name resolution are replaced by functions that raise. A
  Python-level guard only: a determined program (ctypes) could get around it.

Resource limits (where the platform has them): address space (`memory_bytes`), CPU seconds,
size of files written, number of processes (RLIMIT_NPROC, which Linux does not enforce for
root), no core dumps. Not covered: reads of files the user can read, and writes through the
file API outside the temporary directory (only removal and renaming are disabled).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

MiB = 2**20
TAIL_CHARS = 2000
LAUNCHER = Path(__file__).with_name("sandbox_launcher.py")


@dataclass(frozen=True)
class SandboxResult:
    """How one untrusted program went. `passed` means it exited 0 within the time limit."""

    passed: bool
    exit_code: int | None  # None when killed by a signal
    timed_out: bool
    killed_by: str | None  # signal name, e.g. "SIGKILL" (timeout) or "SIGXCPU" (CPU limit)
    stdout_tail: str
    stderr_tail: str
    isolation: str  # "netns", "socket-guard", or "none" if the launcher never reported
    elapsed_s: float = 0.0  # wall-clock time from start to exit (or kill)

    def summary(self) -> str:
        """One line for a report: passed, or how it failed."""
        if self.passed:
            return "passed"
        if self.timed_out:
            return "timed out"
        if self.killed_by:
            return f"killed by {self.killed_by}"
        lines = [line for line in self.stderr_tail.splitlines() if line.strip()]
        return f"exit {self.exit_code}" + (f": {lines[-1].strip()[:200]}" if lines else "")


def check_supported() -> None:
    """The sandbox needs POSIX; a task that runs code asks before its first item, not during.

    Raises:
        InvalidRequestError: not a POSIX system (no resource limits or process groups).
    """
    if os.name != "posix":
        from ..errors import InvalidRequestError

        raise InvalidRequestError("running generated code needs Linux or macOS (the sandbox "
                                  "relies on POSIX resource limits); use WSL on Windows")


def run_untrusted(code: str, *, timeout_s: float = 10, memory_bytes: int = 512 * MiB,
                  cpu_s: int | None = None, max_processes: int = 64,
                  file_bytes: int = 64 * MiB, run_name: str = "__main__",
                  namespaces: bool = True, stdin: str | None = None,
                  cancel: threading.Event | None = None) -> SandboxResult:
    """Run `code` as a Python program in the sandbox described in the module docstring.

    Args:
        timeout_s: wall-clock limit; the process group is killed when it passes.
        memory_bytes: address-space limit (RLIMIT_AS) of the program.
        cpu_s: CPU-time limit; defaults to a second more than the wall-clock limit, so a busy
            loop is reported as a timeout (the CPU limit backs up the kill).
        max_processes: RLIMIT_NPROC (counted per user namespace under "netns").
        file_bytes: largest file the program may write (its output included).
        run_name: the program's `__name__` ("__main__" runs its `if __name__ == ...` block).
        namespaces: False skips the namespaces and uses the socket guard (tests cover both).
        stdin: text for the program's standard input (None: closed, reads get nothing).
        cancel: when set (by another thread), the program is killed at once (the chat sets it
            when it quits, so an endless loop does not hold the exit up to the time limit).

    Returns:
        A SandboxResult; the program's failures are results, never exceptions.

    Raises:
        InvalidRequestError: not a POSIX system (no resource limits or process groups).
    """
    check_supported()
    cpu = cpu_s if cpu_s is not None else math.ceil(timeout_s) + 1
    limits = f"{memory_bytes},{cpu},{file_bytes},{max_processes}"
    with tempfile.TemporaryDirectory(prefix="vibe-sandbox-") as work, \
            tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryFile() as given:
        program = Path(work) / "program.py"
        program.write_text(code, encoding="utf-8")
        given.write((stdin or "").encode("utf-8"))  # a file, not a pipe: no deadlock on size
        given.seek(0)
        report_r, report_w = os.pipe()
        try:
            argv = [sys.executable, "-I", "-S", str(LAUNCHER), str(report_w), limits, run_name,
                    "netns" if namespaces else "guard", program.name]
            started = time.perf_counter()
            proc = subprocess.Popen(argv, cwd=work, env=_clean_env(work),
                                    stdin=subprocess.DEVNULL if stdin is None else given,
                                    stdout=out, stderr=err, pass_fds=(report_w,),
                                    start_new_session=True)
            os.close(report_w)
            report_w = -1
            timed_out = _wait(proc, timeout_s, cancel)
            elapsed = time.perf_counter() - started
            isolation = _read_report(report_r)
        finally:
            os.close(report_r)
            if report_w >= 0:
                os.close(report_w)
        return replace(_result(proc.returncode, timed_out, isolation, _tail(out), _tail(err)),
                       elapsed_s=elapsed)


def _clean_env(work: str) -> dict[str, str]:
    """Only what a Python program needs; nothing of the benchmark's own environment."""
    return {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}


def _wait(proc: subprocess.Popen, timeout_s: float, cancel: threading.Event | None) -> bool:
    """Wait for the program; kill its whole process group on timeout (or when `cancel` is
    set). True if it timed out."""
    deadline = time.monotonic() + timeout_s
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        try:
            proc.wait(timeout=max(0.0, min(left, 0.1 if cancel is not None else left)))
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                timed_out = True
                break
            if cancel is not None and cancel.is_set():
                break
    _kill_group(proc)
    proc.wait()
    return timed_out


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the program's process group (its children too), if anything is left of it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


def _read_report(fd: int) -> str:
    """The launcher writes its isolation word and closes the pipe before user code runs."""
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, 256)
    except BlockingIOError:
        data = b""
    return data.decode("ascii", "replace").strip() or "none"


def _tail(file) -> str:
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(max(0, size - 4 * TAIL_CHARS))
    return file.read().decode("utf-8", "replace")[-TAIL_CHARS:]


def _result(returncode: int, timed_out: bool, isolation: str, stdout: str,
            stderr: str) -> SandboxResult:
    killed_by = None
    if returncode < 0:
        try:
            killed_by = signal.Signals(-returncode).name
        except ValueError:
            killed_by = f"signal {-returncode}"
    exit_code = returncode if returncode >= 0 else None
    return SandboxResult(passed=returncode == 0 and not timed_out, exit_code=exit_code,
                         timed_out=timed_out, killed_by=killed_by, stdout_tail=stdout,
                         stderr_tail=stderr, isolation=isolation)
