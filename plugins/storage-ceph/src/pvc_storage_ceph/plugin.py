"""The ``storage-ceph`` plugin (entry point ``pvc.plugins: storage-ceph``): Ceph RBD volumes as VM disks.

Enable it with the ``ceph`` storage driver on every node that runs VMs::

    drivers: {storage: ceph}
    plugins: {enable: [storage-ceph]}

It offers the pools this node reaches (``pvc_node_attachments``), gives each VM volume its RBD ``<disk>``
and cephx secret (``pvc_vm_prepare``), cuts a fenced node's Ceph clients off and frees its VMs' image locks
before they start elsewhere (``pvc_node_fenced``), lifts that when the operator makes the node ready, and
carries out ``pvc storage ...`` on the primary (``pvc_plugin_actions``). Everything it needs of the core is
in the contract: the ``storage`` role and the hooks.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from pvc_core import hookimpl
from pvc_core.dispatch import Watch
from pvc_core.nodes import DomainState
from pvc_storage_ceph.actions import actions
from pvc_storage_ceph.osds import jobs_of
from pvc_storage_ceph.service import PLUGIN, StorageService

if TYPE_CHECKING:
    from pvc_core.api_context import ApiContext
    from pvc_core.dispatch import ZkEvent
    from pvc_core.host import Host
    from pvc_core.metrics import Gauge
    from pvc_core.nodes import NodeRecord
    from pvc_core.vms.devices import DomainDevice
    from pvc_core.vms.model import VmRecord

PVC_CONTRACT = ">=2.1,<3"

_services: dict[int, StorageService] = {}  # by id(host): one pvcd, one service (tests may run several)
OSD_JOBS = "storage-ceph.osd-jobs"
_BACK = frozenset({DomainState.UNFLUSH.value, DomainState.READY.value})


def _service(host: Host) -> StorageService:
    service = _services.get(id(host))
    if service is None:
        service = _services[id(host)] = StorageService(host)
    return service


@hookimpl
def pvc_daemon_start(host: Host) -> None:
    """Refuse to run without the ceph driver; look at Ceph once, then every refresh_interval."""
    _service(host).start()


@hookimpl
def pvc_daemon_stop(host: Host) -> None:
    service = _services.pop(id(host), None)
    if service is not None:
        service.stop()


@hookimpl
def pvc_zk_watches(host: Host) -> list[Watch]:
    """This node's OSD jobs (``pvc storage osd add NODE`` and removals), written by the primary."""
    return [Watch(path=jobs_of(host.node), kind="children", name=OSD_JOBS)]


@hookimpl
def pvc_zk_event(host: Host, event: ZkEvent) -> None:
    if event.name == OSD_JOBS:
        _service(host).on_jobs(list(event.children or []))


@hookimpl
def pvc_node_attachments(host: Host) -> dict[str, list[str]]:
    """Every pool this node reached at the last look: ``{"volume": ["vms/*"]}``."""
    return _service(host).offers()


@hookimpl
def pvc_vm_prepare(host: Host, vm: VmRecord, purpose: str) -> list[DomainDevice]:
    """The RBD ``<disk>`` of each of the VM's volumes. A node that was fenced and is now given a VM was made
    ready by the operator (a flushed node gets none): what its fence blocklisted is lifted first."""
    if not vm.volumes:
        return []
    service = _service(host)
    if service.driver.fenced_clients(host.node):
        service.readmit(host.node)
    return [service.driver.attach(vm.uuid, volume) for volume in vm.volumes]


@hookimpl
def pvc_node_fenced(host: Host, node: str, epoch: int) -> None:
    """Before the node's VMs start elsewhere: blocklist its Ceph clients, break and take its images' locks."""
    _service(host).fence(node)


@hookimpl
def pvc_node_changed(host: Host, name: str, old: NodeRecord | None, new: NodeRecord | None) -> None:
    """On the primary: a fenced node made ready again (``pvc node ready``) gets its Ceph clients back."""
    if not host.is_primary or new is None or new.domain_state not in _BACK:
        return
    if old is not None and old.domain_state in _BACK:
        return
    service = _service(host)
    threading.Thread(target=lambda: _readmit_if_fenced(service, name), name="storage-readmit", daemon=True).start()


def _readmit_if_fenced(service: StorageService, node: str) -> None:
    if service.driver.fenced_clients(node):
        service.readmit(node)


@hookimpl
def pvc_become_primary(host: Host) -> None:
    """Bring the listings and status up to date at once (in the background), not at the next look."""
    service = _service(host)
    threading.Thread(target=service.resync_and_look, name="storage-takeover", daemon=True).start()


@hookimpl
def pvc_plugin_actions(host: Host) -> dict[str, Any]:
    """``pvc storage ...`` and the API's storage routes, carried out here when this node is primary."""
    return actions(_service(host))


@hookimpl
def pvc_api_blueprints(api: ApiContext) -> list[Any]:
    from pvc_storage_ceph.api import blueprint

    return [blueprint(api, PLUGIN)]


@hookimpl
def pvc_api_metrics(api: ApiContext) -> list[Gauge]:
    """Ceph's health, capacity, per-pool usage and OSD states, from the status the primary keeps."""
    from pvc_storage_ceph.metrics import gauges

    return gauges(api.cluster.plugin_data(PLUGIN).get("status") or {})
