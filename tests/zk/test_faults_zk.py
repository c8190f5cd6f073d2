"""ZooKeeper faults under a running cluster, on a real 3-member ensemble."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Nodes, domain_xml, wait_until

from pvc_core.client import Cluster
from pvc_core.testing import ZooKeeper
from pvc_core.zk import paths

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


def _vm_cluster(ensemble_hosts: str, nodes: Nodes, **extra: object) -> list[str]:
    from support import private_hypervisor

    for name in NAMES:
        nodes.start(
            name,
            ensemble_hosts,
            NAMES,
            drivers={"compute": "libvirt"},
            compute_libvirt={"uri": private_hypervisor(nodes.directory, name)},
            vms={"shutdown_timeout": 5.0, "resync_interval": 1.0},
            **extra,
        )
    with Cluster.connect(ensemble_hosts) as cluster:
        wait_until(lambda: settled(cluster), what="a settled cluster")
        wait_until(lambda: all("compute" in v.record.drivers for v in cluster.nodes()), what="compute drivers")
        names = []
        for node in NAMES:
            name = f"{node}-vm"
            cluster.vms.define(domain_xml(name), target=node)
            cluster.vms.start(name)
            names.append(name)
        for name in names:
            wait_until(
                lambda n=name: cluster.vms.get(n).observed == "running" and not cluster.vms.get(n).operation,
                what=f"{name} running",
            )
    return names


def test_a_30s_ensemble_outage_with_default_settings_stops_no_vm_and_fences_no_node(
    ensemble: ZooKeeper, ensemble_hosts: str, nodes: Nodes
) -> None:
    names = _vm_cluster(ensemble_hosts, nodes)
    ensemble.stop(kill=True)
    time.sleep(30)
    ensemble.start()
    with Cluster.connect(ensemble_hosts) as cluster:
        wait_until(lambda: settled(cluster), timeout=30, what="the nodes to resume")
        time.sleep(8)  # past the dead grace: nobody is declared dead or fenced late either
        assert {v.daemon_state for v in cluster.nodes()} == {"run"}
        for name in names:
            record = cluster.vms.get(name)
            assert (record.state, record.observed) == ("start", "running"), record
        assert cluster.faults() == []


def test_with_self_fence_on_an_outage_longer_than_its_interval_stops_the_vms(
    ensemble: ZooKeeper, ensemble_hosts: str, nodes: Nodes
) -> None:
    names = _vm_cluster(ensemble_hosts, nodes, ha={"self_fence_interval": 4.0})
    ensemble.stop(kill=True)
    time.sleep(9)
    ensemble.start()
    with Cluster.connect(ensemble_hosts) as cluster:
        wait_until(lambda: settled(cluster), timeout=30, what="the nodes to resume")
        for name in names:  # each node stopped its own VMs; PVC sees them stopped, not running anywhere
            record = wait_until(
                lambda n=name: (r := cluster.vms.get(n)).state == "stop" and r, timeout=30, what=f"{name} seen stopped"
            )
            assert "stopped outside PVC" in record.failure_reason
    for node in nodes.started:
        assert any(e.get("event") == "self_fence" for e in node.log_events())
