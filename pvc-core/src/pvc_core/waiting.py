"""The one way PVC waits for something in ZooKeeper to come true: poll, bounded, with a one-line timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from pvc_core.errors import Timeout

T = TypeVar("T")


def poll(
    check: Callable[[], T | None],
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.1,
    stop: threading.Event | None = None,
) -> T:
    """Call ``check()`` until it returns something truthy, and return that.

    ``check`` may raise to end the wait early (a VM that failed, a fence that could not be done). After
    ``timeout`` seconds: :class:`Timeout` naming ``what`` (a callable is asked at that moment, to say where
    things stand). ``stop`` set: Timeout at once (the process is stopping).
    """
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
            described = what() if callable(what) else what
            raise Timeout(f"timed out after {timeout:g}s waiting for {described}")
        if stop is not None:
            stop.wait(interval)
        else:
            time.sleep(interval)
