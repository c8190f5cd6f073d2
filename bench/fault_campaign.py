"""A seeded fault campaign in a lab of its own: trial after trial, a fault picked by the seed is caused for
real (``pvc_lab.faults``: a power cut through the BMC, pvcd killed, pvcd paused within and past the grace,
a node cut off the network, a ZooKeeper member killed), on VMs with disks on Ceph and interfaces on a
managed network; the cluster is left to settle and the fault is undone; invariants are checked all along:

* never one VM running on two nodes (every libvirtd asked, every half second);
* no VM definition lost (every VM the campaign defined is still in ``pvc vm list``);
* every VM that should run runs within ``--recovery`` seconds of the fault (or of its undoing).

It writes a JSON report (every trial: fault, node, timings, violations) to ``bench/results/`` and prints
it; the same ``--seed`` replays the same faults in the same order.

    sudo .venv/bin/python bench/fault_campaign.py --trials 100 --seed 1
"""

from __future__ import annotations

import argparse
import random
import subprocess
import threading
import time
from collections import Counter
from typing import Any

from _common import lab_apart, report

from pvc_core.client import Cluster
from pvc_lab import faults, guest
from pvc_lab.lab import DEMO_VNI, Lab

KINDS = ("power_cut", "pvcd_kill", "pvcd_pause_short", "pvcd_pause_long", "partition", "zookeeper_member")
VMS = ("c1", "c2", "c3")


class Invariants:
    """Polls every node's libvirtd for running domains; records any VM found running on two nodes."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.violations: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="invariants", daemon=True)

    def running(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for node in self.lab.settings.node_names():
            uri = self.lab.libvirtd(node).uri
            try:
                result = subprocess.run(
                    ["virsh", "-c", uri, "list", "--name"], capture_output=True, text=True, timeout=5, check=False
                )
            except subprocess.TimeoutExpired:
                continue  # a node powered off or paused: its libvirtd may not answer
            if result.returncode == 0:
                for name in result.stdout.split():
                    found.setdefault(name, []).append(node)
        return found

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for name, nodes in self.running().items():
                if len(nodes) > 1:
                    self.violations.append(f"{time.strftime('%H:%M:%S')} {name} runs on {', '.join(nodes)}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def place_vms(cluster: Cluster, lab: Lab) -> None:
    vmlinuz, initrd = lab.guest_image()
    nodes = lab.settings.node_names()
    for index, name in enumerate(VMS):
        cluster.plugin_call("storage-ceph", "volume.add", {"pool": "vms", "name": f"{name}-disk", "size": "64M"})
        xml = guest.domain_xml(name, vmlinuz, initrd)
        networks = [{"network": str(DEMO_VNI), "mac": f"52:54:00:66:00:0{index + 1}"}]
        cluster.vms.define(xml, target=nodes[index % len(nodes)], volumes=[f"vms/{name}-disk"], networks=networks)
        cluster.vms.start(name)
    for name in VMS:
        cluster.vms.wait(name, timeout=120)


def all_running(cluster: Cluster) -> bool:
    """Every campaign VM started, running, settled, and on a node that is alive."""
    alive = {view.name for view in cluster.nodes() if view.alive}
    records = {r.name: r for r in cluster.vms.list()}
    return all(
        n in records
        and records[n].state == "start"
        and records[n].observed == "running"
        and records[n].operation is None
        and records[n].node in alive
        for n in VMS
    )


def wait(condition: Any, timeout: float) -> float | None:
    """Seconds until ``condition()`` held (None: it did not within ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if condition():
                return round(time.monotonic() - started, 2)
        except Exception:  # noqa: BLE001 - the cluster is moving: look again
            pass
        time.sleep(0.5)
    return None


def bring_back(cluster: Cluster, lab: Lab, node: str, timeout: float) -> None:
    """The node running and ready again, whatever the fault did to it."""
    faults.node_fault(lab, "heal", node)
    if lab.node_pid(node) is not None:
        faults.node_fault(lab, "resume", node)
    view = cluster.node(node)
    if not view.alive:
        lab.bmc(node).power("on")
    wait(lambda: cluster.node(node).alive and cluster.node(node).daemon_state == "run", timeout)
    if cluster.node(node).record.domain_state != "ready":
        cluster.ready(node, wait=True, timeout=timeout)
    lab.wait_storage_settled(timeout)


def trial(cluster: Cluster, lab: Lab, rng: random.Random, recovery: float) -> dict[str, Any]:
    kind = rng.choice(KINDS)
    nodes = lab.settings.node_names()
    record: dict[str, Any] = {"fault": kind, "at": time.time()}
    if kind == "zookeeper_member":
        member = rng.randint(1, 3)
        record["member"] = member
        faults.zookeeper_fault(lab, "stop", member)
        time.sleep(20)
        faults.zookeeper_fault(lab, "start", member)
        record["recovery_s"] = wait(lambda: all_running(cluster), recovery)
        return record
    node = rng.choice(nodes)
    record["node"] = node
    record["primary"] = cluster.primary()
    started = time.monotonic()
    if kind == "power_cut":
        faults.node_fault(lab, "power-off", node)
    elif kind == "pvcd_kill":
        faults.node_fault(lab, "kill", node)
    elif kind == "partition":
        faults.node_fault(lab, "partition", node)
    elif kind in ("pvcd_pause_short", "pvcd_pause_long"):
        faults.node_fault(lab, "pause", node)
        time.sleep(2.0 if kind == "pvcd_pause_short" else 15.0)
        if lab.node_pid(node) is not None:
            faults.node_fault(lab, "resume", node)
    if kind != "pvcd_pause_short":  # the cluster must see the fault before it can be said to recover from it
        seen = wait(lambda: not cluster.node(node).alive, 30.0)
        record["seen_s"] = None if seen is None else round(time.monotonic() - started, 2)
    back = wait(lambda: all_running(cluster), recovery)
    record["recovery_s"] = None if back is None else round(time.monotonic() - started, 2)  # from the fault
    record["fenced"] = cluster.node(node).daemon_state == "fenced"
    bring_back(cluster, lab, node, 180.0)
    record["back_s"] = round(time.monotonic() - started, 2)
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--recovery", type=float, default=60.0, help="seconds every VM has to run again")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    trials: list[dict[str, Any]] = []
    with lab_apart("pvcc", "10.80.0.0/24", 28481, "campaign") as lab, lab.connect() as cluster:
        place_vms(cluster, lab)
        checker = Invariants(lab)
        checker.start()
        try:
            for index in range(args.trials):
                before = len(checker.violations)
                done = trial(cluster, lab, rng, args.recovery)
                done["index"] = index
                missing = [n for n in VMS if n not in {r.name for r in cluster.vms.list()}]
                done["violations"] = checker.violations[before:] + [f"VM {n} lost" for n in missing]
                if done.get("recovery_s") is None:
                    done["violations"].append(f"not every VM ran again within {args.recovery:g} s")
                trials.append(done)
                print(done, flush=True)
        finally:
            checker.stop()
    recoveries = [t["recovery_s"] for t in trials if t.get("recovery_s") is not None]
    report(
        "fault_campaign",
        {
            "seed": args.seed,
            "trials": len(trials),
            "faults": dict(Counter(t["fault"] for t in trials)),
            "violations": sum(len(t["violations"]) for t in trials),
            "recovery_s": {
                "median": sorted(recoveries)[len(recoveries) // 2] if recoveries else None,
                "worst": max(recoveries) if recoveries else None,
            },
            "every_trial": trials,
        },
    )


if __name__ == "__main__":
    main()
