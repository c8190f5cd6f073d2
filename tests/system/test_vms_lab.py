"""VMs in the lab, for real: libvirtd per node, QEMU (TCG) guests built from Debian's kernel and busybox,
live migration between the nodes' libvirtds. What runs where is checked on the libvirtds themselves."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_support import running_on
from support import wait_until

from pvc_core.client import Cluster
from pvc_lab import guest
from pvc_lab.lab import Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)")


@pytest.fixture
def cluster(lab: Lab) -> Iterator[Cluster]:
    with lab.connect() as client:
        yield client
        for record in client.vms.list():  # each test starts from no VMs
            if record.state not in ("stop", "disable", "fail") or record.observed == "running":
                client.vms.stop(record.name)
                client.vms.wait(record.name, timeout=60)
            client.vms.remove(record.name)


def define(lab: Lab, cluster: Cluster, name: str, target: str) -> None:
    vmlinuz, initrd = lab.guest_image()
    cluster.vms.define(guest.domain_xml(name, vmlinuz, initrd), target=target)


def ticks(cluster: Cluster, name: str) -> tuple[int, int]:
    lines = next(iter(cluster.vms.console(name, lines=5000)))
    counted = [int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("pvc-guest tick ")]
    return (counted[-1] if counted else 0), sum(line.startswith("pvc-guest boot") for line in lines)


def counting(cluster: Cluster, name: str, beyond: int = 0) -> int:
    return wait_until(lambda: (t := ticks(cluster, name)[0]) > beyond and t, timeout=60, what=f"{name} counting")


def test_start_shutdown_and_stop_a_real_guest(lab: Lab, cluster: Cluster) -> None:
    define(lab, cluster, "life", "hv1")
    cluster.vms.start("life")
    assert cluster.vms.wait("life", timeout=60).observed == "running"
    assert running_on(lab) == {"life": ["hv1"]}
    counting(cluster, "life")
    cluster.vms.shutdown("life")  # ACPI: the guest's init powers off on the power button
    record = cluster.vms.wait("life", timeout=60)
    assert record.state == "stop"
    assert "pvc-guest power button: powering off" in "\n".join(next(iter(cluster.vms.console("life", lines=50))))
    assert running_on(lab) == {}
    cluster.vms.start("life")
    cluster.vms.wait("life", timeout=60)
    assert running_on(lab) == {"life": ["hv1"]}
    cluster.vms.stop("life")
    cluster.vms.wait("life", timeout=60)
    assert running_on(lab) == {}


def test_live_migration_keeps_the_guest_running_and_unmigrate_brings_it_back(lab: Lab, cluster: Cluster) -> None:
    define(lab, cluster, "mover", "hv1")
    cluster.vms.start("mover")
    cluster.vms.wait("mover", timeout=60)
    before = counting(cluster, "mover", 1)
    cluster.vms.migrate("mover", "hv2")
    record = cluster.vms.wait("mover", timeout=120)
    assert (record.node, record.last_node, record.observed) == ("hv2", "hv1", "running")
    assert record.last_migration["live"] is True
    assert running_on(lab) == {"mover": ["hv2"]}
    after = counting(cluster, "mover", before + 1)
    assert after > before
    assert ticks(cluster, "mover")[1] == 1  # booted once: the counter went on, no reboot
    cluster.vms.unmigrate("mover")
    record = cluster.vms.wait("mover", timeout=120)
    assert (record.node, record.last_node) == ("hv1", "")
    assert running_on(lab) == {"mover": ["hv1"]}
    counting(cluster, "mover", after)
    assert ticks(cluster, "mover")[1] == 1


def test_flush_moves_three_running_guests_live_and_ready_brings_them_back(lab: Lab, cluster: Cluster) -> None:
    for name in ("f1", "f2", "f3"):
        define(lab, cluster, name, "hv3")
        cluster.vms.start(name)
    for name in ("f1", "f2", "f3"):
        cluster.vms.wait(name, timeout=60)
        counting(cluster, name)
    assert all(nodes == ["hv3"] for nodes in running_on(lab).values())
    view = cluster.flush("hv3", wait=True, timeout=300)
    assert view.record.domain_state == "flushed" and view.record.domain_state_reason == ""
    placed = running_on(lab)
    assert set(placed) == {"f1", "f2", "f3"}
    assert all(len(nodes) == 1 and nodes[0] in ("hv1", "hv2") for nodes in placed.values())
    for name in ("f1", "f2", "f3"):
        assert cluster.vms.get(name).last_migration.get("live") is True
        assert ticks(cluster, name)[1] == 1
    cluster.ready("hv3", wait=True, timeout=300)
    wait_until(lambda: running_on(lab) == {n: ["hv3"] for n in ("f1", "f2", "f3")}, timeout=120, what="VMs back on hv3")


def test_a_restarted_pvcd_adopts_running_guests_without_restarting_them(lab: Lab, cluster: Cluster) -> None:
    define(lab, cluster, "kept", "hv2")
    cluster.vms.start("kept")
    cluster.vms.wait("kept", timeout=60)
    before = counting(cluster, "kept", 1)
    pid = lab.node_pid("hv2")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # pvcd dies; libvirtd and the guest go on
    wait_until(lambda: lab.node_pid("hv2") is None, what="pvcd gone")
    lab.start_node("hv2")
    wait_until(
        lambda: cluster.node("hv2").alive and cluster.node("hv2").daemon_state == "run",
        timeout=30,
        what="hv2's pvcd back",
    )
    time.sleep(2)
    record = cluster.vms.get("kept")
    assert (record.state, record.observed, record.node) == ("start", "running", "hv2")
    assert running_on(lab) == {"kept": ["hv2"]}
    assert counting(cluster, "kept", before) > before
    assert ticks(cluster, "kept")[1] == 1  # adopted, not restarted
    log = Path(lab.node_dir("hv2") / "pvcd.log").read_text()
    assert '"vm_adopted"' in log
