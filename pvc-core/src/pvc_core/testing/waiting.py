"""Waiting for a condition in a test: poll it rather than sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy, and return that; fail the test naming ``what``
    after ``timeout`` seconds. An exception from ``condition`` counts as not yet (a read while the cluster
    moves)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - a transient read error while the cluster moves
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            import pytest  # here, so that the lab can use pvc_core.testing without pytest installed

            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)
