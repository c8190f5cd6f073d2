"""Starting and stopping the processes the lab owns, by PID only (never by name).

The PID helpers are the ones the test fixtures use (:mod:`pvc_core.testing.processes`); this module adds
what only the lab needs: commands run to completion that fail as a :class:`LabError`, and waiting for a
daemon to be ready.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

from pvc_core.testing.processes import is_running, owned_pid, spawn, terminate
from pvc_lab.errors import LabError

__all__ = ["is_running", "owned_pid", "run", "spawn", "terminate", "wait_started"]


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
