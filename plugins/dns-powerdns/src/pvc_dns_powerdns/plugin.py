"""The ``dns-powerdns`` plugin (entry point ``pvc.plugins: dns-powerdns``): the cluster's names in one
authoritative PowerDNS, kept by the primary.

Enable it with the driver on every node (each node publishes its own name; the primary publishes the
rest), with a PowerDNS on every coordinator::

    drivers: {dns: powerdns}
    plugins: {enable: [dns-powerdns]}
    dns_powerdns: {api_key: ..., cluster_zone: pvc.example.com, address: 10.0.0.53/24, device: eth0}

It follows VMs (``pvc_vm_defined`` ... ``pvc_vm_removed``), networks (``pvc_network_changed``) and their
DHCP leases (``pvc_network_leases_changed``); resyncs everything in ``pvc_become_primary``; answers
``pvc dns ...`` and ``pvc network dns ...`` (``pvc_plugin_actions``). Everything it needs of the core is in
the contract: the ``dns`` role, the hooks, ``host.cluster`` and the network drivers' ``leases``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pvc_core import hookimpl
from pvc_core.zk.schema import Schema
from pvc_dns_powerdns.service import NODES, PLUGIN, DnsService

if TYPE_CHECKING:
    from pvc_core.api_context import ApiContext
    from pvc_core.host import Host
    from pvc_core.metrics import Gauge
    from pvc_core.roles.network import Network
    from pvc_core.vms.model import VmRecord

PVC_CONTRACT = ">=2.3,<3"

_services: dict[int, DnsService] = {}  # by id(host): one pvcd, one service (tests may run several)


def _of(host: Host) -> DnsService | None:
    return _services.get(id(host))


@hookimpl
def pvc_zk_schema() -> Schema:
    """``/plugins/dns-powerdns``: ``status`` (the primary's last sync), ``zones`` (the zones it manages, so
    that a later primary removes those no longer wanted) and ``nodes/<NODE>`` (each node's address)."""
    return Schema(owner=PLUGIN, version=1, paths=(f"/plugins/{PLUGIN}", f"/plugins/{PLUGIN}/{NODES}"))


@hookimpl
def pvc_daemon_start(host: Host) -> None:
    service = _services[id(host)] = DnsService(host)
    service.start()


@hookimpl
def pvc_daemon_stop(host: Host) -> None:
    service = _services.pop(id(host), None)
    if service is not None:
        service.stop()


@hookimpl
def pvc_become_primary(host: Host) -> None:
    """Compare every zone with PowerDNS and repair it, then take the cluster DNS address."""
    service = _of(host)
    if service is not None:
        service.become_primary()


@hookimpl
def pvc_become_secondary(host: Host) -> None:
    service = _of(host)
    if service is not None:
        service.become_secondary()


def _changed(host: Host) -> None:
    service = _of(host)
    if service is not None:
        service.request()


@hookimpl
def pvc_vm_defined(host: Host, vm: VmRecord) -> None:
    _changed(host)


@hookimpl
def pvc_vm_modified(host: Host, old: VmRecord, new: VmRecord) -> None:
    if old.networks != new.networks:  # a VM's names come from its interfaces' MACs
        _changed(host)


@hookimpl
def pvc_vm_renamed(host: Host, vm: VmRecord, old_name: str) -> None:
    _changed(host)


@hookimpl
def pvc_vm_removed(host: Host, vm: VmRecord) -> None:
    _changed(host)


@hookimpl
def pvc_network_changed(host: Host, vni: int, old: Network | None, new: Network | None) -> None:
    _changed(host)


@hookimpl
def pvc_network_leases_changed(host: Host, vni: int) -> None:
    _changed(host)


@hookimpl
def pvc_plugin_actions(host: Host) -> dict[str, Any]:
    """``pvc dns status|sync`` and ``pvc network dns list``, carried out by the primary."""

    def service() -> DnsService:
        found = _of(host)
        if found is None:
            from pvc_core.errors import Conflict

            raise Conflict(f"the dns-powerdns plugin is not running on {host.node}")
        return found

    return {
        "status": lambda args: service().current_status(),
        "sync": lambda args: service().sync_now(),
        "records": lambda args: service().records(str(args.get("network", ""))),
    }


@hookimpl
def pvc_api_blueprints(api: ApiContext) -> list[Any]:
    from pvc_dns_powerdns.api import blueprint

    return [blueprint(api, PLUGIN)]


@hookimpl
def pvc_api_metrics(api: ApiContext) -> list[Gauge]:
    """Whether the cluster DNS is in sync, its records, and the drift it repaired."""
    from pvc_dns_powerdns.api import gauges

    return gauges(api.cluster.plugin_data(PLUGIN).get("status") or {})
