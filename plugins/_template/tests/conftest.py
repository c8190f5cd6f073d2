"""Register the ``unit`` marker (fast tests: no ZooKeeper, no daemons) for runs from this directory.

The ``zk`` marker and the fixtures ``test_template_zk.py`` uses (``zookeeper``, ``zk_hosts``, ``cluster``,
``nodes``) come from pvc-core's pytest plugin, loaded by pytest wherever pvc-core is installed.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: fast test needing no ZooKeeper and no running daemon")
