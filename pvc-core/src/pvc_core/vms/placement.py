"""Placement: which node a VM goes to. Pure functions over the cluster's view; no ZooKeeper here.

A node is a candidate when it runs (daemon ``run`` with a live session), is ``ready`` (not flushing or
flushed), is inside the VM's node limit, offers every volume and network the VM names (what its plugins
publish through ``pvc_node_attachments``) and is not excluded. A VM fits a node when the memory
provisioned to the VMs expected to run there plus its own stays within the node's total memory (no
overcommit). Among the nodes where it fits, the selector picks; ties go to the fewest VMs, then the name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pvc_core.errors import InvalidRequest
from pvc_core.vms.attachments import missing_on
from pvc_core.vms.model import NodeSelector, VmRecord

DEFAULT_SELECTOR = NodeSelector.MEM


class NoPlacement(InvalidRequest):
    """No node can take the VM; the message says why for each node."""


@dataclass(frozen=True)
class NodeCapacity:
    name: str
    ready: bool  # running, alive and domain state ready
    why_not: str  # empty when ready
    memory_total_mib: int
    memory_free_mib: int
    load: float
    provisioned_mib: int = 0
    provisioned_vcpus: int = 0
    vms: int = 0
    attachments: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # what it offers to attach


def capacities(nodes: Iterable[NodeCapacity], vms: Iterable[VmRecord], ignore: str = "") -> dict[str, NodeCapacity]:
    """Add what the VMs expected to run on each node take (``ignore``: the VM being placed)."""
    table = {n.name: n for n in nodes}
    for vm in vms:
        if vm.uuid == ignore or not vm.running_expected or vm.node not in table:
            continue
        n = table[vm.node]
        table[vm.node] = NodeCapacity(
            **{
                **n.__dict__,
                "provisioned_mib": n.provisioned_mib + vm.memory_mib,
                "provisioned_vcpus": n.provisioned_vcpus + vm.vcpus,
                "vms": n.vms + 1,
            }
        )
    return table


def _rank(selector: NodeSelector, n: NodeCapacity) -> tuple[float, int, str]:
    key: float
    if selector == NodeSelector.MEM:
        key = -(n.memory_free_mib if n.memory_free_mib else n.memory_total_mib - n.provisioned_mib)
    elif selector == NodeSelector.MEMPROV:
        key = n.provisioned_mib
    elif selector == NodeSelector.LOAD:
        key = n.load
    elif selector == NodeSelector.VCPUS:
        key = n.provisioned_vcpus
    else:
        key = n.vms
    return (key, n.vms, n.name)


def fits(vm: VmRecord, node: NodeCapacity) -> bool:
    return node.provisioned_mib + vm.memory_mib <= node.memory_total_mib


def unfit_reason(vm: VmRecord, node: NodeCapacity) -> str:
    """Why ``vm`` cannot go to ``node`` ("" when it can): the one test every placement decision uses."""
    if not node.ready:
        return node.why_not
    if vm.node_limit and node.name not in vm.node_limit:
        return "outside the VM's node limit"
    missing = missing_on(vm, node.attachments)
    if missing:
        return missing
    if not fits(vm, node):
        return f"{node.memory_total_mib - node.provisioned_mib} MiB unprovisioned, needs {vm.memory_mib}"
    return ""


def choose_node(
    vm: VmRecord,
    nodes: dict[str, NodeCapacity],
    selector: str | None = None,
    exclude: Iterable[str] = (),
) -> str:
    """The node for ``vm``; :class:`NoPlacement` with each node's reason when there is none."""
    chosen_selector = NodeSelector(selector or vm.node_selector or DEFAULT_SELECTOR)
    excluded = set(exclude)
    reasons: list[str] = []
    candidates: list[NodeCapacity] = []
    for name in sorted(nodes):
        n = nodes[name]
        if name in excluded:
            continue
        why = unfit_reason(vm, n)
        if why:
            reasons.append(f"{name}: {why}")
        else:
            candidates.append(n)
    if not candidates:
        detail = "; ".join(reasons) or "no other node"
        raise NoPlacement(f"no node can take VM {vm.name} ({detail})")
    return min(candidates, key=lambda n: _rank(chosen_selector, n)).name
