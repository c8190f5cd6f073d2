"""VM operations for clients (the CLI and the API): desired state in, the owning node does the work.

Every operation that a node must carry out takes the VM's operation lock: the record's ``operation`` is set
in the same compare-and-set as the new desired state, and the owning node clears it when the VM settles.
A second operation meanwhile gets :class:`pvc_core.errors.Busy`. A lock whose node has no live session
is stale and is taken over.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pvc_core import limits
from pvc_core.errors import InvalidRequest, NotFound
from pvc_core.vms import requests, store
from pvc_core.vms.attachments import check_provided, complete, parse_network, parse_volume
from pvc_core.vms.capacity import read_capacities
from pvc_core.vms.model import (
    MigrationMethod,
    VmNetwork,
    VmRecord,
    VmState,
    VmVolume,
    check_vm_name,
)
from pvc_core.vms.placement import NodeCapacity, choose_node
from pvc_core.vms.requests import ProgressFn, wait_settled
from pvc_core.vms.xml import parse_domain, rename_domain
from pvc_core.zk import paths

if TYPE_CHECKING:
    from pvc_core.client.cluster import Cluster
    from pvc_core.nodes import NodeView

__all__ = ["NetworkSpec", "ProgressFn", "Vms", "VolumeSpec", "wait_settled"]

VolumeSpec = str | Mapping[str, Any] | VmVolume
NetworkSpec = str | Mapping[str, Any] | VmNetwork


class Vms:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.zk = cluster.zk
        self._summaries = store.SummaryCache()

    # -- reading ----------------------------------------------------------------------------------------------

    def list(self, node: str | None = None, state: str | None = None, tag: str | None = None) -> list[VmRecord]:
        """Every VM (filtered, by name): one round trip of 64 bucket reads, whatever the count."""
        return self.listing(node, state, tag)[0]

    def listing(
        self, node: str | None = None, state: str | None = None, tag: str | None = None
    ) -> tuple[builtins.list[VmRecord], tuple[int, ...]]:
        """:meth:`list` and the version it was read at: equal versions mean equal listings, so a caller
        (the API) can keep what it built from one (its JSON) until the version changes."""
        records, version = self._summaries.read(self.zk)
        chosen = sorted(
            (
                r
                for r in records
                if (node is None or r.node == node)
                and (state is None or r.state == state)
                and (tag is None or tag in r.tags)
            ),
            key=lambda r: r.name,
        )
        return chosen, version

    def get(self, name: str) -> VmRecord:
        return store.read(self.zk, store.resolve(self.zk, name))[0]

    def dump(self, name: str) -> str:
        return store.read_xml(self.zk, store.resolve(self.zk, name))

    # -- placement --------------------------------------------------------------------------------------------

    def capacities(self, ignore: str = "") -> dict[str, NodeCapacity]:
        self.cluster.require_initialised()
        return read_capacities(self.zk, ignore=ignore)

    def _check_nodes(self, names: Iterable[str], views: Iterable[NodeView] | None = None) -> None:
        known = {view.name for view in (self.cluster.nodes() if views is None else views)}
        for name in names:
            if name not in known:
                raise NotFound(f"no node named '{name}' in this cluster")

    # -- define, modify, remove -------------------------------------------------------------------------------

    def define(
        self,
        xml: str,
        target: str | None = None,
        limit: Iterable[str] = (),
        selector: str | None = None,
        autostart: bool = False,
        migration_method: str = MigrationMethod.NONE.value,
        max_downtime_ms: int = 300,
        tags: Iterable[str] = (),
        volumes: Iterable[VolumeSpec] = (),
        networks: Iterable[NetworkSpec] = (),
    ) -> VmRecord:
        """Validate the XML and store the VM (state ``stop``) with a home node; nothing runs yet.

        ``volumes`` (``pool/volume[:bus[:target]]`` or mappings) and ``networks`` (``NETWORK[,mac=M][,model=M]``
        or mappings) must be offered by some node's plugins; targets and MACs left out are filled in."""
        limits.check_xml(xml)
        domain = parse_domain(xml)
        check_vm_name(domain.name)
        limit, tags = tuple(limit), limits.check_tags(tags)
        limits.check_count(limit, limits.MAX_NODE_LIMIT, "limit", "nodes in the node limit")
        views = self.cluster.nodes()  # read once: names, offers and capacities all come from it
        self._check_nodes([*limit, *([target] if target else [])], views)
        requests.check_meta(selector, migration_method, max_downtime_ms)
        attached_volumes, attached_networks = self._attachments(volumes, networks)
        record = VmRecord(
            uuid=domain.uuid,
            name=domain.name,
            state=VmState.STOP.value,
            node_limit=limit,
            node_selector=selector,
            autostart=autostart,
            migration_method=migration_method,
            max_downtime_ms=max_downtime_ms,
            tags=tags,
            volumes=attached_volumes,
            networks=attached_networks,
            memory_mib=domain.memory_mib,
            vcpus=domain.vcpus,
        )
        check_provided(record, [view.record.attachments for view in views])
        if target and limit and target not in limit:
            raise InvalidRequest(f"target node {target} is outside the VM's node limit ({', '.join(limit)})")
        home = target or choose_node(record, read_capacities(self.zk, views=views))
        store.create(self.zk, record.with_(node=home), domain.xml)
        return store.read(self.zk, domain.uuid)[0]

    def _attachments(
        self, volumes: Iterable[VolumeSpec], networks: Iterable[NetworkSpec]
    ) -> tuple[tuple[VmVolume, ...], tuple[VmNetwork, ...]]:
        volumes, networks = list(volumes), list(networks)
        limits.check_count(volumes, limits.MAX_ATTACHMENTS, "volumes", "volumes")
        limits.check_count(networks, limits.MAX_ATTACHMENTS, "networks", "network interfaces")
        parsed_volumes = [parse_volume(v, f"volumes[{i}]") for i, v in enumerate(volumes)]
        parsed_networks = [parse_network(n, f"networks[{i}]") for i, n in enumerate(networks)]
        return complete(parsed_volumes, parsed_networks)

    def attach(
        self, name: str, volumes: Iterable[VolumeSpec] | None = None, networks: Iterable[NetworkSpec] | None = None
    ) -> VmRecord:
        """Replace the VM's volumes and/or networks (None: unchanged); it takes effect at its next start."""
        uuid = store.resolve(self.zk, name)
        current = store.read(self.zk, uuid)[0]
        new_volumes, new_networks = self._attachments(
            current.volumes if volumes is None else volumes, current.networks if networks is None else networks
        )
        check_provided(
            current.with_(volumes=new_volumes, networks=new_networks),
            [view.record.attachments for view in self.cluster.nodes()],
        )

        def change(r: VmRecord) -> VmRecord:
            return r.with_(volumes=new_volumes, networks=new_networks, revision=r.revision + 1)

        return store.update(self.zk, uuid, change)

    def modify(self, name: str, xml: str, restart: bool = False) -> VmRecord:
        """Replace the domain XML (same UUID and name: use rename for the name); ``restart`` applies it."""
        limits.check_xml(xml)
        uuid = store.resolve(self.zk, name)
        domain = parse_domain(xml)
        current = store.read(self.zk, uuid)[0]
        if domain.uuid != uuid:
            raise InvalidRequest(f"the new XML's UUID {domain.uuid} is not VM {current.name}'s ({uuid})")
        if domain.name != current.name:
            raise InvalidRequest(f"the new XML names '{domain.name}'; use 'pvc vm rename' to rename {current.name}")
        record = store.update(
            self.zk, uuid, lambda r: r.with_(memory_mib=domain.memory_mib, vcpus=domain.vcpus), xml=domain.xml
        )
        if restart and record.state == VmState.START:
            return self.set_state(name, VmState.RESTART)
        return record

    def meta(
        self,
        name: str,
        limit: Iterable[str] | None = None,
        selector: str | None = None,
        autostart: bool | None = None,
        migration_method: str | None = None,
        max_downtime_ms: int | None = None,
    ) -> VmRecord:
        requests.check_meta(selector, migration_method, max_downtime_ms)
        if limit is not None:
            limit = tuple(limit)
            limits.check_count(limit, limits.MAX_NODE_LIMIT, "limit", "nodes in the node limit")
            self._check_nodes(limit)

        def change(r: VmRecord) -> VmRecord:
            return r.with_(
                node_limit=r.node_limit if limit is None else tuple(limit),
                node_selector=r.node_selector if selector is None else (selector or None),
                autostart=r.autostart if autostart is None else autostart,
                migration_method=r.migration_method if migration_method is None else migration_method,
                max_downtime_ms=r.max_downtime_ms if max_downtime_ms is None else max_downtime_ms,
            )

        return store.update(self.zk, store.resolve(self.zk, name), change)

    def rename(self, name: str, new_name: str) -> VmRecord:
        check_vm_name(new_name, "new_name")
        uuid = store.resolve(self.zk, name)
        record = store.read(self.zk, uuid)[0]
        if record.state not in (VmState.STOP, VmState.DISABLE, VmState.FAIL):
            raise InvalidRequest(f"VM {name} is in state {record.state}; stop it before renaming")
        xml = rename_domain(store.read_xml(self.zk, uuid), new_name)
        return store.update(self.zk, uuid, lambda r: r.with_(name=new_name), xml=xml, redefined=False)

    def remove(self, name: str) -> VmRecord:
        uuid = store.resolve(self.zk, name)
        record = store.read(self.zk, uuid)[0]
        if record.state not in (VmState.STOP, VmState.DISABLE, VmState.FAIL) or record.observed == "running":
            raise InvalidRequest(f"VM {name} is in state {record.state}; stop it before removing it")
        requests.check_not_busy(record, requests.alive_nodes(self.zk))
        return store.remove(self.zk, uuid)

    def tag(self, name: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> VmRecord:
        adding, removing = limits.check_tags(add, "add"), set(remove)

        def change(r: VmRecord) -> VmRecord:
            tags = [t for t in r.tags if t not in removing]
            return r.with_(tags=limits.check_tags([*tags, *adding]))

        return store.update(self.zk, store.resolve(self.zk, name), change)

    # -- state changes ----------------------------------------------------------------------------------------

    def set_state(self, name: str, state: VmState, target: str | None = None) -> VmRecord:
        """Ask for a new state; the node that must act is chosen here and takes the operation lock."""
        uuid = store.resolve(self.zk, name)
        if target:
            self._check_nodes([target])
        self.cluster.require_initialised()
        return requests.request(self.zk, uuid, state, target)

    def start(self, name: str, target: str | None = None) -> VmRecord:
        return self.set_state(name, VmState.START, target)

    def shutdown(self, name: str) -> VmRecord:
        return self.set_state(name, VmState.SHUTDOWN)

    def stop(self, name: str) -> VmRecord:
        return self.set_state(name, VmState.STOP)

    def restart(self, name: str) -> VmRecord:
        return self.set_state(name, VmState.RESTART)

    def disable(self, name: str) -> VmRecord:
        return self.set_state(name, VmState.DISABLE)

    def migrate(self, name: str, target: str | None = None) -> VmRecord:
        return self.set_state(name, VmState.MIGRATE, target)

    def unmigrate(self, name: str) -> VmRecord:
        return self.set_state(name, VmState.UNMIGRATE)

    def move(self, name: str, target: str | None = None) -> VmRecord:
        """Migrate for good: the VM's last node is forgotten, so unmigrate does not bring it back."""
        uuid = store.resolve(self.zk, name)
        if target:
            self._check_nodes([target])
        self.cluster.require_initialised()
        return requests.request(self.zk, uuid, VmState.MIGRATE, target, forget_last=True)

    # -- console ----------------------------------------------------------------------------------------------

    def console(
        self, name: str, lines: int = 50, follow: bool = False, timeout: float = 10.0
    ) -> Iterator[Sequence[str]]:
        """The VM's serial console from the node that runs it: the last ``lines`` lines, then (``follow``)
        each batch of new lines as it comes, until the caller stops iterating."""
        import secrets

        from pvc_core.zk.session import decode, encode

        record = store.read(self.zk, store.resolve(self.zk, name))[0]
        if not record.node:
            raise InvalidRequest(f"VM {record.name} has no node")
        if record.node not in requests.alive_nodes(self.zk):
            raise InvalidRequest(f"node {record.node}, which holds VM {record.name}, is not running")
        path = f"{paths.console_requests(record.node)}/{record.uuid}.{secrets.token_hex(4)}"
        self.zk.ensure(paths.console_requests(record.node))
        self.zk.create(path, encode({"lines": lines, "follow": follow}), ephemeral=True)
        try:
            seen, deadline = 0, time.monotonic() + timeout
            while True:
                answer = decode((self.zk.get(path) or (b"", None))[0]) or {}
                sequence = int(answer.get("sequence", 0))
                if sequence > seen:
                    seen, deadline = sequence, time.monotonic() + timeout
                    yield list(answer.get("lines", []))
                    if not follow:
                        return
                elif not follow and time.monotonic() > deadline:
                    raise InvalidRequest(f"node {record.node} did not answer for VM {record.name}'s console")
                time.sleep(0.2)
        finally:
            self.zk.delete(path)

    # -- waiting ----------------------------------------------------------------------------------------------

    def wait(self, name: str, timeout: float = 120.0, progress: ProgressFn | None = None) -> VmRecord:
        """Wait until the VM's operation is over; raise with the reason if it ended in ``fail``."""
        uuid = store.resolve(self.zk, name)
        return wait_settled(lambda: store.read(self.zk, uuid)[0], timeout, progress)
