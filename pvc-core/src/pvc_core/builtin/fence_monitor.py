"""Builtin plugin ``builtin.fence-monitor``: high availability in pvcd.

It feeds the pure decisions of :mod:`pvc_core.ha.decisions` with what ZooKeeper says (liveness, node
records, maintenance, fence requests) and carries out their actions: mark a node dead, fence it with the
``fencing`` driver (in a worker, bounded by the driver's timeouts), mark it fenced and start its VMs on
the other nodes, raise and clear faults. Every write is made in a transaction that checks this node's
primary epoch, and a fence is not even attempted once the epoch moved on.

On every node (primary or not) it also runs self-fence when enabled: cut off from ZooKeeper for
``ha.self_fence_interval`` seconds, the node stops its own VMs.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pvc_core import hookimpl
from pvc_core.config import ConfigSection
from pvc_core.dispatch import Watch, ZkEvent
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
from pvc_core.ha.decisions import Watch as NodeWatch
from pvc_core.ha.executor import ActionExecutor
from pvc_core.host import Host
from pvc_core.log import get_logger
from pvc_core.nodes import CoordinatorState, DaemonState, DomainState, NodeRecord, update_record
from pvc_core.roles.compute import RUNNING_STATES, ComputeDriver
from pvc_core.roles.fencing import FencingDriver, PowerState
from pvc_core.vms import store
from pvc_core.vms.capacity import read_capacities
from pvc_core.vms.model import MIGRATING, Operation, VmRecord, VmState
from pvc_core.vms.placement import NodeCapacity
from pvc_core.zk import paths
from pvc_core.zk.session import decode, encode

PVC_CONTRACT = ">=2.0,<3"

PLUGIN = "builtin.fence-monitor"
TICK = 0.5
BMC_CHECK = 60.0  # seconds between checks of a node's own BMC
# what builtin.vm-manager publishes about the VMs expected to run on a node
VM_FIGURES = ("vms", "memory_provisioned_mib", "vcpus_provisioned")
# what only a running host reports (builtin.host-resources, the compute driver)
RUNNING_HOST_FIGURES = ("memory_free_mib", "load")
FENCED_BMC = f"answers (power {PowerState.OFF.value}, confirmed by the fence)"


class HaConfig(BaseModel):
    """The ``ha`` section of the node config."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    takeover_grace: float | None = Field(
        None, ge=0, description="No fencing this long after a takeover (default: dead_grace)."
    )
    fence_retries: int = Field(2, ge=0, le=10, description="Further fence attempts after a failed one.")
    on_fence_failure: Literal["wait", "recover-after-self-fence"] = "wait"
    self_fence_interval: float | None = Field(
        None, gt=0, description="Off unless set: seconds cut off before a node stops its VMs."
    )
    max_dead_fraction: float = Field(0.5, gt=0, le=1, description="Fence nobody when this share of nodes looks dead.")

    @model_validator(mode="after")
    def _policy_needs_self_fence(self) -> HaConfig:
        if self.on_fence_failure == "recover-after-self-fence" and self.self_fence_interval is None:
            raise ValueError("on_fence_failure 'recover-after-self-fence' needs self_fence_interval")
        return self


class FenceService:
    def __init__(self, host: Host, config: HaConfig) -> None:
        self.host = host
        self.zk = host.zk
        grace = host.config.core.timers.dead_grace
        self.settings = HaSettings(
            dead_grace=grace,
            takeover_grace=config.takeover_grace if config.takeover_grace is not None else grace,
            fence_retries=config.fence_retries,
            on_fence_failure=config.on_fence_failure,
            self_fence_interval=config.self_fence_interval,
            max_dead_fraction=config.max_dead_fraction,
        )
        self.monitor = FenceMonitor(self.settings, host.node)
        self.self_fence = SelfFence(config.self_fence_interval)
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pvc-fence")
        self.log = get_logger(node=host.node, plugin=PLUGIN)
        self._ticking = False
        self._self_fence_thread: threading.Thread | None = None
        self._pending: list[Action] = []  # decided while the connection was suspended: carried out on resume
        self._bmc_state: dict[str, Any] = {}
        self._bmc_checked = 0.0
        self.executor = ActionExecutor(self)

    # -- role ----------------------------------------------------------------------------------------------

    def members(self) -> tuple[dict[str, bool], frozenset[str]]:
        """The nodes that should be alive (not those that stopped cleanly), and those recorded fenced."""
        names = self.zk.children(paths.NODES)
        states = {}
        for name, found in zip(names, self.zk.get_many([paths.node(n) for n in names]), strict=True):
            states[name] = (decode(found[0]) or {}).get("daemon_state", "") if found else ""
        fenced = frozenset(n for n, s in states.items() if s == DaemonState.FENCED)
        expected = {
            n: n in self.host.alive_nodes
            for n, s in states.items()
            if s != DaemonState.STOP or n in self.host.alive_nodes
        }
        return expected, fenced

    def become_primary(self, epoch: int) -> None:
        members, fenced = self.members()
        maintenance = self.zk.get(paths.MAINTENANCE)
        self.monitor.set_maintenance(bool(maintenance and maintenance[0] == b"true"))
        for name in self.zk.children(paths.FAULTS):  # a previous primary's faults about nodes now alive are stale
            if members.get(name):
                self.zk.delete(paths.fault(name))
        self.run(self.monitor.become_primary(time.monotonic(), epoch, members, fenced))
        self.fence_requests(tuple(self.zk.children(paths.FENCE_REQUESTS)))  # asked while nobody was primary
        self._start_ticking()

    def _start_ticking(self) -> None:
        if not self._ticking:
            self._ticking = True
            self.host.call_later(TICK, "ha tick", self.tick)

    def become_secondary(self) -> None:
        self._pending.clear()
        self.monitor.lose_primary()

    def tick(self) -> None:
        if not self.host.is_primary:
            self._ticking = False
            return
        self.run(self.monitor.tick(time.monotonic()))
        self.host.call_later(TICK, "ha tick", self.tick)

    def liveness(self, alive: frozenset[str]) -> None:
        if self.host.is_primary:
            members, _ = self.members()
            self.run(self.monitor.liveness(time.monotonic(), set(alive), set(members)))

    # -- actions (dispatcher thread; fences in workers) ----------------------------------------------------

    def run(self, actions: list[Action]) -> None:
        self.executor.run(actions)

    # -- the world the executor acts on (pvc_core.ha.executor.HaWorld): ZooKeeper and the fencing driver ---

    def held_epoch(self) -> int | None:
        return self.host.held_primary_epoch

    def acting(self) -> bool:
        return self.host.primary_epoch is not None  # suspended: the role may come back with this same epoch

    def defer(self, action: Action) -> None:
        self._pending.append(action)

    def refused(self, action: Action) -> None:
        self.log.warning("stale_action_refused", action=type(action).__name__, target=action.node)

    def failed(self, action: Action, error: PvcError) -> None:
        self.log.warning("ha_action_failed", action=type(action).__name__, target=action.node, error=str(error))

    def mark_dead(self, action: MarkDead) -> None:
        self._mark(action.node, DaemonState.DEAD, f"no ZooKeeper session for {self.settings.dead_grace:g}s")
        self.log.warning("node_dead", target=action.node, epoch=action.epoch)

    def start_fence(self, action: Fence) -> None:
        self.log.warning("fencing", target=action.node, attempt=action.attempt, epoch=action.epoch)
        self.pool.submit(self._fence, action)

    def raise_fault(self, action: Fault) -> None:
        self.log.error("fault", target=action.node, message=action.message)
        value = encode({"node": action.node, "message": action.message, "epoch": action.epoch, "at": time.time()})
        transaction = self.host.primary_transaction()
        if self.zk.exists(paths.fault(action.node)) is None:
            self.zk.ensure(paths.FAULTS)
            transaction.create(paths.fault(action.node), value)
        else:
            transaction.set_data(paths.fault(action.node), value)
        self.zk.commit(transaction, f"raise a fault about {action.node}")

    def clear_fault(self, action: ClearFault) -> None:
        found = self.zk.exists(paths.fault(action.node))
        if found is not None:
            transaction = self.host.primary_transaction()
            transaction.delete(paths.fault(action.node), version=found.version)
            self.zk.commit(transaction, f"clear the fault about {action.node}")

    def capacities(self, ignore: str) -> dict[str, NodeCapacity]:
        return read_capacities(self.zk, ignore=ignore)

    def _count(self, node: str, confirmed: bool) -> None:
        """Add this fence attempt to the cluster's counts (what ``/metrics`` shows); never fails the fence."""
        result = "confirmed" if confirmed else "failed"

        def count(current: Any) -> dict[str, Any]:
            counts = dict(current or {})
            counts[result] = int(counts.get(result, 0)) + 1
            counts["last"] = {"node": node, "result": result, "at": time.time()}
            return counts

        try:
            self.zk.ensure(paths.FENCE_COUNTS, b"{}")
            self.zk.update_json(paths.FENCE_COUNTS, count, "the fence counts", self.host.primary_transaction, 5)
        except PvcError as exc:  # the role moved, or ZooKeeper is away: the fence itself goes on
            self.log.warning("fence_not_counted", target=node, error=str(exc))

    def _fence(self, action: Fence) -> None:
        """Worker thread: power the node off through its BMC; the result goes back to the dispatcher."""
        deadline = time.monotonic() + 60
        while self.host.primary_epoch != action.epoch:  # suspended: wait for the role to come back, or go
            if self.host.held_primary_epoch != action.epoch:
                return  # lost the role: a primary that lost its role fences nothing (the next one decides)
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        driver = self.host.driver("fencing")
        if self.host.primary_epoch != action.epoch:
            confirmed, reason = False, "the primary's connection stayed suspended"
        elif not isinstance(driver, FencingDriver):
            confirmed, reason = False, "no fencing driver is configured on the primary"
        else:
            try:
                driver.power_off(action.node)
                confirmed, reason = True, "power off confirmed"
            except PvcError as exc:
                confirmed, reason = False, str(exc)
            if confirmed:
                # storage and other plugins cut the node off for good before any of its VMs starts elsewhere;
                # if one cannot, the fence counts as failed: nothing is recovered and a fault is raised
                failures = self.host.announce_fenced(action.node, action.epoch)
                if failures:
                    confirmed, reason = False, "power off confirmed, but " + "; ".join(failures)
        self.log.warning("fence_result", target=action.node, confirmed=confirmed, reason=reason)
        self._count(action.node, confirmed)

        def deliver() -> None:
            self.run(self.monitor.fence_result(time.monotonic(), action.node, action.epoch, confirmed, reason))

        self.host.post(f"fence result {action.node}", deliver)

    def _mark(
        self,
        node: str,
        state: DaemonState,
        reason: str,
        resources: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        def change(record: NodeRecord) -> NodeRecord | None:
            coordinator_state = record.coordinator_state
            if coordinator_state in (CoordinatorState.PRIMARY, CoordinatorState.TAKEOVER, CoordinatorState.RELINQUISH):
                coordinator_state = CoordinatorState.SECONDARY.value  # a dead node holds no role
            return replace(
                record,
                daemon_state=state.value,
                coordinator_state=coordinator_state,
                state_changed_at=time.time(),
                state_reason=reason,
                resources=record.resources if resources is None else resources(record.resources),
                **extra,
            )

        update_record(self.zk, node, change, transaction_factory=self.host.primary_transaction)

    def record_recovery(self, action: Recover) -> None:
        node = action.node
        # no VM may be placed there until an operator brings it back (pvc node ready)
        self._mark(
            node,
            DaemonState.FENCED if action.confirmed else DaemonState.DEAD,
            action.reason,
            domain_state=DomainState.FLUSHED.value,
            domain_state_reason=f"{'fenced' if action.confirmed else 'recovered without a fence'}: "
            "pvc node ready brings it back",
            resources=functools.partial(resources_after_recovery, confirmed=action.confirmed),
        )

    def vms_to_recover(self, node: str) -> list[VmRecord]:
        records = []
        for r in store.list_all(self.zk):
            migrating = r.state in MIGRATING and r.operation is not None
            if migrating and r.node == node and r.operation is not None and r.operation.node != node:
                # it was migrating *to* the fenced node and still runs on its source: it stays there
                self._back_to_source(r, r.operation.node)
            elif migrating and r.operation is not None and r.operation.node == node and r.node != node:
                records.append(r.with_(node=node))  # migrating *from* the fenced node: recover it like the others
            elif r.node == node and (r.running_expected or r.state in MIGRATING):
                records.append(r)
        return records

    def move(self, vm: VmRecord, target: str, action: Recover) -> None:
        node = action.node
        operation = Operation(kind="start", node=target, started=time.time(), by=f"recovery by {self.host.node}")

        def moved(r: VmRecord) -> VmRecord | None:
            from_fenced = r.node == node or (r.operation is not None and r.operation.node == node)
            if not from_fenced:
                return None
            return r.with_(
                state=VmState.START.value,
                node=target,
                last_node="",
                observed="",
                operation=operation,
                recovered_from=f"{node} ({action.reason}) at {time.strftime('%Y-%m-%d %H:%M:%S')}",
            )

        store.update(self.zk, vm.uuid, moved, transaction_factory=self.host.primary_transaction)
        self.log.warning("vm_recovered", vm=vm.name, source=node, target=target)

    def _back_to_source(self, record: VmRecord, source: str) -> None:
        def back(r: VmRecord) -> VmRecord | None:
            if r.state not in MIGRATING or r.operation is None or r.operation.node != source:
                return None
            reason = f"migration to {r.node} abandoned: {r.node} was fenced"
            return r.with_(state=VmState.START.value, node=source, last_node="", operation=None, failure_reason=reason)

        store.update(self.zk, record.uuid, back, transaction_factory=self.host.primary_transaction)

    # -- requests, maintenance, node changes ---------------------------------------------------------------

    def fence_requests(self, names: tuple[str, ...]) -> None:
        for name in names:
            if self.host.is_primary:
                self.zk.delete(paths.fence_request(name))
                self.log.warning("manual_fence_requested", target=name)
                self.run(self.monitor.request_fence(time.monotonic(), name))

    def node_changed(self, name: str, new: NodeRecord | None) -> None:
        track = self.monitor.tracks.get(name)
        back = new is not None and new.daemon_state == DaemonState.RUN and new.domain_state == DomainState.READY
        if back and track is not None and track.state == NodeWatch.FENCED:
            self.monitor.fenced_node_ready(name)

    # -- self-fence (every node) ---------------------------------------------------------------------------

    def session(self, state: str) -> None:
        connected = state in ("resumed", "renewed")
        if state == "resumed" and self.host.is_primary:  # the same role, same epoch: carry on
            pending, self._pending = self._pending, []
            self.run(pending)
            self._start_ticking()
        self.self_fence.connection(time.monotonic(), connected)
        if not connected and self.self_fence.interval is not None and self._self_fence_thread is None:
            self._self_fence_thread = threading.Thread(
                target=self._watch_self_fence, name="pvc-self-fence", daemon=True
            )
            self._self_fence_thread.start()

    def _watch_self_fence(self) -> None:
        try:
            while self.self_fence.disconnected_at is not None:
                if self.self_fence.due(time.monotonic()):
                    self._stop_local_vms()
                    return
                time.sleep(0.5)
        finally:
            self._self_fence_thread = None

    def bmc_state(self, driver: FencingDriver) -> dict[str, Any]:
        if time.monotonic() - self._bmc_checked > BMC_CHECK or not self._bmc_state:
            self._bmc_checked = time.monotonic()
            threading.Thread(target=self._check_bmc, args=(driver,), name="pvc-bmc-check", daemon=True).start()
        return dict(self._bmc_state)

    def _check_bmc(self, driver: FencingDriver) -> None:
        try:
            self._bmc_state = {"bmc": f"answers (power {driver.power_status(self.host.node).value})"}
        except PvcError as exc:
            self._bmc_state = {"bmc": f"no answer: {exc}"}

    def _stop_local_vms(self) -> None:
        compute = self.host.driver("compute")
        if not isinstance(compute, ComputeDriver):
            return
        running = [uuid for uuid, state in compute.domains().items() if state in RUNNING_STATES]
        self.log.error("self_fence", vms=len(running), interval=self.self_fence.interval)
        for uuid in running:
            try:
                compute.destroy(uuid)
            except PvcError as exc:
                self.log.error("self_fence_failed", uuid=uuid, error=str(exc))


def resources_after_recovery(resources: dict[str, Any], confirmed: bool) -> dict[str, Any]:
    """A recovered node's resources as the primary records them, instead of the last figures the node
    published itself (which stay until its pvcd starts again): its VMs run elsewhere now, or wait for a
    place, so none count on it; after a confirmed fence its power is off, as its BMC just answered, and the
    figures only a running host reports (free memory, load) are gone."""
    after = {key: 0 if key in VM_FIGURES else value for key, value in resources.items()}
    if confirmed:
        after = {key: value for key, value in after.items() if key not in RUNNING_HOST_FIGURES}
        after["bmc"] = FENCED_BMC
    return after


def _service(host: Host) -> FenceService:
    service = host.state.get(PLUGIN)
    if not isinstance(service, FenceService):
        service = FenceService(host, host.config.section("ha"))
        host.state[PLUGIN] = service
    return service


@hookimpl
def pvc_config_sections() -> list[ConfigSection]:
    return [ConfigSection("ha", HaConfig)]


@hookimpl
def pvc_zk_watches(host: Host) -> list[Watch]:
    return [
        Watch(path=paths.MAINTENANCE, kind="data", name="ha.maintenance"),
        Watch(path=paths.FENCE_REQUESTS, kind="children", name="ha.fence-requests"),
    ]


@hookimpl
def pvc_zk_event(host: Host, event: ZkEvent) -> None:
    if event.name == "ha.maintenance":
        _service(host).monitor.set_maintenance(event.data == b"true")
    elif event.name == "ha.fence-requests" and event.children:
        _service(host).fence_requests(event.children)


@hookimpl
def pvc_become_primary(host: Host, epoch: int) -> None:
    _service(host).become_primary(epoch)


@hookimpl
def pvc_become_secondary(host: Host) -> None:
    _service(host).become_secondary()


@hookimpl
def pvc_liveness_changed(host: Host, alive: frozenset[str]) -> None:
    _service(host).liveness(alive)


@hookimpl
def pvc_node_changed(host: Host, name: str, new: NodeRecord | None) -> None:
    _service(host).node_changed(name, new)


@hookimpl
def pvc_session_changed(host: Host, state: str) -> None:
    _service(host).session(state)


@hookimpl
def pvc_node_resources(host: Host) -> dict[str, Any]:
    """Whether this node's own BMC answers (``pvc node info`` shows it), checked once a minute in the
    background so that an unreachable BMC never holds up the keepalive."""
    driver = host.driver("fencing")
    if not isinstance(driver, FencingDriver):
        return {}
    return _service(host).bmc_state(driver)


@hookimpl
def pvc_daemon_stop(host: Host) -> None:
    service = host.state.get(PLUGIN)
    if isinstance(service, FenceService):
        service.pool.shutdown(wait=False, cancel_futures=True)
