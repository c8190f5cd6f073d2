"""VM disks on the lab's Ceph: a guest whose counter lives on its RBD volume keeps it through a live
migration (no disk copied) and through a power cut of its node; before it starts elsewhere the dead node's
Ceph clients are blocklisted, and ``pvc node ready`` lifts that."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from lab_support import put_back, recovered, restore

from pvc_core.client import Cluster
from pvc_lab import guest
from pvc_lab.lab import Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)")
PLUGIN = "storage-ceph"


@pytest.fixture
def cluster(lab: Lab) -> Iterator[Cluster]:
    with lab.connect() as client:
        yield client
        put_back(lab, client)
        for volume in client.plugin_call(PLUGIN, "volume.list", {"pool": "vms"}):
            client.plugin_call(PLUGIN, "volume.remove", {"pool": "vms", "name": volume["name"]})


def console(cluster: Cluster, vm: str) -> list[str]:
    return list(next(iter(cluster.vms.console(vm, lines=5000))))


def last(lines: list[str], prefix: str) -> int | None:
    found = guest.numbers(lines, prefix)
    return found[-1] if found else None


def counting(cluster: Cluster, vm: str, above: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tick = last(console(cluster, vm), guest.TICK)
        if tick is not None and tick > above:
            return tick
        time.sleep(0.5)
    raise AssertionError(f"{vm} did not count past {above} within {timeout}s")


def a_guest_with_a_disk(lab: Lab, cluster: Cluster, name: str, node: str) -> None:
    cluster.plugin_call(PLUGIN, "volume.add", {"pool": "vms", "name": f"{name}-disk", "size": "16M"})
    vmlinuz, initrd = lab.guest_image()
    cluster.vms.define(guest.domain_xml(name, vmlinuz, initrd), target=node, volumes=[f"vms/{name}-disk"])
    cluster.vms.start(name)
    assert cluster.vms.wait(name, timeout=90).observed == "running"


def test_a_guest_keeps_its_disk_through_a_live_migration(lab: Lab, cluster: Cluster) -> None:
    nodes = lab.settings.node_names()
    a_guest_with_a_disk(lab, cluster, "rbd1", nodes[0])
    before = counting(cluster, "rbd1", 3)
    cluster.vms.migrate("rbd1", nodes[1])
    moved = cluster.vms.wait("rbd1", timeout=120)
    assert moved.node == nodes[1] and moved.last_migration.get("live")
    after = counting(cluster, "rbd1", before + 2)
    lines = console(cluster, "rbd1")
    assert guest.boots(lines) == 1  # no reboot: the disk stayed on Ceph
    assert last(lines, guest.DISK_RESUMES) == 0 and after > before


def test_after_a_power_cut_the_guest_resumes_from_its_disk_and_the_node_stays_cut_off_until_ready(
    lab: Lab, cluster: Cluster
) -> None:
    victim = next(n for n in lab.settings.node_names() if n != cluster.primary())
    a_guest_with_a_disk(lab, cluster, "rbd2", victim)
    at_cut = counting(cluster, "rbd2", 5)
    lab.bmc(victim).power("off")
    recovered(cluster, lab, victim, ["rbd2"])
    fenced = cluster.plugin_data(PLUGIN).get(f"fenced/{victim}")
    address = lab.settings.node_address(lab.settings.node_names().index(victim))
    assert fenced == {"blocklisted": [f"{address}:0/0"]}  # every client of that node, QEMU's included
    deadline = time.monotonic() + 60
    while last(console(cluster, "rbd2"), guest.DISK_RESUMES) in (None, 0) and time.monotonic() < deadline:
        time.sleep(0.5)
    resumed = last(console(cluster, "rbd2"), guest.DISK_RESUMES)
    assert resumed is not None and resumed >= at_cut  # what it wrote before the cut, not an older state
    restore(lab, cluster, victim)  # powered on, made ready: the blocklist is lifted
    assert cluster.plugin_data(PLUGIN).get(f"fenced/{victim}") is None
