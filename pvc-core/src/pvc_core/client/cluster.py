"""Cluster-level operations over a direct ZooKeeper connection."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pvc_core import maintenance
from pvc_core.errors import InvalidRequest, NotFound, SchemaError
from pvc_core.ha.decisions import primary_cannot_fence_itself

if TYPE_CHECKING:
    from pvc_core.client.api_keys import ApiKeys
    from pvc_core.client.audit import AuditLog
    from pvc_core.client.plugin_data import PluginData
    from pvc_core.client.vms import Vms
    from pvc_core.roles.network import Network
from pvc_core.nodes import DaemonState, DomainState, NodeView, read_views
from pvc_core.waiting import poll
from pvc_core.zk import paths, schema
from pvc_core.zk.security import Credential, TlsFiles
from pvc_core.zk.session import Conflict, ZkSession, decode, encode

__all__ = ["Cluster", "ClusterStatus", "NodeView", "wait_for"]  # NodeView lives in pvc_core.nodes


@dataclass(frozen=True)
class ClusterStatus:
    schema_version: int
    primary: str | None
    primary_epoch: int
    maintenance: bool
    nodes: int
    nodes_by_state: dict[str, int]
    coordinators: list[str]
    healthy: bool
    faults: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Cluster:
    def __init__(self, zk: ZkSession) -> None:
        self.zk = zk

    @functools.cached_property
    def vms(self) -> Vms:
        """VM operations (define, list, start, migrate, ...); one per cluster, so its listing cache lasts."""
        from pvc_core.client.vms import Vms

        return Vms(self)

    @classmethod
    @contextmanager
    def connect(
        cls, hosts: str, timeout: float = 10.0, credential: Credential | None = None, tls: TlsFiles | None = None
    ) -> Iterator[Cluster]:
        """A short-lived session for one command (its only ephemerals are console requests); ``credential``
        for a secured cluster, ``tls`` for the ensemble's secure client port (``pvc_core.zk.security``)."""
        zk = ZkSession(
            hosts,
            session_timeout=10.0,
            connect_timeout=timeout,
            operation_timeout=timeout,
            credential=credential,
            tls=tls,
        )
        zk.start()
        try:
            yield cls(zk)
        finally:
            zk.stop()

    # -- cluster ------------------------------------------------------------------------------------------

    def init(self, overwrite: bool = False) -> None:
        schema.initialise_cluster(self.zk, overwrite=overwrite)

    def secure(self, credentials: dict[str, Credential]) -> int:
        """Secure the tree (``pvc cluster init --secure``): ``/security`` and an ACL on every znode for the
        ``node``, ``operator`` and ``read`` credentials; return how many znodes were set. This session must
        use the node credential. Idempotent: it migrates an open tree and repairs drifted ACLs."""
        from pvc_core.zk import acl_tree

        return acl_tree.secure(self.zk, credentials)

    def require_initialised(self) -> int:
        version = schema.read_version(self.zk, schema.CORE_SCHEMA)
        if version is None:
            raise SchemaError(f"the cluster at {self.zk.hosts} is not initialised; run 'pvc cluster init'")
        return version

    def status(self) -> ClusterStatus:
        version = self.require_initialised()
        nodes = self.nodes()
        primary, epoch = self._primary()
        by_state: dict[str, int] = {}
        for node in nodes:
            by_state[node.daemon_state] = by_state.get(node.daemon_state, 0) + 1
        coordinators = [n.name for n in nodes if n.record.coordinator]
        faults = self.faults()
        healthy = not faults and primary is not None
        healthy = healthy and all(n.daemon_state == DaemonState.RUN.value and n.alive for n in nodes)
        return ClusterStatus(
            faults=faults,
            schema_version=version,
            primary=primary,
            primary_epoch=epoch,
            maintenance=maintenance.read(self.zk),
            nodes=len(nodes),
            nodes_by_state=by_state,
            coordinators=coordinators,
            healthy=healthy,
        )

    def _primary(self) -> tuple[str | None, int]:
        primary, epoch = self.zk.get_many([paths.PRIMARY, paths.EPOCH])
        name = (decode(primary[0]) or {}).get("node") if primary else None
        return name, int(epoch[0].decode() or 0) if epoch else 0

    # -- nodes ----------------------------------------------------------------------------------------------

    def nodes(self) -> list[NodeView]:
        """Every node, in four round trips whatever the count (children, liveness, pipelined reads)."""
        self.require_initialised()
        return read_views(self.zk)

    def node(self, name: str) -> NodeView:
        for view in self.nodes():
            if view.name == name:
                return view
        raise NotFound(f"no node named '{name}' in this cluster")

    def primary(self) -> str | None:
        return self._primary()[0]

    def request_primary(self, name: str, wait: bool = False, timeout: float = 30.0) -> None:
        """Make ``name`` the primary coordinator (the current primary hands over)."""
        node = self.node(name)
        if not node.record.coordinator:
            raise InvalidRequest(f"node {name} is not a coordinator")
        if not node.alive or node.daemon_state != DaemonState.RUN.value:
            raise InvalidRequest(f"node {name} is not running (state {node.daemon_state}); it cannot become primary")
        # written even when the node looks primary: its look and the request's are two reads, and a
        # hand-over committed between them (the role moving away, the pending request deleted with it) made
        # "primary, nothing pending" true of neither moment. A primary drops a request naming itself.
        self._write_request({"action": "primary", "node": name})
        if wait:
            self.wait_for_primary(name, timeout)

    def wait_for_primary(self, name: str, timeout: float = 30.0) -> None:
        wait_for(lambda: self.primary() == name, timeout, f"node {name} to become primary")

    def wait_for_other_primary(self, name: str, timeout: float = 30.0) -> None:
        wait_for(
            lambda: (p := self.primary()) is not None and p != name, timeout, f"another node to take over from {name}"
        )

    def request_secondary(self, name: str, wait: bool = False, timeout: float = 30.0) -> None:
        """Make ``name`` step back to secondary; another coordinator takes over."""
        node = self.node(name)
        if not node.record.coordinator:
            raise InvalidRequest(f"node {name} is not a coordinator")
        if not node.is_primary:
            return
        self._write_request({"action": "secondary", "node": name})
        if wait:
            self.wait_for_other_primary(name, timeout)

    def _write_request(self, request: dict[str, Any]) -> None:
        # the primary deletes a request as it serves it: that may happen between our look and our write
        self.zk.put(paths.REQUEST, encode(request | {"requested_at": time.time()}))

    def wait_for_nodes(self, count: int, timeout: float) -> list[NodeView]:
        """Wait until ``count`` nodes run and one is primary (what ``pvc lab up`` waits for)."""
        views: list[NodeView] = []

        def ready() -> list[NodeView] | None:
            views[:] = self.nodes()
            running = [v for v in views if v.alive and v.daemon_state == DaemonState.RUN.value]
            primary = any(v.is_primary and v.coordinator_state == "primary" for v in views)
            return list(views) if len(running) >= count and primary else None

        def where() -> str:
            states = ", ".join(f"{v.name}={v.daemon_state}" for v in views) or "no nodes"
            return f"{count} running nodes and a primary ({states})"

        return poll(ready, timeout, where, interval=0.2)

    # -- high availability ------------------------------------------------------------------------------------

    def faults(self) -> list[dict[str, Any]]:
        """Faults the primary raised (failed or held-back fences), one per node."""
        names = self.zk.children(paths.FAULTS)
        found = self.zk.get_many([paths.fault(n) for n in names])
        return [decode(f[0]) or {} for f in found if f is not None]

    def fence_counts(self) -> dict[str, int]:
        """Fence attempts since the cluster began, by result (``confirmed``, ``failed``)."""
        found = self.zk.get(paths.FENCE_COUNTS)
        counts = (decode(found[0]) or {}) if found else {}
        return {result: int(counts.get(result, 0)) for result in ("confirmed", "failed")}

    def clear_fault(self, name: str) -> None:
        """Forget the fault about ``name`` (an operator dealt with its cause)."""
        if self.zk.exists(paths.fault(name)) is None:
            raise NotFound(f"there is no fault about node {name}")
        self.zk.delete(paths.fault(name))

    def set_maintenance(self, on: bool) -> None:
        """Maintenance mode: the primary fences nobody while it is on."""
        maintenance.write(self.zk, on)

    def fence(self, name: str, wait: bool = False, timeout: float = 120.0) -> NodeView:
        """Ask the primary to fence ``name`` now (power off, confirmed) and recover its VMs."""
        self.node(name)  # exists?
        primary = self.primary()
        if primary is None:
            raise InvalidRequest("there is no primary coordinator to fence with")
        if primary == name:
            raise InvalidRequest(primary_cannot_fence_itself(name))
        self.zk.ensure(paths.FENCE_REQUESTS)
        requested = time.time()
        with contextlib.suppress(Conflict):  # already requested: one is enough
            self.zk.create(paths.fence_request(name), encode({"requested_at": time.time()}))
        if wait:
            return self.wait_fenced(name, requested, timeout)
        return self.node(name)

    def wait_fenced(self, name: str, since: float, timeout: float = 120.0) -> NodeView:
        """Wait until ``name`` is fenced; a fault about it raised after ``since`` ends the wait with its reason."""

        def fenced() -> NodeView | None:
            view = self.node(name)
            if view.daemon_state == DaemonState.FENCED:
                return view
            fault = next((f for f in self.faults() if f.get("node") == name and float(f.get("at", 0)) >= since), None)
            if fault is not None and self.zk.exists(paths.fence_request(name)) is None:
                raise InvalidRequest(str(fault.get("message", f"fencing {name} failed")))
            return None

        return poll(fenced, timeout, f"node {name} to be fenced", interval=0.2)

    # -- flush and ready --------------------------------------------------------------------------------------

    def flush(self, name: str, wait: bool = False, timeout: float = 600.0, progress: Any = None) -> NodeView:
        """Move every VM off the node (the node does it, a few at a time) and leave it ``flushed``."""
        return self._domain_state(name, DomainState.FLUSH, DomainState.FLUSHED, wait, timeout, progress)

    def ready(self, name: str, wait: bool = False, timeout: float = 600.0, progress: Any = None) -> NodeView:
        """Bring a flushed node back: its VMs return and its autostart VMs start."""
        return self._domain_state(name, DomainState.UNFLUSH, DomainState.READY, wait, timeout, progress)

    def _domain_state(
        self, name: str, ask: DomainState, goal: DomainState, wait: bool, timeout: float, progress: Any
    ) -> NodeView:
        from dataclasses import replace

        from pvc_core.nodes import update_record

        view = self.node(name)
        if view.record.domain_state not in (goal, ask):
            if not view.alive or view.daemon_state != DaemonState.RUN:
                raise InvalidRequest(f"node {name} is not running (state {view.daemon_state}); it cannot {ask.value}")
            update_record(
                self.zk,
                name,
                lambda r: replace(r, domain_state=ask.value, domain_state_reason=f"{ask.value} requested"),
            )
        if not wait:
            return self.node(name)
        last = [""]

        def reached() -> NodeView | None:
            view = self.node(name)
            here = [r.name for r in self.vms.list(node=name) if r.state != "stop"]
            line = f"{name}: {view.record.domain_state}, {len(here)} VM(s) on it"
            if progress is not None and line != last[0]:
                progress(line)
            last[0] = line
            return view if view.record.domain_state == goal else None

        return poll(reached, timeout, f"node {name} to be {goal.value}", interval=0.2)

    # -- plugins --------------------------------------------------------------------------------------------

    def plugins_by_node(self) -> dict[str, dict[str, Any]]:
        """Plugin name -> {version, hooks, nodes: [node names where it is loaded]}."""
        found: dict[str, dict[str, Any]] = {}
        for view in self.nodes():
            for plugin in view.record.plugins:
                entry = found.setdefault(
                    plugin.name, {"version": plugin.version, "hooks": list(plugin.hooks), "nodes": []}
                )
                entry["nodes"].append(view.name)
        return found

    def plugin_call(self, plugin: str, action: str, args: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        """Ask the primary coordinator to carry out ``plugin``'s ``action`` (``pvc_plugin_actions``) with
        ``args``, and return its result; the action's own error is raised as its class. Timeout when no
        primary answers within ``timeout`` (the action may still complete)."""
        from pvc_core.client.plugin_calls import call

        return call(self.zk, plugin, action, args, timeout)

    def networks(self) -> list[Network]:
        """Every client network (``pvc network list``), by VNI: for plugins that derive something from them
        (DNS zones, address plans) without reading another subsystem's znodes. Two round trips. Since 2.2."""
        from pvc_core.networks import store

        return store.read_all(self.zk)

    @property
    def api_keys(self) -> ApiKeys:
        """The API keys every pvcapid accepts (``pvc api key ...``): add, list, remove."""
        from pvc_core.client.api_keys import ApiKeys

        return ApiKeys(self.zk)

    @property
    def audit(self) -> AuditLog:
        """The API's audit log (``pvc cluster audit``): read, follow."""
        from pvc_core.client.audit import AuditLog

        return AuditLog(self.zk)

    def plugin_data(self, plugin: str) -> PluginData:
        """The data of ``plugin`` under ``/plugins/<plugin>``: JSON values by relative key."""
        from pvc_core.client.plugin_data import PluginData

        return PluginData(self.zk, plugin)

    def plugin_secrets(self, plugin: str) -> PluginData:
        """The secrets of ``plugin`` (passwords, keys) under ``/secrets/plugins/<plugin>``, the same calls as
        ``plugin_data``: on a secured cluster only the nodes' credential reads them. Direct connections
        only: the API serves no secrets. Since 2.4."""
        from pvc_core.client.plugin_data import PluginData

        return PluginData(self.zk, plugin, secret=True)


def wait_for(done: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``done()`` until it is true; a one-line error naming ``what`` after ``timeout`` seconds."""
    poll(done, timeout, what, interval)
