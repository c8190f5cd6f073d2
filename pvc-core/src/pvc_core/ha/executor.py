"""Carrying out the fence monitor's actions: one executor for pvcd and for the HA simulator.

The decisions (:mod:`pvc_core.ha.decisions`) say *what* to do; this module does it, the same way
everywhere, against a :class:`HaWorld`: pvcd's world is ZooKeeper and the fencing driver
(``builtin.fence-monitor``), the simulator's is its simulated cluster. So the epoch checks, the order of a
recovery (the node's record first, then each VM placed by the real placement code, then a fault for what
found no place) and the messages are the daemon's own when the simulator checks its invariants.
"""

from __future__ import annotations

from typing import Protocol

from pvc_core.errors import PvcError
from pvc_core.ha.decisions import Action, ClearFault, Fault, Fence, MarkDead, Recover
from pvc_core.vms.model import VmRecord
from pvc_core.vms.placement import NodeCapacity, NoPlacement, choose_node


class HaWorld(Protocol):
    """What carrying out HA actions needs from the world it acts on."""

    def held_epoch(self) -> int | None:
        """The primary epoch the acting node holds (None: it holds none); older actions are refused."""

    def acting(self) -> bool:
        """Whether the node can act now (False while its connection is suspended: actions wait)."""

    def defer(self, action: Action) -> None:
        """Keep ``action`` for when the node can act again under the same epoch."""

    def refused(self, action: Action) -> None:
        """Note that a stale action (an older epoch's) was refused."""

    def failed(self, action: Action, error: PvcError) -> None:
        """Note that carrying ``action`` out failed (ZooKeeper away, the role moved)."""

    def mark_dead(self, action: MarkDead) -> None: ...

    def start_fence(self, action: Fence) -> None:
        """Start powering the node off; the result comes back later as ``FenceMonitor.fence_result``."""

    def record_recovery(self, action: Recover) -> None:
        """Record the node as fenced (or dead, without a confirmed fence) and flushed, before its VMs move."""

    def vms_to_recover(self, node: str) -> list[VmRecord]:
        """The VMs that must start elsewhere (expected to run on ``node``, or migrating away from it)."""

    def capacities(self, ignore: str) -> dict[str, NodeCapacity]:
        """Every node's capacity now (``ignore``: the VM being placed)."""

    def move(self, vm: VmRecord, target: str, action: Recover) -> None:
        """Start ``vm`` on ``target`` (its record moves there; that node starts it)."""

    def raise_fault(self, action: Fault) -> None: ...

    def clear_fault(self, action: ClearFault) -> None: ...


class ActionExecutor:
    def __init__(self, world: HaWorld) -> None:
        self.world = world

    def run(self, actions: list[Action]) -> None:
        """Carry out ``actions`` in order: stale ones refused, all of them kept while the node cannot act."""
        for action in actions:
            if action.epoch != self.world.held_epoch():
                self.world.refused(action)
                continue
            if not self.world.acting():
                self.world.defer(action)
                continue
            try:
                self.carry_out(action)
            except PvcError as exc:
                self.world.failed(action, exc)

    def carry_out(self, action: Action) -> None:
        if isinstance(action, MarkDead):
            self.world.mark_dead(action)
        elif isinstance(action, Fence):
            self.world.start_fence(action)
        elif isinstance(action, Recover):
            self.recover(action)
        elif isinstance(action, Fault):
            self.world.raise_fault(action)
        elif isinstance(action, ClearFault):
            self.world.clear_fault(action)

    def recover(self, action: Recover) -> None:
        """The node is fenced (or stopped its VMs itself): record it, then start its VMs elsewhere with the
        real placement, one by one (each placement sees the VMs placed before it); a fault for the rest."""
        self.world.record_recovery(action)
        stuck = []
        for vm in self.world.vms_to_recover(action.node):
            try:
                target = choose_node(vm, self.world.capacities(ignore=vm.uuid), exclude=[action.node])
            except NoPlacement as exc:
                stuck.append(f"{vm.name}: {exc}")
                continue
            self.world.move(vm, target, action)
        if stuck:
            self.carry_out(
                Fault(action.node, action.epoch, f"could not place VMs of {action.node}: {'; '.join(stuck)}")
            )
