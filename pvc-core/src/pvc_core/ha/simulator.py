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

    python -m pvc_core.ha.simulator SCENARIO_DIR [...]          run and diff
    python -m pvc_core.ha.simulator --update SCENARIO_DIR [...] (re)write expected.log after review
"""

from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import dataclass, field
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


@dataclass
class Simulation:
    nodes: dict[str, SimNode]
    vm_homes: dict[str, str]  # VM -> node PVC records it on
    settings: HaSettings
    session_timeout: float = 3.0
    fence_seconds: float = 1.0
    fence_timeout: float = 5.0
    start_seconds: float = 0.5
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

    def __post_init__(self) -> None:
        for name in self.nodes:
            self.monitors[name] = FenceMonitor(self.settings, name)
            self.self_fences[name] = SelfFence(self.settings.self_fence_interval)
        for vm, node in self.vm_homes.items():
            self.nodes[node].vms.add(vm)
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
            node.recorded_fenced = False
            if self.primary:
                self.monitors[self.primary].fenced_node_ready(node.name)
        else:
            raise ValueError(f"unknown event {kind} {value}")

    def _power_off(self, node: SimNode) -> None:
        node.powered, node.pvcd = False, "dead"
        if node.vms:
            self.say(f"{node.name} powered off: {', '.join(sorted(node.vms))} stopped with it")
        node.vms.clear()

    def _sessions(self) -> None:
        for node in self.nodes.values():
            if not self.zookeeper_up:  # no server: no session expires, nobody is connected (all suspended)
                node.connected = False
                self._self_fence(node)
                continue
            if node.reaches_zookeeper:
                node.last_contact = self.now
                if node.session == 0:
                    node.session = 1
                    self.say(f"{node.name} re-registered with a new session")
            elif node.session and self.now - node.last_contact >= self.session_timeout:
                node.session = 0
                self.say(f"{node.name}'s session expired")
                self.monitors[node.name].lose_primary()  # a lost session is a lost role
            # a primary whose connection is suspended (session alive) keeps its role but does not act
            node.connected = node.reaches_zookeeper and node.session != 0
            self._self_fence(node)

    def _self_fence(self, node: SimNode) -> None:
        """The node's own pvcd (only while it runs) stops its VMs once cut off for the self-fence interval."""
        if node.pvcd != "running" or not node.powered:
            return
        self.self_fences[node.name].connection(self.now, node.connected)
        if self.self_fences[node.name].due(self.now):
            node.self_fenced = True
            self.say(f"{node.name} self-fences: stops {', '.join(sorted(node.vms)) or 'no VMs'}")
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
        for job in [j for j in self.jobs if j.done_at <= self.now + 1e-9]:
            self.jobs.remove(job)
            target = self.nodes[job.node]
            if job.off and target.bmc == "ok":
                self._power_off(target)
            if job.off:
                target.fenced = True
            self.say(f"fence of {job.node}: {job.reason}")
            if not self.nodes[job.issuer].powered:
                continue  # the primary that asked died meanwhile: nobody hears the answer
            self.results.append(job)
        for job in list(self.results):
            issuer = self.nodes[job.issuer]
            if not issuer.powered or (issuer.session == 0 and not self.monitors[job.issuer].acting):
                self.results.remove(job)  # its role is gone: the answer is lost with it
            elif issuer.connected:  # a suspended primary hears the answer once it is back
                self.results.remove(job)
                monitor = self.monitors[job.issuer]
                self._run(job.issuer, monitor.fence_result(self.now, job.node, job.epoch, job.off, job.reason))

    def _finish_starts(self) -> None:
        for item in [s for s in self.starts if s[0] <= self.now + 1e-9]:
            self.starts.remove(item)
            _, vm, node = item
            if self.nodes[node].powered:
                self.nodes[node].vms.add(vm)
                self.say(f"{vm} running on {node}")

    # -- the loop ------------------------------------------------------------------------------------------

    def step(self) -> None:
        self._sessions()
        self._elect()
        self._finish_fences()
        self._finish_starts()
        acting = self._acting_primary()
        if acting is not None:
            alive = {n.name for n in self.nodes.values() if n.session}
            monitor = self.monitors[acting]
            if alive != self.known_alive:
                self.known_alive = alive
                self._run(acting, monitor.liveness(self.now, alive, set(self.nodes)))
            else:
                self._run(acting, monitor.tick(self.now))
        self.check()

    def check(self) -> None:
        where: dict[str, list[str]] = {}
        for node in self.nodes.values():
            for vm in node.vms:
                where.setdefault(vm, []).append(node.name)
        for vm, nodes in where.items():
            if len(nodes) > 1:
                raise InvariantViolation(f"{vm} runs on {', '.join(sorted(nodes))} at once")

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
            self.say(f"end: {vm} {'on ' + nodes[0] if nodes else 'not running'}")
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
        self.sim.say(f"{self.issuer}: {action.node} is dead")

    def start_fence(self, action: Fence) -> None:
        sim, issuer = self.sim, self.issuer
        target = sim.nodes[action.node]
        if any(job.node == action.node for job in sim.jobs):
            raise InvariantViolation(f"{action.node} is fenced twice at once")
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
        state = "fenced" if action.confirmed else "not fenced, stopped by itself"
        self.sim.say(f"{self.issuer}: {action.node} {state} ({action.reason}); recovering its VMs")

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
            elif node.fenced or node.recorded_fenced:
                why = "domain state flushed"
            nodes.append(
                NodeCapacity(node.name, not why, why, memory_total_mib=sim.node_memory_mib, memory_free_mib=0, load=0.0)
            )
        return capacities(nodes, [self._record(vm, home) for vm, home in sim.vm_homes.items()], ignore=ignore)

    def move(self, vm: VmRecord, target: str, action: Recover) -> None:
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
        nodes=nodes, vm_homes=dict(cluster.get("vms", {})), settings=settings, **scenario.get("simulation", {})
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
