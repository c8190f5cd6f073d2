"""Helpers for tests that run on the lab: what the libvirtds really run, and putting nodes back."""

from __future__ import annotations

import time
from typing import Any

from pvc_core.client import Cluster
from pvc_lab import demo_network, guest, power
from pvc_lab.lab import DEMO_VNI, Lab


def running_on(lab: Lab) -> dict[str, list[str]]:
    """VM name -> the nodes whose libvirtd runs it (asked of the libvirtds, not of PVC)."""
    import libvirt

    found: dict[str, list[str]] = {}
    for node in lab.settings.node_names():
        if not power.is_on(lab, node):
            continue
        try:
            connection = libvirt.open(lab.libvirtd(node).uri)
        except libvirt.libvirtError:
            continue
        try:
            for domain in connection.listAllDomains():
                if domain.isActive():
                    found.setdefault(domain.name(), []).append(node)
        finally:
            connection.close()
    return found


def never_twice(lab: Lab, seconds: float, until: Any = None) -> dict[str, list[str]]:
    """Watch the libvirtds for ``seconds`` (or until ``until()`` is true): fail if a VM ever runs twice."""
    deadline = time.monotonic() + seconds
    while True:
        placed = running_on(lab)
        twice = {vm: nodes for vm, nodes in placed.items() if len(nodes) > 1}
        assert not twice, f"VMs running on two nodes at once: {twice}"
        if (until is not None and until()) or time.monotonic() > deadline:
            return placed
        time.sleep(0.2)


def recovered(cluster: Cluster, lab: Lab, node: str, vms: list[str], timeout: float = 90) -> dict[str, list[str]]:
    """Wait until ``node`` is fenced and each of ``vms`` runs once, elsewhere (never twice meanwhile)."""

    def done() -> bool:
        placed = running_on(lab)
        return cluster.node(node).daemon_state == "fenced" and all(
            len(placed.get(vm, [])) == 1 and placed[vm][0] != node for vm in vms
        )

    placed = never_twice(lab, timeout, until=done)
    assert done(), f"not recovered in {timeout}s: {placed}"
    return placed


def restore(lab: Lab, cluster: Cluster, node: str) -> None:
    """Power the node back on (if it is off), wait for its pvcd, and make it ready. (Once every node is
    back, wait for Ceph with ``settle``: a node's OSD comes back empty.)"""
    bmc = lab.bmc(node)
    if bmc.pid() is None:
        bmc.start()
    if not power.is_on(lab, node):
        bmc.power("on")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        view = cluster.node(node)
        if view.alive and view.daemon_state == "run":
            break
        time.sleep(0.2)
    cluster.ready(node, wait=True, timeout=120)
    for fault in cluster.faults():
        cluster.zk.delete(f"/faults/{fault['node']}")


def settle(lab: Lab, cluster: Cluster) -> None:
    """Every node's OSD up and Ceph clean again (a memstore OSD comes back empty and is backfilled), so that
    the next test's power cut cannot take the last complete copy of some data; then no fault is left."""
    if lab.settings.ceph:
        lab.wait_storage_settled()
    for fault in cluster.faults():
        cluster.zk.delete(f"/faults/{fault['node']}")


def put_back(lab: Lab, cluster: Cluster) -> None:
    """After a test: every node on and ready, Ceph clean, no fault, no VM left."""
    for node in lab.settings.node_names():
        restore(lab, cluster, node)
    settle(lab, cluster)
    for record in cluster.vms.list():
        if record.observed == "running" or record.state not in ("stop", "disable", "fail"):
            cluster.vms.stop(record.name)
            cluster.vms.wait(record.name, timeout=60)
        cluster.vms.remove(record.name)


def two_guests(lab: Lab, cluster: Cluster, names: tuple[str, str], nodes: tuple[str, str]) -> None:
    """Two lab guests on network 100, on two nodes, each pinging the other (addresses by DHCP)."""
    vmlinuz, initrd = lab.guest_image()
    plugin = "builtin.networks"
    for index, (name, node) in enumerate(zip(names, nodes, strict=True)):
        cluster.plugin_call(
            plugin,
            "dhcp.add",
            {
                "network": str(DEMO_VNI),
                "mac": f"52:54:00:99:00:0{index + 1}",
                "address": f"10.100.0.{60 + index}",
                "hostname": name,
            },
        )
        xml = guest.domain_xml(name, vmlinuz, initrd, peer=f"10.100.0.{60 + (1 - index)}")
        cluster.vms.define(xml, target=node, networks=[{"network": "demo", "mac": f"52:54:00:99:00:0{index + 1}"}])
        cluster.vms.start(name)
    for name in names:
        assert cluster.vms.wait(name, timeout=90).observed == "running"
    answering = demo_network.wait_answering(cluster, list(names), timeout=90)
    assert set(answering) == set(names), f"not every guest got an address and answers: {answering}"
