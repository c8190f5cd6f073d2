"""Failover in the lab with default settings: a node's power is cut through its BMC -> every VM it ran
(each with its disk on an RBD volume) is running on another node (as its libvirtd reports, and settled in
PVC): fence, storage fence (blocklist, locks), start elsewhere. Trials on a secondary node and
on the primary coordinator's node; median and worst of each. Needs root (it brings up its own lab).

    .venv/bin/python bench/bench_failover.py [--trials 10]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time

from _common import lab_apart, report

from pvc_core.client import Cluster
from pvc_lab import guest, power
from pvc_lab.lab import Lab


def place(cluster: Cluster, lab: Lab, node: str, names: list[str]) -> None:
    """Have ``names`` run on ``node`` (define, start or migrate them there)."""
    vmlinuz, initrd = lab.guest_image()
    existing = {r.name: r for r in cluster.vms.list()}
    for name in names:
        if name not in existing:
            # each with its disk on Ceph (an RBD volume of pool vms), as the lab's VMs have
            cluster.plugin_call("storage-ceph", "volume.add", {"pool": "vms", "name": f"{name}-disk", "size": "64M"})
            xml = guest.domain_xml(name, vmlinuz, initrd)
            cluster.vms.define(xml, target=node, volumes=[f"vms/{name}-disk"])
            cluster.vms.start(name)
        elif existing[name].node != node:
            cluster.vms.migrate(name, node)
    for name in names:
        cluster.vms.wait(name, timeout=120)


PHASES = ("node_dead", "fencing", "storage_fenced", "fence_result", "vm_recovered", "vm_started", "vm_start_failed")


def phases(lab: Lab, since: float) -> dict[str, float]:
    """Seconds after the cut at which the nodes' pvcds logged each step (the first of each kind)."""
    found: dict[str, float] = {}
    storage: dict[str, float] = {}
    for node in lab.settings.node_names():
        log = lab.state / node / "pvcd.log"
        if not log.exists():
            continue
        for line in log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
                at = datetime.datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
            except (ValueError, KeyError, TypeError):
                continue
            event = entry.get("event")
            if event in PHASES and at >= since and (event not in found or at - since < found[event]):
                found[event] = round(at - since, 2)
                if event == "storage_fenced":  # its own steps, in seconds from its start
                    storage = {f"storage_{k}": v for k, v in (entry.get("seconds") or {}).items()}
            if event == "fence_result" and at >= since and not entry.get("confirmed"):
                found.setdefault("fence_failed", round(at - since, 2))
    ordered = dict(sorted(found.items(), key=lambda item: item[1]))
    return {**ordered, **storage}


def trial(cluster: Cluster, lab: Lab, node: str, names: list[str]) -> tuple[float, dict[str, float]]:
    cut, wall = time.monotonic(), time.time()
    lab.bmc(node).power("off")
    while time.monotonic() - cut < 120:
        records = {r.name: r for r in cluster.vms.list()}
        if all(
            records[n].node != node and records[n].observed == "running" and records[n].operation is None for n in names
        ):
            return time.monotonic() - cut, phases(lab, wall)
        time.sleep(0.05)
    raise SystemExit(f"the VMs of {node} were not running elsewhere after 120 s: {phases(lab, wall)}")


def restore(cluster: Cluster, lab: Lab, node: str) -> None:
    lab.bmc(node).power("on")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (cluster.node(node).alive and cluster.node(node).daemon_state == "run"):
        time.sleep(0.2)
    cluster.ready(node, wait=True, timeout=120)
    lab.wait_storage_settled()  # its memstore OSD came back empty: let Ceph copy its share back first


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    secondary: list[float] = []
    primary: list[float] = []
    secondary_steps: list[dict[str, float]] = []
    primary_steps: list[dict[str, float]] = []
    with lab_apart("pvcf", "10.77.0.0/24", 28181, "failover") as lab, lab.connect() as cluster:
        names = ["f1", "f2"]
        for index in range(args.trials * 2):
            on_primary = index % 2 == 1
            current = cluster.primary()
            node = current if on_primary else next(n for n in lab.settings.node_names() if n != current)
            assert node is not None
            place(cluster, lab, node, names)
            time.sleep(1)
            seconds, steps = trial(cluster, lab, node, names)
            (primary if on_primary else secondary).append(seconds)
            (primary_steps if on_primary else secondary_steps).append(steps)
            restore(cluster, lab, node)
            assert all(power.is_on(lab, n) for n in lab.settings.node_names())

    def figures(values: list[float], steps: list[dict[str, float]]) -> dict[str, object]:
        return {
            "trials": len(values),
            "median_s": round(statistics.median(values), 2),
            "worst_s": round(max(values), 2),
            "all_s": [round(v, 2) for v in values],
            "steps_s": steps,  # per trial: seconds after the cut of the first log line of each step
        }

    report(
        "failover",
        {
            "what": "power cut through the BMC -> every VM of that node running on another node (2 VMs per trial, "
            "each with an RBD disk: power fence, storage fence, start)",
            "settings": "defaults: session timeout 3 s, dead grace 6 s, takeover grace = dead grace",
            "secondary_node": figures(secondary, secondary_steps),
            "primary_node": figures(primary, primary_steps),
            "target_median_s": 15,
        },
    )


if __name__ == "__main__":
    main()
