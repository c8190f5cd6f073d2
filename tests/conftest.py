"""Fixtures shared by every tier: a real ZooKeeper (standalone, and an ensemble for fault tests), pvcd
processes started from real config files, and a client. Everything a fixture starts it stops, by PID,
even when the test fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Nodes

from pvc_core.client import Cluster
from pvc_core.zk.session import ZkSession
from pvc_lab.zookeeper import ZooKeeper


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeper]:
    server = ZooKeeper(tmp_path_factory.mktemp("zookeeper"), size=1, base_port=23810)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def zk_hosts(zookeeper: ZooKeeper) -> Iterator[str]:
    """A fresh, initialised cluster: its own chroot in the shared server, removed afterwards."""
    chroot = f"/pvctest-{uuid.uuid4().hex[:12]}"
    admin = ZkSession(zookeeper.hosts)
    admin.start()
    admin.ensure(chroot)
    hosts = f"{zookeeper.hosts}{chroot}"
    with Cluster.connect(hosts) as cluster:
        cluster.init()
    yield hosts
    admin.delete(chroot, recursive=True)
    admin.stop()


@pytest.fixture
def cluster(zk_hosts: str) -> Iterator[Cluster]:
    with Cluster.connect(zk_hosts) as client:
        yield client


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    started = Nodes(tmp_path)
    yield started
    started.stop_all()


TIERS = ("unit", "zk", "system")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier from its folder (tests/unit, tests/zk, tests/system)."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if "tests" in parts and tier in parts:
                item.add_marker(getattr(pytest.mark, tier))
