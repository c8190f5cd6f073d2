"""The cluster as placement sees it: each node's capacity, read from ZooKeeper in a bounded number of trips.

One definition of "a node can take VMs" (running with a live session, ``ready``, a compute driver, its
resources reported) for every caller: the client placing a start or a migration, the primary recovering a
fenced node's VMs, a node flushing itself. The choice among them is :mod:`pvc_core.vms.placement`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pvc_core.nodes import DaemonState, DomainState, NodeView, read_views
from pvc_core.vms import store
from pvc_core.vms.placement import NodeCapacity, capacities

if TYPE_CHECKING:
    from pvc_core.zk.session import ZkSession


def node_capacity(view: NodeView) -> NodeCapacity:
    """What one node offers VMs, and why it cannot take any when it cannot."""
    record = view.record
    why = ""
    if not view.alive or record.daemon_state != DaemonState.RUN:
        why = f"not running (daemon state {record.daemon_state})"
    elif record.domain_state not in (DomainState.READY, DomainState.UNFLUSH):
        why = f"domain state {record.domain_state}"
    elif "compute" not in record.drivers:
        why = "has no compute driver"
    elif "memory_total_mib" not in record.resources:
        why = "has not reported its resources"
    resources = record.resources
    return NodeCapacity(
        name=view.name,
        ready=not why,
        why_not=why,
        memory_total_mib=int(resources.get("memory_total_mib", 0)),
        memory_free_mib=int(resources.get("memory_free_mib", 0)),
        load=float(resources.get("load", 0.0)),
        attachments=record.attachments,
    )


def read_capacities(zk: ZkSession, ignore: str = "", views: list[NodeView] | None = None) -> dict[str, NodeCapacity]:
    """Every node's capacity with what the VMs expected to run there take (``ignore``: the VM being placed;
    ``views``: the nodes as the caller just read them, not read again)."""
    nodes = read_views(zk) if views is None else views
    return capacities((node_capacity(view) for view in nodes), store.list_all(zk), ignore=ignore)
