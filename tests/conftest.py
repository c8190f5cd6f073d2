"""What every tier shares: each test's marker from its folder.

The fixtures (``zookeeper``, ``zk_hosts``, ``cluster``, ``nodes``) come from pvc-core's pytest plugin,
:mod:`pvc_core.testing.pytest_plugin`, which pytest loads from its ``pytest11`` entry point; they are the
same fixtures a third-party plugin's tests get. Everything a fixture starts it stops, by PID, even when
the test fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "zk", "system")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier from its folder (tests/unit, tests/zk, tests/system)."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if "tests" in parts and tier in parts:
                item.add_marker(getattr(pytest.mark, tier))
