"""Faults a person (or the fault campaign) can cause in the lab, each real: ``pvc lab fault ...``.

* ``power-off`` / ``power-on NODE``: through the node's BMC (``ipmitool chassis power``), as a fencer or a
  tripped breaker would: power off kills every process in its namespace and takes its link down;
* ``kill NODE``: SIGKILL its pvcd (its guests, Ceph daemons and FRR keep running);
* ``pause`` / ``resume NODE``: SIGSTOP / SIGCONT its pvcd (a hung daemon: its session expires meanwhile);
* ``partition`` / ``heal NODE``: an nftables table in its namespace dropping everything on its cluster
  link (``eth0``) but what its BMC needs (nothing: the BMCs live in the root namespace);
* ``kill-osd NODE``: SIGKILL the node's Ceph OSD daemons (its pvcd's storage plugin starts them again);
* ``bmc-off`` / ``bmc-on NODE``: its BMC stops answering (its ipmi_sim stopped), or answers again;
* ``zookeeper stop|start MEMBER``: one member of the ensemble (1, 2 or 3), killed or started.

Each returns what it did and what to watch, in one or two lines.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

from pvc_lab import netns
from pvc_lab.errors import LabError

if TYPE_CHECKING:
    from pvc_lab.lab import Lab

PARTITION_TABLE = "pvc_lab_partition"
NODE_FAULTS = (
    "power-off", "power-on", "kill", "pause", "resume", "partition", "heal", "kill-osd", "bmc-off", "bmc-on"
)  # fmt: skip


def _node(lab: Lab, node: str) -> str:
    if node not in lab.settings.node_names():
        raise LabError(f"no node {node} in the lab ({', '.join(lab.settings.node_names())})")
    return node


def _pvcd(lab: Lab, node: str) -> int:
    pid = lab.node_pid(node)
    if pid is None:
        raise LabError(f"{node}'s pvcd is not running (power it on: pvc lab fault power-on {node})")
    return pid


def node_fault(lab: Lab, fault: str, node: str) -> str:
    """Cause ``fault`` on ``node``; what was done and what to watch."""
    _node(lab, node)
    if fault == "power-off":
        lab.bmc(node).power("off")
        return (
            f"{node}: powered off through its BMC (every process in its namespace killed, its link down); "
            f"watch: pvc node list ({node} dead, then fenced), pvc vm list (its VMs start elsewhere)"
        )
    if fault == "power-on":
        lab.bmc(node).power("on")
        return (
            f"{node}: powered on through its BMC (its Ceph daemons, FRR, PowerDNS, libvirtd and pvcd start); "
            f"watch: pvc node list ({node} runs again), then: pvc node ready {node}"
        )
    if fault in ("kill", "pause", "resume"):
        pid = _pvcd(lab, node)
        sig = {"kill": signal.SIGKILL, "pause": signal.SIGSTOP, "resume": signal.SIGCONT}[fault]
        os.kill(pid, sig)
        what = {
            "kill": f"{node}: pvcd (pid {pid}) killed; its guests keep running. Watch: pvc node list ({node} "
            f"dead after the grace, then fenced through its BMC); bring it back: pvc lab fault power-on {node}",
            "pause": f"{node}: pvcd (pid {pid}) stopped (SIGSTOP); its session expires. Watch: pvc node list; "
            f"undo: pvc lab fault resume {node}",
            "resume": f"{node}: pvcd (pid {pid}) continued (SIGCONT); watch: pvc node list, pvc cluster status",
        }
        return what[fault]
    if fault == "partition":
        rules = (
            f"table inet {PARTITION_TABLE} {{\n"
            '  chain input { type filter hook input priority -200; iifname "eth0" drop; }\n'
            '  chain output { type filter hook output priority -200; oifname "eth0" drop; }\n'
            "}\n"
        )
        netns.run_nft(rules, lab.settings.netns_of(node))
        return (
            f"{node}: cut off from the cluster network (nftables drops everything on its eth0); watch: pvc node "
            f"list ({node} dead, fenced through its BMC), its pvcd's log (it stops its own VMs); undo: pvc lab "
            f"fault heal {node}"
        )
    if fault == "heal":
        netns.run_nft(f"delete table inet {PARTITION_TABLE}\n", lab.settings.netns_of(node), check=False)
        return f"{node}: back on the cluster network; watch: pvc node list"
    if fault == "kill-osd":
        killed = osd_pids(lab, node)
        if not killed:
            raise LabError(f"{node} runs no Ceph OSD (pvc storage osd list)")
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        return (
            f"{node}: Ceph OSD daemon(s) killed (pid {', '.join(map(str, killed))}); watch: pvc storage status "
            "(degraded, then HEALTH_OK once the node's storage plugin started them again)"
        )
    if fault == "bmc-off":
        lab.bmc(node).stop()
        return f"{node}: its BMC no longer answers; a fence of {node} fails until: pvc lab fault bmc-on {node}"
    if fault == "bmc-on":
        bmc = lab.bmc(node)
        if bmc.pid() is None:
            bmc.start()
        return f"{node}: its BMC answers again; watch: pvc cluster status (a failed fence is tried again)"
    raise LabError(f"unknown fault '{fault}' ({', '.join(NODE_FAULTS)})")


def osd_pids(lab: Lab, node: str) -> list[int]:
    """The node's running ceph-osd daemons (from the pid files the storage plugin keeps, each checked)."""
    found = []
    for pidfile in sorted((lab.node_dir(node) / "osds").glob("ceph-*/pid")):
        try:
            pid = int(pidfile.read_text().strip())
            if b"ceph-osd" in open(f"/proc/{pid}/cmdline", "rb").read():  # noqa: SIM115
                found.append(pid)
        except (OSError, ValueError):
            continue
    return found


def zookeeper_fault(lab: Lab, action: str, member: int) -> str:
    members = [m.myid for m in lab.zookeeper.members]
    if member not in members:
        raise LabError(f"no ZooKeeper member {member} (members: {', '.join(map(str, members))})")
    if action == "stop":
        lab.zookeeper.stop([member], kill=True)
        return (
            f"zookeeper {member}: killed; the ensemble keeps its quorum with the others (watch: pvc cluster "
            f"status); undo: pvc lab fault zookeeper start {member}"
        )
    if action == "start":
        lab.zookeeper.start([member])
        return f"zookeeper {member}: started and serving again; watch: pvc lab status"
    raise LabError(f"unknown action '{action}' (stop, start)")
