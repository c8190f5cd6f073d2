"""Register the ``unit`` marker (fast tests: no ZooKeeper, no daemons) for runs from this directory."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: fast test needing no ZooKeeper and no running daemon")
