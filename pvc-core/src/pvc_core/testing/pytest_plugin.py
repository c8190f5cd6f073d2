"""PVC's pytest plugin: fixtures for tests against a real ZooKeeper and real pvcd processes.

pytest loads it by itself wherever pvc-core is installed (the ``pytest11`` entry point ``pvc`` in
pvc-core's pyproject.toml); nothing to import or to list in a conftest.py. A conftest.py fixture of the
same name overrides one of these. ``pytest -p no:pvc`` turns the plugin off.

* ``zookeeper`` (session): one standalone ZooKeeper server (Debian's package, run with java) on
  127.0.0.1:23810, started when a test first needs it and stopped at the end of the session;
* ``zk_hosts``: a fresh cluster for one test: its own chroot in that server, initialised as
  ``pvc cluster init`` does, deleted afterwards; the connection string ends in the chroot;
* ``cluster``: a :class:`pvc_core.client.Cluster` connected to ``zk_hosts``;
* ``nodes``: :class:`pvc_core.testing.Nodes` in the test's ``tmp_path``: ``nodes.start(name, zk_hosts,
  coordinators, **config)`` runs a pvcd; every node started is stopped by PID at teardown, even when the
  test fails.

It also registers the tier markers PVC's docs use, unless the project registers them itself: ``unit``
(no services), ``zk`` (the server) and ``system`` (a lab).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pvc_core.testing.nodes import Nodes
from pvc_core.testing.zookeeper import ZooKeeper

if TYPE_CHECKING:
    from pvc_core.client import Cluster

ZOOKEEPER_PORT = 23810
MARKERS = {
    "unit": "unit: no services; runs in seconds",
    "zk": "zk: needs a real ZooKeeper (the zookeeper fixture starts one)",
    "system": "system: a lab (network namespaces and real daemons; needs root)",
}


def pytest_configure(config: pytest.Config) -> None:
    registered = {line.split(":", 1)[0].strip() for line in config.getini("markers")}
    for name, line in MARKERS.items():
        if name not in registered:
            config.addinivalue_line("markers", line)


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeper]:
    """A standalone ZooKeeper server on 127.0.0.1:23810 for the session."""
    server = ZooKeeper(tmp_path_factory.mktemp("zookeeper"), size=1, base_port=ZOOKEEPER_PORT)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def zk_hosts(zookeeper: ZooKeeper) -> Iterator[str]:
    """A fresh, initialised cluster: its own chroot in the shared server, removed afterwards."""
    # imported here: pytest loads this plugin in every run, most of which never touch ZooKeeper
    from pvc_core.client import Cluster
    from pvc_core.zk.session import ZkSession

    chroot = f"/pvctest-{uuid.uuid4().hex[:12]}"
    admin = ZkSession(zookeeper.hosts)
    admin.start()
    try:
        admin.ensure(chroot)
        hosts = f"{zookeeper.hosts}{chroot}"
        with Cluster.connect(hosts) as cluster:
            cluster.init()
        yield hosts
        admin.delete(chroot, recursive=True)
    finally:
        admin.stop()


@pytest.fixture
def cluster(zk_hosts: str) -> Iterator[Cluster]:
    """A client of the test's cluster."""
    from pvc_core.client import Cluster

    with Cluster.connect(zk_hosts) as client:
        yield client


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    """Start pvcd nodes (config files and logs in ``tmp_path``); all are stopped at teardown."""
    started = Nodes(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
