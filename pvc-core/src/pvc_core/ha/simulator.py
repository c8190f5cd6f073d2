"""The HA simulator: the fence monitor's decisions against a simulated cluster, in virtual time.

A scenario directory holds ``scenario.yaml`` (a description, the initial cluster, settings, timed events)
and ``expected.log`` (what must happen, line by line). The runner steps virtual time (0.1 s), turns the
simulated world into the same events pvcd gives the decision logic, and carries out its actions with
pvcd's own executor (:class:`pvc_core.ha.executor.ActionExecutor`: the same epoch checks, the same
recovery order, VMs placed by the real placement code) against the simulated world, and after every step
checks the safety invariants:

* never one VM running on two nodes;
* never a VM started elsewhere before its node's fence was confirmed (or, where the policy allows, before
  the node has stopped its VMs itself);
* never two fencers: at most one node acts as primary, and only actions carrying the current epoch run.

A scenario whose cluster says ``networks: true`` has managed networks: their gateways follow the acting
primary, and the log says when they move (and when nobody holds them).

A scenario whose cluster says ``storage: true`` also has shared storage (Ceph, as the ``storage-ceph``
plugin fences it): after a confirmed power-off the primary blocklists the node's clients and breaks its
VMs' disk locks before anything is recovered, and a failure there fails the fence, as in pvcd. Then also:

* never a VM recovered from a fenced node that is not blocklisted, or that still holds the VM's disk lock;
* never a VM started on a blocklisted node, or while another node holds its disk's lock;
* a running VM holds its disk's lock (one holder per disk), and no VM runs on a blocklisted node.

    python -m pvc_core.ha.simulator SCENARIO_DIR [...]          run and diff
    python -m pvc_core.ha.simulator --update SCENARIO_DIR [...] (re)write expected.log after review
"""

from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from pvc_core.errors import PvcError
from pvc_core.ha.decisions import (
    Action,
    ClearFault,
    Fault,
    Fence,
    FenceMonitor,
    HaSettings,
    MarkDead,
    Recover,
    SelfFence,
)
from pvc_core.ha.executor import ActionExecutor
from pvc_core.vms.model import VmRecord, VmState
from pvc_core.vms.placement import NodeCapacity, capacities

STEP = 0.1
STORAGE_PLUGIN = "storage-ceph"
# what the plugin's first Ceph call (the blocklist, a monitor command) says when no monitor answers
STORAGE_UNREACHABLE = "ceph osd blocklist: RADOS timed out"


class InvariantViolation(AssertionError):
    pass


@dataclass
class SimNode:
    name: str
    coordinator: bool = True
    powered: bool = True
    pvcd: str = "running"  # running, paused
    network: bool = True
    bmc: str = "ok"  # ok, unreachable, already-off, timeout, wrong-password
    session: int = 1  # server-side session id; 0 = expired, no session
    last_contact: float = 0.0
    connected: bool = True  # the node's own view
    vms: set[str] = field(default_factory=set)  # what really runs there
    fenced: bool = False  # the BMC confirmed it off
    recorded_fenced: bool = False  # the cluster's record says so (written by the primary that recovered it)
    self_fenced: bool = False
    record: str = "run"  # the daemon state in its record: run (its own), dead or fenced (the primary's)
    flushed: bool = False  # its record's domain state: flushed after a fence, or when it comes back declared dead
    booting: bool = False  # powered on: its pvcd registers afresh once the old session is gone

    @property
    def reaches_zookeeper(self) -> bool:
        return self.powered and self.pvcd == "running" and self.network


@dataclass
class FenceJob:
    node: str
    issuer: str
    epoch: int
    done_at: float
    off: bool
    reason: str
    storage: bool = False  # the power-off is done; this is the storage fence that follows it in the same worker
    only_asked: bool = False  # the BMC was only asked for the power state (nothing is powered off)


@dataclass
class SimStorage:
    """The cluster's Ceph, as far as fencing goes. A VM's disk has an exclusive lock, held by the client of
    the node running it; a node that loses power keeps its locks (nothing tells Ceph its clients are gone),
    so a recovered VM could not take them over cleanly: the storage fence blocklists the node's whole address
    first (so it can never write again, nor take a lock back) and then breaks its locks."""

    up: bool = True  # whether the primary reaches the monitors (``storage: down|up``)
    blocklisted: set[str] = field(default_factory=set)
    locks: dict[str, str] = field(default_factory=dict)  # VM -> the node whose client holds its disk's lock

    def take_lock(self, vm: str, node: str) -> None:
        """``vm`` starts on ``node``: its disk's lock must be free (or its own) and the node not cut off."""
        if node in self.blocklisted:
            raise InvariantViolation(f"{vm} started on {node}, which is blocklisted (its disk I/O would fail)")
        holder = self.locks.get(vm)
        if holder not in (None, node):
            raise InvariantViolation(f"{vm} started on {node} while {holder} still holds its disk's lock")
        self.locks[vm] = node


@dataclass
class Simulation:
    nodes: dict[str, SimNode]
    vm_homes: dict[str, str]  # VM -> node PVC records it on
    settings: HaSettings
    session_timeout: float = 3.0
    fence_seconds: float = 1.0
    fence_timeout: float = 5.0
    start_seconds: float = 0.5
    storage_seconds: float = 0.2  # from the blocklist to the last broken lock (a few Ceph round trips)
    storage_timeout: float = 10.0  # a storage fence with no monitor answering (storage-ceph's ``timeout``)
    storage: SimStorage | None = None  # None: no storage plugin, so no storage fence (``cluster: {storage: true}``)
    node_memory_mib: int = 16384
    vm_memory_mib: int = 512
    now: float = 0.0
    primary: str | None = None
    epoch: int = 0
    log: list[str] = field(default_factory=list)
    monitors: dict[str, FenceMonitor] = field(default_factory=dict)
    self_fences: dict[str, SelfFence] = field(default_factory=dict)
    jobs: list[FenceJob] = field(default_factory=list)
    results: list[FenceJob] = field(default_factory=list)  # fence answers waiting for their primary
    starts: list[tuple[float, str, str]] = field(default_factory=list)  # (at, vm, node)
    recovered: dict[str, float] = field(default_factory=dict)  # node -> when its VMs were recovered
    known_alive: set[str] = field(default_factory=set)
    zookeeper_up: bool = True
    gateways: bool = False  # the cluster has managed networks: their gateways float with the primary
    gateway_holders: set[str] = field(default_factory=set)
    gateway_conflict: bool = False
    sessions_made: int = 0  # every new session gets a new id (as ZooKeeper's)
    session_at_fence: dict[str, int] = field(default_factory=dict)  # node -> its session when its fence started

    def __post_init__(self) -> None:
        for index, (name, sim_node) in enumerate(self.nodes.items()):
            sim_node.session = index + 1
            self.monitors[name] = FenceMonitor(self.settings, name)
            self.self_fences[name] = SelfFence(self.settings.self_fence_interval)
        for vm, node in self.vm_homes.items():
            self.nodes[node].vms.add(vm)
            if self.storage is not None:
                self.storage.locks[vm] = node
        self.known_alive = set(self.nodes)
        self._elect()

    def say(self, text: str) -> None:
        self.log.append(f"{self.now:6.1f} {text}")

    # -- the world -----------------------------------------------------------------------------------------

    def apply(self, event: dict[str, Any]) -> None:
        kind, value = next((k, v) for k, v in event.items() if k != "at")
        node = self.nodes[value] if isinstance(value, str) and value in self.nodes else None
        self.say(
            f"event {kind} {value if not isinstance(value, dict) else ' '.join(f'{k}={v}' for k, v in value.items())}"
        )
        if kind == "power_off" and node:
            self._power_off(node)
        elif kind == "power_on" and node:  # the machine boots; its pvcd registers once its old session is gone
            node.powered, node.pvcd, node.network, node.booting = True, "running", True, True
        elif kind == "kill_pvcd" and node:  # pvcd dies; the node, its network and its VMs go on
            node.pvcd = "dead"
        elif kind == "network_cut" and node:
            node.network = False
        elif kind == "network_restore" and node:
            node.network = True
        elif kind == "pause_pvcd" and node:
            node.pvcd = "paused"
        elif kind == "resume_pvcd" and node:
            node.pvcd = "running"
        elif kind == "expire_session" and node:
            node.session = 0
        elif kind == "bmc":
            self.nodes[value["node"]].bmc = value["mode"]
        elif kind == "zookeeper":  # the whole ensemble down or back: sessions freeze, and resume afresh
            self.zookeeper_up = value == "up"
            if self.zookeeper_up:
                for each in self.nodes.values():
                    each.last_contact = self.now
        elif kind == "maintenance":
            for monitor in self.monitors.values():
                monitor.set_maintenance(bool(value))
        elif kind == "ready" and node:  # the operator brings a fenced node back
            node.powered, node.pvcd, node.fenced, node.network = True, "running", False, True
            node.recorded_fenced, node.flushed, node.record = False, False, "run"
            self._restart_lost(node, "made ready")
            if self.primary:
                self.monitors[self.primary].fenced_node_ready(node.name)
            if self.storage is not None and node.name in self.storage.blocklisted:
                # the plugin readmits the node's clients when the primary sees it made ready
                self.storage.blocklisted.discard(node.name)
                self.say(f"storage: blocklist of {node.name} lifted (node ready)")
        elif kind == "storage":  # the whole Ceph cluster unreachable, or back
            if self.storage is None or value not in ("down", "up"):
                raise ValueError(f"storage: {value} needs 'down' or 'up', and a cluster with storage: true")
            self.storage.up = value == "up"
        else:
            raise ValueError(f"unknown event {kind} {value}")

    def _power_off(self, node: SimNode) -> None:
        node.powered, node.pvcd = False, "dead"
        if node.vms:
            self.say(f"{node.name} powered off: {', '.join(sorted(node.vms))} stopped with it")
        node.vms.clear()  # their disks' locks stay with the node: only a storage fence breaks them

    def _sessions(self) -> None:
        for node in self.nodes.values():
            if not self.zookeeper_up:  # no server: no session expires, nobody is connected (all suspended)
                node.connected = False
                self._self_fence(node)
                continue
            # a booted node's new pvcd waits for its previous session to go (expire) before it registers
            if node.reaches_zookeeper and not (node.booting and node.session):
                node.last_contact = self.now
                if node.session == 0:
                    self.sessions_made += 1
                    node.session = len(self.nodes) + self.sessions_made
                    if node.booting:
                        self._register(node)
                    else:
                        self.say(f"{node.name} re-registered with a new session")
                        if node.record == "dead":  # the same pvcd renews its record (fenced stays fenced)
                            node.record = "run"
            elif node.session and self.now - node.last_contact >= self.session_timeout:
                node.session = 0
                self.say(f"{node.name}'s session expired")
                self.monitors[node.name].lose_primary()  # a lost session is a lost role
            # a primary whose connection is suspended (session alive) keeps its role but does not act
            node.connected = node.reaches_zookeeper and node.session != 0
            self._self_fence(node)

    def _register(self, node: SimNode) -> None:
        """A booted node's new pvcd registers: declared dead or fenced while away, it comes back flushed
        (``pvc_core.membership``); the VMs it should run were lost with its power: it starts them again
        only when it is ready, else they wait for the recovery or for ``pvc node ready``."""
        node.booting = False
        declared = node.record in ("dead", "fenced")
        node.flushed = node.flushed or declared
        self.say(f"{node.name} registered afresh{f' (its record said {node.record}): flushed' if declared else ''}")
        node.record = "run"
        if node.flushed:
            lost = sorted(vm for vm, home in self.vm_homes.items() if home == node.name and vm not in node.vms)
            if lost:
                self.say(f"{node.name}: {', '.join(lost)} lost with it, left to the recovery or pvc node ready")
        else:
            self._restart_lost(node, "lost with its power")

    def _restart_lost(self, node: SimNode, why: str) -> None:
        """The node starts the VMs it owns that run nowhere (``builtin.vm-manager``, ``builtin.node-flush``)."""
        for vm in sorted(vm for vm, home in self.vm_homes.items() if home == node.name):
            if vm not in node.vms and not any(s[1] == vm for s in self.starts):
                self.starts.append((self.now + self.start_seconds, vm, node.name))
                self.say(f"{node.name}: start {vm} again ({why})")

    def _self_fence(self, node: SimNode) -> None:
        """The node's own pvcd (only while it runs) stops its VMs once cut off for the self-fence interval."""
        if node.pvcd != "running" or not node.powered:
            return
        self.self_fences[node.name].connection(self.now, node.connected)
        if self.self_fences[node.name].due(self.now):
            node.self_fenced = True
            self.say(f"{node.name} self-fences: stops {', '.join(sorted(node.vms)) or 'no VMs'}")
            if self.storage is not None:  # its VMs' clients are gone (no watch left): the next owner may take over
                for vm in node.vms:
                    if self.storage.locks.get(vm) == node.name:
                        del self.storage.locks[vm]
            node.vms.clear()

    def _elect(self) -> None:
        current = self.nodes.get(self.primary) if self.primary else None
        if current is not None and current.session:
            if current.connected and not self.monitors[current.name].acting:  # resumed, same session
                self.monitors[current.name].epoch = self.epoch
            return
        candidates = sorted(n.name for n in self.nodes.values() if n.coordinator and n.session and n.connected)
        if not candidates:
            if self.primary is not None:
                self.say("no primary")
            self.primary = None
            return
        self.primary = candidates[0]
        self.epoch += 1
        self.say(f"{self.primary} becomes primary (epoch {self.epoch})")
        members = {name: bool(n.session) for name, n in self.nodes.items()}
        fenced = frozenset(name for name, n in self.nodes.items() if n.recorded_fenced)
        self._run(self.primary, self.monitors[self.primary].become_primary(self.now, self.epoch, members, fenced))

    # -- decisions and their execution ---------------------------------------------------------------------

    def _acting_primary(self) -> str | None:
        acting = [name for name, m in self.monitors.items() if m.acting and self.nodes[name].connected]
        if len(acting) > 1:
            raise InvariantViolation(f"two nodes act as primary: {acting}")
        return acting[0] if acting else None

    def _run(self, issuer: str, actions: list[Action]) -> None:
        ActionExecutor(SimWorld(self, issuer)).run(actions)

    def _finish_fences(self) -> None:
        # a storage fence runs in the primary's fence worker: it dies with the primary's pvcd, half done or not
        self.jobs = [j for j in self.jobs if not (j.storage and not self._worker_alive(j.issuer))]
        for job in [j for j in self.jobs if j.done_at <= self.now + 1e-9]:
            self.jobs.remove(job)
            if job.storage and self.storage is not None:
                self._finish_storage_fence(self.storage, job)
                self.results.append(job)
                continue
            target = self.nodes[job.node]
            if job.off and target.bmc == "ok" and not job.only_asked:
                self._power_off(target)
            if job.off:
                target.fenced = True
            self.say(f"{job.node}: {job.reason}" if job.only_asked else f"fence of {job.node}: {job.reason}")
            if not self.nodes[job.issuer].powered:
                continue  # the primary that asked died meanwhile: nobody hears the answer
            if job.off and self.storage is not None:  # the answer comes once the storage fence is done
                if self._worker_alive(job.issuer):  # (a killed pvcd's worker neither fences storage nor answers)
                    self._start_storage_fence(self.storage, job)
                continue
            self.results.append(job)
        for job in list(self.results):
            issuer = self.nodes[job.issuer]
            if not issuer.powered or (issuer.session == 0 and not self.monitors[job.issuer].acting):
                self.results.remove(job)  # its role is gone: the answer is lost with it
            elif issuer.connected:  # a suspended primary hears the answer once it is back
                self.results.remove(job)
                monitor = self.monitors[job.issuer]
                self._run(job.issuer, monitor.fence_result(self.now, job.node, job.epoch, job.off, job.reason))

    def _worker_alive(self, name: str) -> bool:
        return self.nodes[name].powered and self.nodes[name].pvcd != "dead"

    def _start_storage_fence(self, storage: SimStorage, job: FenceJob) -> None:
        """After the confirmed power-off, as pvcd's fence worker calls the plugins' ``pvc_node_fenced``:
        blocklist the node first (at once), then break its disks' locks (``storage_seconds`` later). When the
        primary reaches no monitor, nothing is blocklisted and the attempt fails after ``storage_timeout``."""
        if not (storage.up and self.nodes[job.issuer].network):
            reason = f"plugin '{STORAGE_PLUGIN}' could not fence {job.node}'s clients: {STORAGE_UNREACHABLE}"
            failed = replace(job, storage=True, off=False, reason=f"power off confirmed, but {reason}")
            self.jobs.append(replace(failed, done_at=self.now + self.storage_timeout))
            return
        already = job.node in storage.blocklisted  # a second fence of the node: the blocklist is idempotent
        storage.blocklisted.add(job.node)
        self.say(f"{job.issuer}: storage fence of {job.node}: {'already blocklisted' if already else 'blocklisted'}")
        self.jobs.append(replace(job, storage=True, done_at=self.now + self.storage_seconds))

    def _finish_storage_fence(self, storage: SimStorage, job: FenceJob) -> None:
        if not job.off:
            self.say(f"{job.issuer}: storage fence of {job.node} failed: {STORAGE_UNREACHABLE}")
            return
        broken = sorted(vm for vm, holder in storage.locks.items() if holder == job.node)
        for vm in broken:
            del storage.locks[vm]
        locks = f"locks of {', '.join(broken)} broken" if broken else "no disk locks to break"
        self.say(f"{job.issuer}: storage fence of {job.node}: {locks}")

    def _finish_starts(self) -> None:
        for item in [s for s in self.starts if s[0] <= self.now + 1e-9]:
            self.starts.remove(item)
            _, vm, node = item
            if self.nodes[node].powered:
                if self.storage is not None:
                    self.storage.take_lock(vm, node)
                self.nodes[node].vms.add(vm)
                self.say(f"{vm} running on {node}")

    # -- the loop ------------------------------------------------------------------------------------------

    def step(self) -> None:
        self._sessions()
        self._elect()
        self._finish_fences()
        self._finish_starts()
        acting = self._acting_primary()
        if self.gateways:
            self._gateway(acting)
        if acting is not None:
            alive = {n.name for n in self.nodes.values() if n.session}
            monitor = self.monitors[acting]
            if alive != self.known_alive:
                self.known_alive = alive
                self._run(acting, monitor.liveness(self.now, alive, set(self.nodes)))
            else:
                self._run(acting, monitor.tick(self.now))
        self.check()

    def _gateway(self, acting: str | None) -> None:
        """The managed networks' gateways (and the cluster DNS address) float with the primary: the acting
        primary takes them (``pvc_become_primary``); a holder gives them up when it learns it lost the role
        (``pvc_become_secondary``: its session lost, seen once it reaches ZooKeeper again) or when it loses
        power. A node cut off keeps them, unreachable; a paused pvcd cannot give them up until it resumes,
        and its kernel still answers for them meanwhile: logged, not a violation (docs/ha.md, known gaps)."""
        if acting is not None and self.nodes[acting].reaches_zookeeper and acting not in self.gateway_holders:
            self.gateway_holders.add(acting)
            self.say(f"{acting} takes the gateways")
        for name in sorted(self.gateway_holders - {acting} if acting else self.gateway_holders):
            node = self.nodes[name]
            if not node.powered:
                self.gateway_holders.discard(name)
                self.say(f"{name} powered off: its gateways with it")
            elif node.reaches_zookeeper and not self.monitors[name].acting:
                self.gateway_holders.discard(name)
                self.say(f"{name} gives up the gateways (it lost the primary role)")
        answering = sorted(n for n in self.gateway_holders if self.nodes[n].powered and self.nodes[n].network)
        conflict = len(answering) > 1
        if conflict and not self.gateway_conflict:
            self.say(f"gateways answered by {' and '.join(answering)} at once")
        self.gateway_conflict = conflict

    def check(self) -> None:
        where: dict[str, list[str]] = {}
        for node in self.nodes.values():
            for vm in node.vms:
                where.setdefault(vm, []).append(node.name)
        for vm, nodes in where.items():
            if len(nodes) > 1:
                raise InvariantViolation(f"{vm} runs on {', '.join(sorted(nodes))} at once")
        for node in self.nodes.values():
            if node.reaches_zookeeper and node.session and not node.booting and node.record in ("dead", "fenced"):
                raise InvariantViolation(f"{node.name} runs with a session while its record says {node.record}")
        if self.storage is None:
            return
        for vm, (host,) in where.items():  # one node each, as just checked
            if host in self.storage.blocklisted:
                raise InvariantViolation(f"{vm} runs on {host}, which is blocklisted (its disk writes would fail)")
            holder = self.storage.locks.get(vm)
            if holder != host:
                raise InvariantViolation(f"{vm} runs on {host} but its disk's lock is held by {holder or 'nobody'}")

    def run(self, events: list[dict[str, Any]], until: float) -> list[str]:
        pending = sorted(events, key=lambda e: float(e["at"]))
        steps = round(until / STEP)
        for index in range(steps + 1):
            self.now = round(index * STEP, 1)
            while pending and float(pending[0]["at"]) <= self.now + 1e-9:
                self.apply(pending.pop(0))
            self.step()
        running = {vm: sorted(n.name for n in self.nodes.values() if vm in n.vms) for vm in self.vm_homes}
        for vm, nodes in sorted(running.items()):
            holder = self.storage.locks.get(vm) if self.storage is not None and not nodes else None
            locked = f" (its disk locked by {holder})" if holder else ""
            self.say(f"end: {vm} {'on ' + nodes[0] if nodes else 'not running'}{locked}")
        if self.storage is not None:
            self.say(f"end: blocklisted: {', '.join(sorted(self.storage.blocklisted)) or 'none'}")
        return self.log


class SimWorld:
    """The simulated cluster as the executor's world (:class:`pvc_core.ha.executor.HaWorld`), for one issuer."""

    def __init__(self, simulation: Simulation, issuer: str) -> None:
        self.sim = simulation
        self.issuer = issuer

    def held_epoch(self) -> int | None:
        return self.sim.epoch

    def acting(self) -> bool:
        return True  # the simulation only hands actions to a primary that is connected

    def defer(self, action: Action) -> None:  # pragma: no cover - never asked (acting is always True)
        raise InvariantViolation(f"{self.issuer} deferred {type(action).__name__} while acting")

    def refused(self, action: Action) -> None:
        self.sim.say(f"{self.issuer}: refused stale {type(action).__name__} {action.node} (epoch {action.epoch})")

    def failed(self, action: Action, error: PvcError) -> None:
        self.sim.say(f"{self.issuer}: {type(action).__name__} {action.node} failed: {error}")

    def mark_dead(self, action: MarkDead) -> None:
        node = self.sim.nodes[action.node]
        if node.session and node.session != self.sim.session_at_fence.get(node.name, 0):  # back (ha_world)
            self.sim.say(f"{self.issuer}: {action.node} is dead (not recorded: it has a session again)")
            return
        node.record = "dead"
        self.sim.say(f"{self.issuer}: {action.node} is dead")

    def start_fence(self, action: Fence) -> None:
        sim, issuer = self.sim, self.issuer
        target = sim.nodes[action.node]
        if any(job.node == action.node for job in sim.jobs):
            raise InvariantViolation(f"{action.node} is fenced twice at once")
        if action.only_if_off:
            sim.say(f"{issuer}: ask {action.node}'s BMC whether it is off (epoch {action.epoch})")
            if target.bmc in ("ok", "already-off"):
                off = not target.powered
                reason = f"its BMC says it is {'off' if off else 'on'}"
                job = FenceJob(action.node, issuer, action.epoch, sim.now + 0.2, off, reason, only_asked=True)
            elif target.bmc == "wrong-password":
                job = FenceJob(
                    action.node,
                    issuer,
                    action.epoch,
                    sim.now + 0.2,
                    False,
                    "BMC refused the credentials",
                    only_asked=True,
                )
            else:
                job = FenceJob(
                    action.node,
                    issuer,
                    action.epoch,
                    sim.now + sim.fence_timeout,
                    False,
                    "BMC unreachable",
                    only_asked=True,
                )
            sim.jobs.append(job)
            return
        sim.session_at_fence[action.node] = target.session
        sim.say(f"{issuer}: fence {action.node} (attempt {action.attempt}, epoch {action.epoch})")
        if target.bmc == "ok":
            job = FenceJob(action.node, issuer, action.epoch, sim.now + sim.fence_seconds, True, "power off confirmed")
        elif target.bmc == "already-off":
            job = FenceJob(action.node, issuer, action.epoch, sim.now + 0.2, True, "power status already off")
        elif target.bmc == "wrong-password":
            job = FenceJob(action.node, issuer, action.epoch, sim.now + 0.2, False, "BMC refused the credentials")
        elif target.bmc == "timeout":
            job = FenceJob(action.node, issuer, action.epoch, sim.now + sim.fence_timeout, False, "ipmitool timed out")
        else:
            job = FenceJob(action.node, issuer, action.epoch, sim.now + sim.fence_timeout, False, "BMC unreachable")
        sim.jobs.append(job)

    def record_recovery(self, action: Recover) -> None:
        source = self.sim.nodes[action.node]
        allowed = self.sim.settings.on_fence_failure == "recover-after-self-fence" and source.self_fenced
        if not (source.fenced or allowed):
            raise InvariantViolation(f"{self.issuer} recovers {action.node}'s VMs before its fence was confirmed")
        self.sim.recovered[action.node] = self.sim.now
        source.recorded_fenced = action.confirmed
        source.flushed = True
        state = "fenced" if action.confirmed else "not fenced, stopped by itself"
        kept = ""
        if source.session and source.session != self.sim.session_at_fence.get(source.name, 0):  # back already:
            # only flushed; the daemon state its new session wrote stays
            kept = f" (it has a session again: recorded flushed, its state {source.record} kept)"
        else:
            source.record = "fenced" if action.confirmed else "dead"
        self.sim.say(f"{self.issuer}: {action.node} {state} ({action.reason}); recovering its VMs{kept}")

    def _record(self, vm: str, node: str) -> VmRecord:
        return VmRecord(uuid=vm, name=vm, state=VmState.START.value, node=node, memory_mib=self.sim.vm_memory_mib)

    def vms_to_recover(self, node: str) -> list[VmRecord]:
        return [self._record(vm, home) for vm, home in sorted(self.sim.vm_homes.items()) if home == node]

    def capacities(self, ignore: str) -> dict[str, NodeCapacity]:
        sim = self.sim
        nodes = []
        for node in sim.nodes.values():
            why = ""
            if not (node.connected and node.powered):
                why = "not running"
            elif node.fenced or node.recorded_fenced or node.flushed:
                why = "domain state flushed"
            nodes.append(
                NodeCapacity(node.name, not why, why, memory_total_mib=sim.node_memory_mib, memory_free_mib=0, load=0.0)
            )
        return capacities(nodes, [self._record(vm, home) for vm, home in sim.vm_homes.items()], ignore=ignore)

    def move(self, vm: VmRecord, target: str, action: Recover) -> None:
        storage = self.sim.storage
        if storage is not None and action.confirmed:  # the storage fence is part of a confirmed fence
            if action.node not in storage.blocklisted:
                why = f"{action.node} is not blocklisted (the storage fence must come first)"
                raise InvariantViolation(f"{self.issuer} starts {vm.name} on {target} while {why}")
            if storage.locks.get(vm.name) == action.node:
                why = f"{action.node} still holds its disk's lock"
                raise InvariantViolation(f"{self.issuer} starts {vm.name} on {target} while {why}")
        self.sim.vm_homes[vm.name] = target
        self.sim.starts.append((self.sim.now + self.sim.start_seconds, vm.name, target))
        self.sim.say(f"{self.issuer}: start {vm.name} on {target}")

    def raise_fault(self, action: Fault) -> None:
        self.sim.say(f"{self.issuer}: FAULT {action.message}")

    def clear_fault(self, action: ClearFault) -> None:
        self.sim.say(f"{self.issuer}: fault on {action.node} cleared")


def load(directory: Path) -> tuple[dict[str, Any], Simulation]:
    scenario = yaml.safe_load((directory / "scenario.yaml").read_text())
    cluster = scenario["cluster"]
    coordinators = set(cluster.get("coordinators", cluster["nodes"]))
    nodes = {name: SimNode(name, coordinator=name in coordinators) for name in cluster["nodes"]}
    configured = dict(scenario.get("settings", {}))
    configured.setdefault("takeover_grace", configured.get("dead_grace", HaSettings.dead_grace))  # as pvcd does
    settings = HaSettings(**configured)
    simulation = Simulation(
        nodes=nodes,
        vm_homes=dict(cluster.get("vms", {})),
        settings=settings,
        storage=SimStorage() if cluster.get("storage") else None,
        gateways=bool(cluster.get("networks")),
        **scenario.get("simulation", {}),
    )
    return scenario, simulation


def run_scenario(directory: Path) -> list[str]:
    scenario, simulation = load(directory)
    try:
        return simulation.run(scenario.get("events", []), float(scenario.get("until", 60)))
    except InvariantViolation as exc:
        simulation.say(f"INVARIANT VIOLATED: {exc}")
        return simulation.log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pvc-ha-sim", description="Run HA scenarios in virtual time.")
    parser.add_argument("--update", action="store_true", help="write expected.log from this run")
    parser.add_argument("scenarios", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failed = 0
    for directory in args.scenarios:
        log = run_scenario(directory)
        expected_path = directory / "expected.log"
        if args.update:
            expected_path.write_text("\n".join(log) + "\n")
            print(f"{directory.name}: expected.log written ({len(log)} lines)")
            continue
        expected = expected_path.read_text().splitlines() if expected_path.exists() else []
        if log != expected:
            failed += 1
            print(f"{directory.name}: FAILED")
            sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(expected, log, "expected", "actual"))
        else:
            print(f"{directory.name}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
