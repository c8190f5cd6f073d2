"""ZooKeeper faults under a running cluster, on a real 3-member ensemble."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Nodes, wait_until

from pvc_core.client import Cluster
from pvc_core.zk import paths
from pvc_lab.zookeeper import ZooKeeper

NAMES = ["hv1", "hv2", "hv3"]


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeper]:
    servers = ZooKeeper(Path(tmp_path_factory.mktemp("ensemble")), size=3, base_port=24810)
    servers.start()
    yield servers
    servers.stop()


@pytest.fixture
def ensemble_hosts(ensemble: ZooKeeper) -> Iterator[str]:
    ensemble.start()  # a previous test may have stopped members
    chroot = f"/pvcfault-{uuid.uuid4().hex[:8]}"
    with Cluster.connect(ensemble.hosts) as admin:
        admin.zk.ensure(chroot)
    hosts = f"{ensemble.hosts}{chroot}"
    with Cluster.connect(hosts) as cluster:
        cluster.init()
    yield hosts


def sessions(cluster: Cluster) -> dict[str, int]:
    found = {}
    for name in NAMES:
        stat = cluster.zk.exists(paths.liveness(name))
        found[name] = stat.ephemeralOwner if stat is not None else 0
    return found


def settled(cluster: Cluster) -> bool:
    views = cluster.nodes()
    return sum(v.alive and v.daemon_state == "run" for v in views) == 3 and any(
        v.is_primary and v.coordinator_state == "primary" for v in views
    )


def test_one_member_killed_has_no_effect_on_the_nodes(ensemble: ZooKeeper, ensemble_hosts: str, nodes: Nodes) -> None:
    started = nodes.cluster(ensemble_hosts, NAMES)
    with Cluster.connect(ensemble_hosts) as cluster:
        wait_until(lambda: settled(cluster), what="a settled cluster")
        before = (sessions(cluster), cluster.primary(), cluster.status().primary_epoch)
    leader = ensemble.leader()
    assert leader is not None
    ensemble.stop([leader.myid], kill=True)
    time.sleep(5)  # longer than the session timeout
    with Cluster.connect(ensemble_hosts) as cluster:
        wait_until(lambda: settled(cluster), what="the cluster to be settled")
        after = (sessions(cluster), cluster.primary(), cluster.status().primary_epoch)
        assert after == before  # same sessions, same primary, same epoch
        assert {v.daemon_state for v in cluster.nodes()} == {"run"}
    for node in started:
        assert not any(e.get("event") in ("node_dead", "primary_role_lost") for e in node.log_events())


def test_the_whole_ensemble_down_for_10s_and_back(ensemble: ZooKeeper, ensemble_hosts: str, nodes: Nodes) -> None:
    started = nodes.cluster(ensemble_hosts, NAMES)
    with Cluster.connect(ensemble_hosts) as cluster:
        wait_until(lambda: settled(cluster), what="a settled cluster")
        before_sessions, before_primary = sessions(cluster), cluster.primary()
    ensemble.stop(kill=True)
    time.sleep(10)
    ensemble.start()
    with Cluster.connect(ensemble_hosts) as cluster:
        wait_until(lambda: settled(cluster), timeout=20, what="the nodes to resume")
        time.sleep(3)  # longer than the dead grace: nobody is declared dead late either
        assert sessions(cluster) == before_sessions  # the sessions survived the outage
        assert cluster.primary() == before_primary
        assert {v.daemon_state for v in cluster.nodes()} == {"run"}
    for node in started:
        assert node.running()
        events = [e.get("event") for e in node.log_events()]
        assert "node_dead" not in events
        assert "session" in events  # it did notice: suspended, then resumed
