"""Starting and stopping the processes a test (or the lab) owns, by PID only, never by name."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def is_running(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie (``kill -0`` succeeds on zombies)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def cmdline(pid: int) -> str:
    """The command line of ``pid``, its arguments joined by spaces ("" when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def terminate(pid: int, timeout: float = 5.0, sig: int = signal.SIGTERM) -> None:
    """Signal ``pid`` and wait for it to go; SIGKILL when it outlives ``timeout``."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_running(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(100):
        _reap(pid)
        if not is_running(pid):
            return
        time.sleep(0.05)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def read_pid(path: Path) -> int | None:
    """The PID written in ``path``, or None when there is none."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def owned_pid(pidfile: Path, marker: str) -> int | None:
    """The PID recorded in ``pidfile`` if that process is alive and its command line names ``marker`` (its
    own config file): a PID reused by an unrelated process is never taken for ours."""
    pid = read_pid(pidfile)
    if pid is None or not is_running(pid) or marker not in cmdline(pid):
        return None
    return pid


def spawn(argv: Sequence[str], log: Path, pidfile: Path) -> subprocess.Popen[bytes]:
    """Start a daemon in its own session, its output appended to ``log``, its PID written to ``pidfile``."""
    with open(log, "ab") as output:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    pidfile.write_text(f"{process.pid}\n")
    return process
