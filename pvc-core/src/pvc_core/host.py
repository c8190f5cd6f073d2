"""The handle a plugin gets in every hook: this node, its config, its ZooKeeper session, its role."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kazoo.client import TransactionRequest

from pvc_core.errors import InvalidRequest, PvcError
from pvc_core.zk import paths
from pvc_core.zk.session import encode

if TYPE_CHECKING:
    from pvc_core.client.cluster import Cluster
    from pvc_core.config import LoadedConfig
    from pvc_core.dispatch import Dispatcher, WatchSet
    from pvc_core.election import CoordinatorElection
    from pvc_core.plugins.drivers import Drivers
    from pvc_core.plugins.hooks import Hooks
    from pvc_core.roles import Driver, NetworkDriver
    from pvc_core.roles.network import Network
    from pvc_core.vms.devices import DomainSecret
    from pvc_core.vms.model import VmRecord
    from pvc_core.zk.session import ZkSession


class NotPrimary(InvalidRequest):
    """This node does not (or can no longer confirm it does) act as primary coordinator."""


@dataclass(frozen=True)
class PreparedDomain:
    """A VM's domain as it must start on this node: its XML with every plugin's devices, and their secrets."""

    xml: str
    secrets: tuple[DomainSecret, ...]
    devices: int = 0  # how many devices plugins added

    @property
    def contributed(self) -> bool:
        """Whether any plugin added a device (else ``xml`` is the stored definition)."""
        return self.devices > 0


class Host:
    def __init__(
        self,
        config: LoadedConfig,
        zk: ZkSession,
        dispatcher: Dispatcher,
        drivers: Drivers,
        hooks: Hooks | None = None,
    ) -> None:
        self.config = config
        self.node = config.core.node
        self.zk = zk
        self.drivers = drivers
        self._hooks = hooks
        self._dispatcher = dispatcher
        self._election: CoordinatorElection | None = None
        self._watches: WatchSet | None = None
        self.alive_nodes: frozenset[str] = frozenset()
        self._republish: Callable[[], object] | None = None
        # per-node objects plugins keep between hooks (one Host per pvcd), by plugin name
        self.state: dict[str, Any] = {}
        self._leases_lock = threading.Lock()
        self._leases_queued: set[int] = set()

    def attach_election(self, election: CoordinatorElection) -> None:
        self._election = election

    def attach_watches(self, watches: WatchSet) -> None:
        self._watches = watches

    @property
    def watches(self) -> WatchSet:
        """Add watches at run time (handlers run on the dispatcher thread; cancel with the handle)."""
        if self._watches is None:
            raise InvalidRequest("watches are available from pvc_daemon_start on")
        return self._watches

    @property
    def is_coordinator(self) -> bool:
        return self.config.core.is_coordinator

    @property
    def is_primary(self) -> bool:
        """True only while this node holds the primary role *and* can confirm it (session connected)."""
        return self._election is not None and self._election.acting

    @property
    def primary_epoch(self) -> int | None:
        """The epoch this node holds as primary (None when it is not acting as primary)."""
        if self._election is None or not self._election.acting:
            return None
        return self._election.epoch

    @property
    def held_primary_epoch(self) -> int | None:
        """The epoch of the primary role this node holds, even while its connection is suspended (it then
        does not act on it: see ``primary_epoch``). None once the role is lost."""
        if self._election is None or not self._election.holds_role:
            return None
        return self._election.epoch

    def primary_transaction(self) -> TransactionRequest:
        """A ZooKeeper transaction that only commits while this node's primary epoch is current.

        Use it for every write only the primary may make (marking a node dead, fencing, recovery): if
        another node became primary meanwhile, the commit fails instead of acting on stale authority.
        """
        election = self._election
        if election is None or not election.acting:
            raise NotPrimary(f"node {self.node} is not the primary coordinator")
        transaction = self.zk.transaction()
        transaction.check(paths.EPOCH, election.epoch_version)
        return transaction

    def driver(self, role: str) -> Driver | None:
        """This node's driver for ``role`` (``compute``, ``storage``, ``fencing``, ``dns``), or None.

        Network drivers are one per network type: ask ``network_driver(type)`` or ``network_drivers``."""
        if role == "network":
            raise InvalidRequest("network drivers are one per network type: use host.network_driver(type)")
        return self.drivers.get(role)

    @property
    def network_drivers(self) -> dict[str, NetworkDriver]:
        """This node's network drivers by network type (``evpn``, ``vlan``...)."""
        return dict(self.drivers.networks)

    def network_driver(self, network_type: str) -> NetworkDriver | None:
        return self.drivers.networks.get(network_type)

    @functools.cached_property
    def cluster(self) -> Cluster:
        """The Python bindings over this node's session: ``host.cluster.vms.list()``, ``.nodes()``...
        (the same calls ``pvc`` makes). Bounded calls; use them from workers or for quick reads."""
        from pvc_core.client.cluster import Cluster

        return Cluster(self.zk)

    # -- what attaches to VMs (the VM manager calls these on the node that runs a VM) -----------------------

    def prepare_vm(self, vm: VmRecord, purpose: str) -> PreparedDomain:
        """Call every plugin's ``pvc_vm_prepare`` for ``vm`` here and assemble its domain XML.

        Raises a one-line PvcError naming the plugin or the attachment when a plugin fails or an
        attachment is served by none; what the plugins prepared is then released (``abandoned``) here, once."""
        from pvc_core.vms import store
        from pvc_core.vms.devices import assemble

        base = store.read_xml(self.zk, vm.uuid)
        if self._hooks is None:
            return PreparedDomain(xml=base, secrets=())
        try:
            contributions = self._hooks.vm_prepare(self, vm, purpose)
            xml, secrets = assemble(vm, base, contributions, self.node)
        except PvcError:
            self._hooks.vm_release(self, vm, "abandoned")
            raise
        return PreparedDomain(xml=xml, secrets=tuple(secrets), devices=sum(len(c.devices) for c in contributions))

    def announce_fenced(self, node: str, epoch: int) -> list[str]:
        """Call every plugin's ``pvc_node_fenced`` (for the fence monitor, after a confirmed power-off and
        before any recovery); one line per plugin that failed, saying why (empty: all done)."""
        if self._hooks is None:
            return []
        return self._hooks.node_fenced(self, node, epoch)

    def release_vm(self, vm: VmRecord, purpose: str) -> None:
        """Call every plugin's ``pvc_vm_release`` for ``vm`` here (failures are logged, not raised)."""
        if self._hooks is not None:
            self._hooks.vm_release(self, vm, purpose)

    # -- faults (shown by pvc cluster status; since contract 2.1) -------------------------------------------

    def raise_fault(self, name: str, message: str) -> None:
        """Raise (or reword) the fault ``name`` (``storage``, ``network.100``: your plugin's words), shown by
        ``pvc cluster status`` until cleared. Only the primary raises faults: the write commits only while
        this node's primary epoch is current (NotPrimary otherwise). Unchanged: nothing is written."""
        from pvc_core.client.plugin_data import check_key

        check_key(name)
        if "/" in name:
            raise InvalidRequest(f"a fault's name is one segment, not {name!r}", "name")
        current = self.zk.get_json(paths.fault(name))
        if current is not None and current.get("message") == message:
            return
        transaction = self.primary_transaction()
        value = encode({"node": name, "message": message, "at": time.time(), "epoch": self.primary_epoch})
        if current is None:
            self.zk.ensure(paths.FAULTS)
            transaction.create(paths.fault(name), value)
        else:
            transaction.set_data(paths.fault(name), value)
        self.zk.commit(transaction, f"raise the fault {name}")

    def clear_fault(self, name: str) -> None:
        """Clear the fault ``name`` when it is raised (the primary only, like :meth:`raise_fault`)."""
        found = self.zk.exists(paths.fault(name))
        if found is not None:
            transaction = self.primary_transaction()
            transaction.delete(paths.fault(name), version=found.version)
            self.zk.commit(transaction, f"clear the fault {name}")

    def attach_republish(self, republish: Callable[[], object]) -> None:
        self._republish = republish

    def republish(self) -> None:
        """Publish this node's resources and attachments now rather than at the next keepalive (since 2.2):
        call it when what your ``pvc_node_attachments`` offers changed (a network now exists here), so that
        VMs needing it may be placed here at once. From a worker thread; writes only if something changed."""
        if self._republish is not None:
            self._republish()

    def leases_changed(self, vni: int) -> None:
        """Tell the primary's plugins that network ``vni``'s DHCP leases changed (since 2.3): a network driver
        calls it, from any thread, after recording the change where its ``leases(vni)`` reads it. The hook
        ``pvc_network_leases_changed`` then runs on the dispatcher thread; calls while one is queued for the
        same network are coalesced."""
        if self._hooks is None or not self.is_primary:
            return
        hooks = self._hooks
        with self._leases_lock:
            if vni in self._leases_queued:
                return
            self._leases_queued.add(vni)

        def announce() -> None:
            with self._leases_lock:
                self._leases_queued.discard(vni)
            if self.is_primary:
                hooks.network_leases_changed(self, vni)

        self._dispatcher.post(f"leases of network {vni} changed", announce)

    def network_changed(self, vni: int, old: Network | None, new: Network | None) -> None:
        """Tell the primary's plugins that network ``vni`` was added (``old`` None), changed or removed
        (``new`` None) (since 2.3): the plugin that stores networks (``builtin.networks``) calls it, from
        any thread; ``pvc_network_changed`` then runs on the dispatcher thread."""
        if self._hooks is None or not self.is_primary:
            return
        hooks = self._hooks

        def announce() -> None:
            if self.is_primary:
                hooks.network_changed(self, vni, old, new)

        self._dispatcher.post(f"network {vni} changed", announce)

    def call_later(self, delay: float, event: str, job: Callable[[], None]) -> None:
        """Run ``job`` on the dispatcher thread after ``delay`` seconds."""
        self._dispatcher.call_later(delay, event, job)

    def post(self, event: str, job: Callable[[], Any]) -> None:
        """Run ``job`` on the dispatcher thread soon (from a plugin's own worker thread, say)."""
        self._dispatcher.post(event, job)
