"""The seeded fault campaign: trial after trial, a fault picked by the seed is caused for real in a lab
(:mod:`pvc_lab.faults`), on VMs with disks on Ceph and interfaces on a managed network; the cluster is left
to settle, the fault is undone, and invariants are checked all along:

* never one VM running on two nodes (every libvirtd asked, every half second);
* never a VM started elsewhere before its node's fence was confirmed and its storage fenced (the
  primary's ``vm_recovered`` log line after ``fence_result confirmed`` and ``storage_fenced`` for that node);
* no ZooKeeper data lost: every VM definition unchanged, and a mark written before every trial still there
  after every later one (whole-ensemble outages included);
* every VM that should run runs within ``recovery`` seconds (from the fault, or from its undoing where the
  policy waits: a BMC that does not answer).

Used by ``bench/fault_campaign.py`` (100 trials, a lab of its own) and by the system tier (a short one on the
tests' lab). The same seed replays the same faults in the same order.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pvc_core.errors import PvcError
from pvc_lab import faults, guest, power
from pvc_lab.errors import LabError

if TYPE_CHECKING:
    from pvc_core.client import Cluster
    from pvc_lab.lab import Lab

KINDS = (
    "power_cut",
    "pvcd_kill",
    "pvcd_pause_short",  # within the session timeout: nothing happens
    "pvcd_pause_within_grace",  # the session expires, the node is back before it is declared dead
    "pvcd_pause_long",  # past the grace: fenced
    "partition",
    "zookeeper_member",
    "zookeeper_outage",  # the whole ensemble down 30 s
    "bmc_unreachable",  # a node dies while its BMC does not answer; the BMC comes back 30 s later
    "osd_kill",
    "primary_cut_during_fence",
)
VMS = ("c1", "c2", "c3")
MARKS = "campaign"  # the plugin data key space of the marks (``plugin_data("campaign")``)


class Watcher:
    """Polls every node's libvirtd for running domains; records any VM found running on two nodes."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.violations: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="campaign-watcher", daemon=True)

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
                    self.violations.append(f"{time.strftime('%H:%M:%S')} {name} runs on {', '.join(nodes)} at once")

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def place_vms(cluster: Cluster, lab: Lab, network: int) -> None:
    """The campaign's VMs, one per node, each with a Ceph disk and an interface on ``network``."""
    vmlinuz, initrd = lab.guest_image()
    nodes = lab.settings.node_names()
    defined = {r.name for r in cluster.vms.list()}
    for index, name in enumerate(VMS):
        if name in defined:
            continue
        cluster.plugin_call("storage-ceph", "volume.add", {"pool": "vms", "name": f"{name}-disk", "size": "64M"})
        xml = guest.domain_xml(name, vmlinuz, initrd)
        networks = [{"network": str(network), "mac": f"52:54:00:66:00:0{index + 1}"}]
        cluster.vms.define(xml, target=nodes[index % len(nodes)], volumes=[f"vms/{name}-disk"], networks=networks)
        cluster.vms.start(name)
    for name in VMS:
        cluster.vms.wait(name, timeout=120)


def remove_vms(cluster: Cluster) -> None:
    for name in VMS:
        try:
            cluster.vms.stop(name)
            cluster.vms.wait(name, timeout=60)
            cluster.vms.remove(name)
            cluster.plugin_call("storage-ceph", "volume.remove", {"pool": "vms", "name": f"{name}-disk"})
        except Exception:  # noqa: BLE001 - cleaning up: what is already gone stays gone
            continue
    cluster.plugin_data(MARKS).delete("marks")


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


def wait(condition: Callable[[], bool], timeout: float) -> float | None:
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


def definitions(cluster: Cluster) -> dict[str, str]:
    """VM name -> a hash of its definition (XML, volumes, networks): what must never change by a fault."""
    found = {}
    for record in cluster.vms.list():
        if record.name in VMS:
            full = cluster.vms.get(record.name)
            what = [cluster.vms.dump(record.name), full.revision, [v.to_dict() for v in full.volumes]]
            what.append([n.to_dict() for n in full.networks])
            found[record.name] = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()
    return found


def log_events(lab: Lab, since: float) -> list[dict[str, Any]]:
    """Every node's pvcd JSON log lines logged since ``since`` (epoch seconds), in time order."""
    events = []
    for node in lab.settings.node_names():
        path = lab.node_dir(node) / "pvcd.log"
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
                at = datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()
            except (ValueError, KeyError, TypeError):
                continue
            if at >= since:
                events.append(event | {"at": at})
    return sorted(events, key=lambda e: e["at"])


def recovery_violations(events: list[dict[str, Any]], storage: bool) -> list[str]:
    """A VM recovered from a node before that node's fence was confirmed (and, with storage, its clients
    blocklisted): the invariant the primary's own log must show."""
    confirmed: dict[str, float] = {}
    fenced_storage: dict[str, float] = {}
    found = []
    for event in events:
        name = event.get("event")
        if name == "fence_result" and event.get("confirmed"):
            confirmed.setdefault(str(event.get("target")), event["at"])
        elif name == "storage_fenced":
            fenced_storage.setdefault(str(event.get("fenced_node")), event["at"])
        elif name == "vm_recovered":
            source = str(event.get("source"))
            if source not in confirmed:
                found.append(f"{event.get('vm')} recovered from {source} before its fence was confirmed")
            elif storage and source not in fenced_storage:
                found.append(f"{event.get('vm')} recovered from {source} before its storage was fenced")
    return found


def bring_back(cluster: Cluster, lab: Lab, timeout: float) -> None:
    """Every node running and ready again, its BMC answering, Ceph settled, whatever the faults did."""
    for member in lab.zookeeper.members:
        if lab.zookeeper.pid(member) is None:
            faults.zookeeper_fault(lab, "start", member.myid)
    for node in lab.settings.node_names():
        faults.node_fault(lab, "heal", node)
        faults.node_fault(lab, "bmc-on", node)
        if lab.node_pid(node) is not None:
            faults.node_fault(lab, "resume", node)
    for node in lab.settings.node_names():
        if lab.node_pid(node) is None:  # powered off, or its pvcd killed: off (if need be), then on
            if power.is_on(lab, node):
                lab.bmc(node).power("off")
            lab.bmc(node).power("on")
    for node in lab.settings.node_names():
        running = wait(lambda n=node: cluster.node(n).alive and cluster.node(n).daemon_state == "run", timeout)  # type: ignore[misc]
        if running is None:
            view = cluster.node(node)
            raise LabError(f"{node} did not run again within {timeout:g}s (alive {view.alive}, {view.daemon_state})")
        if cluster.node(node).record.domain_state != "ready":
            cluster.ready(node, wait=True, timeout=timeout)
    if lab.settings.ceph:
        lab.wait_storage_settled(timeout)
    for fault in cluster.faults():
        cluster.zk.delete(f"/faults/{fault['node']}")
    home(cluster, lab, timeout)


def home(cluster: Cluster, lab: Lab, timeout: float) -> None:
    """Every campaign VM back on its own node (live migration), so that every trial finds one VM per node."""
    nodes = lab.settings.node_names()
    for index, name in enumerate(VMS):
        target = nodes[index % len(nodes)]
        if cluster.vms.get(name).node != target:
            cluster.vms.move(name, target)
            cluster.vms.wait(name, timeout=timeout)


def cause(cluster: Cluster, lab: Lab, kind: str, rng: random.Random, record: dict[str, Any], recovery: float) -> None:
    """Cause ``kind`` and wait for the cluster to recover; timings go into ``record``."""
    nodes = lab.settings.node_names()
    started = time.monotonic()
    if kind == "zookeeper_member":
        myid = rng.randint(1, len(lab.zookeeper.members))
        record["member"] = myid
        faults.zookeeper_fault(lab, "stop", myid)
        time.sleep(20)
        faults.zookeeper_fault(lab, "start", myid)
        record["recovery_s"] = wait(lambda: all_running(cluster), recovery)
        return
    if kind == "zookeeper_outage":
        lab.zookeeper.stop(kill=True)  # every member at once
        time.sleep(30)
        lab.zookeeper.start()  # every member, then wait for them all (one alone has no quorum to serve)
        back = wait(lambda: all_running(cluster), recovery)
        record["recovery_s"] = back
        record["fenced"] = [v.name for v in cluster.nodes() if v.daemon_state == "fenced"]
        return
    primary = str(cluster.primary())
    node = rng.choice(nodes)
    if kind == "primary_cut_during_fence":
        node = rng.choice([n for n in nodes if n != primary])
    record["node"], record["primary"] = node, primary
    if kind == "osd_kill":
        faults.node_fault(lab, "kill-osd", node)
        record["recovery_s"] = wait(lambda: all_running(cluster), recovery)
        if lab.settings.ceph:
            record["storage_settled_s"] = round(lab.wait_storage_settled(180.0) + time.monotonic() - started, 2)
        return
    if kind == "bmc_unreachable":
        faults.node_fault(lab, "power-off", node)
        faults.node_fault(lab, "bmc-off", node)
        time.sleep(30)  # dead, fenced in vain: nothing of it may start elsewhere meanwhile
        record["held_while_bmc_off"] = not any(
            r.node != node and r.recovered_from.startswith(node) for r in cluster.vms.list()
        )
        faults.node_fault(lab, "bmc-on", node)
        started = time.monotonic()  # the policy waits for the fence: recovery counts from the BMC's return
    elif kind == "power_cut":
        faults.node_fault(lab, "power-off", node)
    elif kind == "pvcd_kill":
        faults.node_fault(lab, "kill", node)
    elif kind == "partition":
        faults.node_fault(lab, "partition", node)
    elif kind == "primary_cut_during_fence":
        faults.node_fault(lab, "power-off", node)
        wait(lambda: cluster.node(node).daemon_state in ("dead", "fenced"), 60.0)
        faults.node_fault(lab, "partition", primary)  # while (or just after) it fences the first
        record["second"] = primary
    elif kind.startswith("pvcd_pause"):
        faults.node_fault(lab, "pause", node)
        time.sleep({"pvcd_pause_short": 2.0, "pvcd_pause_within_grace": 6.0, "pvcd_pause_long": 15.0}[kind])
        if lab.node_pid(node) is not None:
            faults.node_fault(lab, "resume", node)
    if not kind.startswith("pvcd_pause"):  # the cluster must see the fault before it can recover from it
        seen = wait(lambda: not cluster.node(node).alive, 30.0)
        record["seen_s"] = None if seen is None else round(time.monotonic() - started, 2)
    back = wait(lambda: all_running(cluster), recovery)
    record["recovery_s"] = None if back is None else round(time.monotonic() - started, 2)
    record["fenced"] = [v.name for v in cluster.nodes() if v.daemon_state == "fenced"]


def run(
    cluster: Cluster,
    lab: Lab,
    trials: int,
    seed: int,
    recovery: float = 60.0,
    kinds: tuple[str, ...] = KINDS,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``trials`` trials (faults drawn from ``kinds`` by ``seed``); each trial's record, its
    violations included. The campaign's VMs must be placed (:func:`place_vms`)."""
    rng = random.Random(seed)
    done: list[dict[str, Any]] = []
    marks = cluster.plugin_data(MARKS)
    with Watcher(lab) as watcher:
        expected = definitions(cluster)
        for index in range(trials):
            kind = rng.choice(kinds)
            record: dict[str, Any] = {"index": index, "fault": kind, "at": time.time()}
            marks.set(f"marks/{index}", {"fault": kind, "at": record["at"]})
            before = len(watcher.violations)
            cause(cluster, lab, kind, rng, record, recovery)
            violations = watcher.violations[before:]
            if record.get("recovery_s") is None:
                violations.append(f"not every VM ran again within {recovery:g} s")
            if record.get("held_while_bmc_off") is False:
                violations.append("a VM started elsewhere while its node's BMC did not answer")
            failed = ""
            try:
                bring_back(cluster, lab, 240.0)
            except PvcError as exc:  # the cluster could not be put back: a finding; the campaign stops here
                failed = f"clean-up after the fault failed: {exc}"
            violations += recovery_violations(log_events(lab, record["at"]), lab.settings.ceph)
            lost_marks = [i for i in range(index + 1) if marks.get(f"marks/{i}") is None]
            violations += [f"the mark of trial {i} was lost from ZooKeeper" for i in lost_marks]
            now = definitions(cluster)
            violations += [f"VM {n} lost or its definition changed" for n in expected if now.get(n) != expected[n]]
            if failed:
                violations.append(failed)
            record["violations"] = violations
            record["back_s"] = round(time.time() - record["at"], 2)
            done.append(record)
            if progress is not None:
                progress(record)
            if failed:
                break
    return done
