"""Builtin plugin ``builtin.networks``: the cluster's client networks (``pvc network ...``).

It stores networks (:mod:`pvc_core.networks.store`), carries out ``pvc network ...`` on the primary
(:mod:`pvc_core.networks.actions`), has every node build them with its network drivers and offer them to
VMs, gives each VM interface its ``<interface>`` from the driver (``pvc_vm_prepare``), and runs the
networks' services on the primary coordinator only (:mod:`pvc_core.networks.node`). The drivers
(network-evpn for ``managed`` networks, network-vlan for ``bridged`` ones) know nothing of ZooKeeper's
network records: they get a :class:`pvc_core.roles.network.Network` and build it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pvc_core import hookimpl
from pvc_core.networks import store
from pvc_core.networks.node import NodeNetworks

if TYPE_CHECKING:
    from pvc_core.api_context import ApiContext
    from pvc_core.host import Host
    from pvc_core.metrics import Gauge
    from pvc_core.vms.devices import DomainDevice
    from pvc_core.vms.model import VmRecord
    from pvc_core.zk.schema import Schema

PVC_CONTRACT = ">=2.2,<3"

PLUGIN = store.PLUGIN


def _node(host: Host) -> NodeNetworks:
    found = host.state.get(PLUGIN)
    if not isinstance(found, NodeNetworks):
        found = host.state[PLUGIN] = NodeNetworks(host)
    return found


@hookimpl
def pvc_zk_schema() -> Schema:
    return store.SCHEMA


@hookimpl
def pvc_daemon_start(host: Host) -> None:
    _node(host).start()


@hookimpl
def pvc_daemon_stop(host: Host) -> None:
    _node(host).stop()


@hookimpl
def pvc_become_primary(host: Host) -> None:
    _node(host).become_primary()


@hookimpl
def pvc_become_secondary(host: Host) -> None:
    _node(host).become_secondary()


@hookimpl
def pvc_session_changed(host: Host, state: str) -> None:
    if state in ("resumed", "renewed"):
        _node(host).wake()


@hookimpl
def pvc_node_attachments(host: Host) -> dict[str, list[str]]:
    """The networks built on this node, by VNI and by name."""
    return _node(host).offers()


@hookimpl
def pvc_vm_prepare(host: Host, vm: VmRecord, purpose: str) -> list[DomainDevice]:
    return _node(host).prepare(vm)


@hookimpl
def pvc_plugin_actions(host: Host) -> dict[str, Any]:
    from pvc_core.networks.actions import actions

    return actions(_node(host))


@hookimpl
def pvc_api_blueprints(api: ApiContext) -> list[Any]:
    from pvc_core.networks.api import blueprint

    return [blueprint(api, PLUGIN)]


@hookimpl
def pvc_api_metrics(api: ApiContext) -> list[Gauge]:
    from pvc_core.networks.metrics import gauges

    return gauges(api.cluster.zk)
