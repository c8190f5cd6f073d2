"""The world ``builtin.fence-monitor``'s actions are carried out in: ZooKeeper and the fencing driver.

:class:`ZooKeeperWorld` is pvcd's :class:`pvc_core.ha.executor.HaWorld`: it marks nodes dead and fenced,
powers nodes off through the ``fencing`` driver (in workers, each bounded by the driver's timeouts), moves a
fenced node's VMs to the nodes the executor chose, and raises and clears faults. Every write is made in a
transaction that checks this node's primary epoch, and a fence is not even attempted once the epoch moved
on. The simulator's world is :class:`pvc_core.ha.simulator.SimWorld`; the executor is the same.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from pvc_core.errors import PvcError
from pvc_core.ha.decisions import Action, ClearFault, Fault, Fence, HaSettings, MarkDead, Recover
from pvc_core.host import Host
from pvc_core.nodes import CoordinatorState, DaemonState, DomainState, NodeRecord, update_record
from pvc_core.roles.fencing import FencingDriver, PowerState
from pvc_core.vms import store
from pvc_core.vms.capacity import read_capacities
from pvc_core.vms.model import MIGRATING, Operation, VmRecord, VmState
from pvc_core.vms.placement import NodeCapacity
from pvc_core.zk import paths
from pvc_core.zk.session import encode

# what builtin.vm-manager publishes about the VMs expected to run on a node
VM_FIGURES = ("vms", "memory_provisioned_mib", "vcpus_provisioned")
# what only a running host reports (builtin.host-resources, the compute driver)
RUNNING_HOST_FIGURES = ("memory_free_mib", "load")
FENCED_BMC = f"answers (power {PowerState.OFF.value}, confirmed by the fence)"

FenceResult = Callable[[Fence, bool, str], None]


class ZooKeeperWorld:
    def __init__(self, host: Host, settings: HaSettings, log: Any, on_fence_result: FenceResult) -> None:
        self.host = host
        self.zk = host.zk
        self.settings = settings
        self.log = log
        self.on_fence_result = on_fence_result  # called on the dispatcher thread with each fence's outcome
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pvc-fence")
        self.pending: list[Action] = []  # decided while the connection was suspended: carried out on resume
        # the session each node had when its fence started (0: none): another one later means it came back
        self.session_at_fence: dict[str, int] = {}

    def held_epoch(self) -> int | None:
        return self.host.held_primary_epoch

    def acting(self) -> bool:
        return self.host.primary_epoch is not None  # suspended: the role may come back with this same epoch

    def defer(self, action: Action) -> None:
        self.pending.append(action)

    def refused(self, action: Action) -> None:
        self.log.warning("stale_action_refused", action=type(action).__name__, target=action.node)

    def failed(self, action: Action, error: PvcError) -> None:
        self.log.warning("ha_action_failed", action=type(action).__name__, target=action.node, error=str(error))

    def mark_dead(self, action: MarkDead) -> None:
        self._mark(action.node, DaemonState.DEAD, f"no ZooKeeper session for {self.settings.dead_grace:g}s")
        self.log.warning("node_dead", target=action.node, epoch=action.epoch)

    def start_fence(self, action: Fence) -> None:
        self.log.warning("fencing", target=action.node, attempt=action.attempt, epoch=action.epoch)
        self.session_at_fence[action.node] = self._session(action.node)
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
                if action.only_if_off:  # held back by the half rule: only ask, never power off
                    state = driver.power_status(action.node)
                    confirmed, reason = state == PowerState.OFF, f"its BMC says it is {state.value}"
                else:
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
        if not action.only_if_off:  # asking a BMC is not a fence attempt
            self._count(action.node, confirmed)

        self.host.post(f"fence result {action.node}", lambda: self.on_fence_result(action, confirmed, reason))

    def _mark(
        self,
        node: str,
        state: DaemonState,
        reason: str,
        resources: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        """Record the node ``state`` (dead or fenced), unless it has a session again: a node powered on while
        its fence ran registered with a new session, and what that session wrote stays (a fence's domain
        state, ``extra``, is still recorded: it comes back flushed). Atomic with the node's registration: the
        write fails, and is made again, if its liveness znode appears meanwhile."""
        back, alive = [False], [False]

        def change(record: NodeRecord) -> NodeRecord | None:
            session = self._session(node)
            alive[0] = session != 0
            # a session other than the one it had when its fence started (an operator's fence of a live node
            # keeps its session until the power-off ends it)
            back[0] = alive[0] and session != self.session_at_fence.get(node, 0)
            if back[0]:
                kept = replace(record, **extra)
                if kept != record:
                    self.log.warning("node_back_during_fence", target=node, state=record.daemon_state)
                return kept
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

        def guarded() -> Any:
            transaction = self.host.primary_transaction()
            if not alive[0]:  # a create fails on an existing znode: so does the whole write, if it registered
                transaction.create(paths.liveness(node), b"")
                transaction.delete(paths.liveness(node))
            return transaction

        update_record(self.zk, node, change, transaction_factory=guarded)

    def _session(self, node: str) -> int:
        """The session holding the node's liveness znode, 0 when it has none."""
        stat = self.zk.exists(paths.liveness(node))
        return stat.ephemeralOwner if stat is not None else 0

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
