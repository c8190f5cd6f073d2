"""Starting and stopping the processes the lab owns, by PID only (never by name)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pvc_lab.errors import LabError


def is_running(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie (``kill -0`` succeeds on zombies)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def cmdline(pid: int) -> str:
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


def run(argv: Sequence[str], timeout: float, error: type[LabError] = LabError, **options: Any) -> Any:
    """Run a command to completion (``subprocess.run`` ``options``: input, text, cwd) and return its
    ``CompletedProcess``; one ``error`` naming the command and its last line of standard error when it
    cannot start, fails or outlives ``timeout`` seconds."""
    command = " ".join(argv)
    try:
        result = subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False, **options)
    except FileNotFoundError as exc:
        raise error(f"'{argv[0]}' is not installed; run scripts/setup all") from exc
    except subprocess.TimeoutExpired as exc:
        raise error(f"'{command}' did not finish within {timeout:g}s") from exc
    except OSError as exc:
        raise error(f"'{command}' could not start: {exc.strerror}") from exc
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace") if isinstance(result.stderr, bytes) else result.stderr
        last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "no message")
        raise error(f"'{command}' failed (exit status {result.returncode}): {last.strip()}")
    return result


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


def wait_started(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout: float,
    exited: Exception,
    too_slow: Exception,
    interval: float = 0.1,
) -> None:
    """Poll ``ready`` until it is true; raise ``exited`` if the process ends first, ``too_slow`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise exited
        if time.monotonic() > deadline:
            raise too_slow
        time.sleep(interval)
