"""High availability for real, in the lab: a node loses power (through its BMC), has its processes killed,
has its network cut, has its pvcd paused, or has a BMC that does not answer. After each, what the nodes'
libvirtds run is checked directly: every VM runs exactly once, or not at all where the policy says wait,
and never twice at any moment in between."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
from lab_support import never_twice, put_back, recovered
from support import wait_until

from pvc_core.client import Cluster
from pvc_lab import guest, netns, power
from pvc_lab.lab import Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)")


@pytest.fixture
def cluster(lab: Lab) -> Iterator[Cluster]:
    with lab.connect() as client:
        yield client
        put_back(lab, client)


def guests_on(lab: Lab, cluster: Cluster, node: str, count: int = 2) -> list[str]:
    vmlinuz, initrd = lab.guest_image()
    names = [f"{node}-g{i}" for i in range(count)]
    for name in names:
        cluster.vms.define(guest.domain_xml(name, vmlinuz, initrd), target=node)
        cluster.vms.start(name)
    for name in names:
        assert cluster.vms.wait(name, timeout=60).observed == "running"
    return names


def a_secondary(cluster: Cluster, lab: Lab) -> str:
    return next(n for n in lab.settings.node_names() if n != cluster.primary())


def test_power_cut_through_the_bmc(lab: Lab, cluster: Cluster) -> None:
    node = a_secondary(cluster, lab)
    vms = guests_on(lab, cluster, node)
    lab.bmc(node).power("off")
    recovered(cluster, lab, node, vms)


def test_the_primary_loses_power(lab: Lab, cluster: Cluster) -> None:
    node = str(cluster.primary())
    vms = guests_on(lab, cluster, node, 1)
    lab.bmc(node).power("off")
    recovered(cluster, lab, node, vms)
    assert cluster.primary() not in (None, node)


def test_every_process_of_a_node_killed(lab: Lab, cluster: Cluster) -> None:
    node = a_secondary(cluster, lab)
    vms = guests_on(lab, cluster, node)
    netns.kill_all(lab.settings.netns_of(node))  # pvcd, libvirtd, QEMU: SIGKILL, the BMC still answers
    recovered(cluster, lab, node, vms)
    assert not power.is_on(lab, node)  # the fence powered it off


def test_network_cut(lab: Lab, cluster: Cluster) -> None:
    node = a_secondary(cluster, lab)
    vms = guests_on(lab, cluster, node)
    rules = (
        "table inet pvccut {\n"
        "  chain in { type filter hook input priority 0; policy drop; }\n"
        "  chain out { type filter hook output priority 0; policy drop; }\n"
        "}\n"
    )
    subprocess.run(
        ["ip", "netns", "exec", lab.settings.netns_of(node), "nft", "-f", "-"],
        input=rules.encode(),
        check=True,
        timeout=30,
    )
    try:
        # its guests keep running until the fence cuts the power: never twice in between
        recovered(cluster, lab, node, vms)
    finally:
        subprocess.run(
            ["ip", "netns", "exec", lab.settings.netns_of(node), "nft", "delete", "table", "inet", "pvccut"],
            check=False,
            timeout=30,
        )


def test_a_short_pvcd_pause_changes_nothing(lab: Lab, cluster: Cluster) -> None:
    node = a_secondary(cluster, lab)
    vms = guests_on(lab, cluster, node, 1)
    pid = lab.node_pid(node)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    time.sleep(1.5)  # shorter than the session timeout
    os.kill(pid, signal.SIGCONT)
    placed = never_twice(lab, 12)  # longer than timeout plus grace
    assert placed[vms[0]] == [node] and cluster.node(node).daemon_state == "run"


def test_a_pvcd_paused_past_the_grace_is_fenced(lab: Lab, cluster: Cluster) -> None:
    node = a_secondary(cluster, lab)
    vms = guests_on(lab, cluster, node, 1)
    pid = lab.node_pid(node)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # its guests keep running: only the fence may stop them
    try:
        recovered(cluster, lab, node, vms)
    finally:
        if lab.node_pid(node) == pid:
            os.kill(pid, signal.SIGCONT)


def test_an_unreachable_bmc_starts_nothing_elsewhere(lab: Lab, cluster: Cluster) -> None:
    node = a_secondary(cluster, lab)
    vms = guests_on(lab, cluster, node, 1)
    lab.bmc(node).stop()  # the BMC does not answer any more
    power.power_off(lab, node)  # and the node dies
    fault = wait_until(
        lambda: next((f for f in cluster.faults() if f["node"] == node), None),
        timeout=90,
        what="a fault about the failed fence",
    )
    assert "were not started elsewhere" in fault["message"]
    placed = never_twice(lab, 5)
    assert vms[0] not in placed  # the policy waits: not running anywhere, and certainly not twice
    assert cluster.vms.get(vms[0]).node == node
