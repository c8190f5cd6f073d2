"""The ``testplugin`` plugin (entry point ``pvc.plugins: testplugin``): hooks that leave traces in ZooKeeper.

What the tests can observe, per node ``<node>``:

* ``/plugins/testplugin/started/<node>``: ``{"node", "pid"}`` of the pvcd that ran ``pvc_daemon_start``.
* ``/plugins/testplugin/primary``: ``{"node", "epoch"}`` written by the last ``pvc_become_primary``.
* ``/plugins/testplugin/secondary/<node>``: ``{"node", "epoch"}`` written by that node's last ``pvc_become_secondary``.
* ``/plugins/testplugin/pong/<node>``: a copy of the data last written to ``/plugins/testplugin/ping/<node>``
  (through a ``pvc_zk_watches`` watch and ``pvc_zk_event``), to measure dispatch latency.
* ``{"testplugin": true}`` in the node's published resources (``pvc_node_resources``).

* With ``testplugin: {offer_network: NAME}``: this node offers network NAME to VMs
  (``pvc_node_attachments``) and gives each VM interface on it an ``<interface type='user'>``
  (``pvc_vm_prepare``); ``/plugins/testplugin/prepared/<node>/<vm>`` and ``.../released/<node>/<vm>``
  hold the purpose of the last prepare and release. ``fail_prepare: true`` makes the prepare raise.
* ``/plugins/testplugin/vm_events``: a JSON list of ``[event, vm name, detail]`` from the cluster-level VM
  hooks, appended by the primary.
* ``/plugins/testplugin/fenced/<node>``: ``{"epoch"}`` written by ``pvc_node_fenced``; with
  ``fail_node_fenced: true`` it raises instead.
* Actions (``pvc_plugin_actions``), carried out by the primary: ``echo`` answers its arguments and the
  node that carried it out; ``refuse`` raises NotFound (``InvalidRequest`` naming ``args.field`` when
  given); ``crash`` raises RuntimeError; ``slow`` sleeps ``args.seconds`` first; ``huge`` answers 600 KiB.
* ``refuse_start: REASON`` makes ``pvc_daemon_start`` raise ``StartRefused(REASON)``.

With ``testplugin: {raise_in_hook: true}`` in the node config, ``pvc_daemon_start`` and ``pvc_zk_event``
(for its own ``testplugin.ping`` events) raise ``RuntimeError`` before doing anything, to show that a
raising hook is logged and dispatch goes on. With ``testplugin: {primary_delay: SECONDS}``,
``pvc_become_primary`` takes that long (a slow plugin while its node takes over).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from pydantic import Field

from pvc_core import hookimpl
from pvc_core.config import ConfigSection, StrictModel
from pvc_core.dispatch import Watch
from pvc_core.errors import InvalidRequest, NotFound, PvcError, StartRefused
from pvc_core.vms.devices import DomainDevice
from pvc_core.zk.session import encode

if TYPE_CHECKING:
    from pvc_core.dispatch import ZkEvent
    from pvc_core.host import Host
    from pvc_core.roles.network import Network
    from pvc_core.vms.model import VmRecord

PVC_CONTRACT = ">=2.3,<3"

SECTION = "testplugin"
ROOT = "/plugins/testplugin"
PRIMARY = f"{ROOT}/primary"
PING_EVENT = "testplugin.ping"
RAISE_MESSAGE = "testplugin was told to raise"


def started_path(node: str) -> str:
    return f"{ROOT}/started/{node}"


def ping_path(node: str) -> str:
    return f"{ROOT}/ping/{node}"


def pong_path(node: str) -> str:
    return f"{ROOT}/pong/{node}"


class PluginConfig(StrictModel):
    """The ``testplugin`` section of the node config."""

    raise_in_hook: bool = Field(default=False, description="Make pvc_daemon_start and pvc_zk_event raise RuntimeError.")
    primary_delay: float = Field(default=0.0, ge=0, description="Seconds pvc_become_primary takes (a slow plugin).")
    offer_network: str = Field(default="", description="A network this node offers to VMs (by name or VNI).")
    fail_prepare: bool = Field(default=False, description="Make pvc_vm_prepare raise.")
    fail_node_fenced: bool = Field(default=False, description="Make pvc_node_fenced raise.")
    refuse_start: str = Field(default="", description="Refuse the start (StartRefused) with this reason.")


def _config(host: Host) -> PluginConfig:
    config: PluginConfig = host.config.section(SECTION)
    return config


@hookimpl
def pvc_config_sections() -> list[ConfigSection]:
    return [ConfigSection(SECTION, PluginConfig)]


@hookimpl
def pvc_zk_watches(host: Host) -> list[Watch]:
    return [Watch(path=ping_path(host.node), kind="data", name=PING_EVENT)]


@hookimpl
def pvc_daemon_start(host: Host) -> None:
    if _config(host).refuse_start:
        raise StartRefused(_config(host).refuse_start)
    if _config(host).raise_in_hook:
        raise RuntimeError(RAISE_MESSAGE)
    path = started_path(host.node)
    value = encode({"node": host.node, "pid": os.getpid()})
    host.zk.ensure(path, value)
    found = host.zk.get(path)
    if found is not None and found[0] != value:  # left by an earlier pvcd on this node: record this one
        host.zk.set(path, value)


@hookimpl
def pvc_become_primary(host: Host, epoch: int) -> None:
    time.sleep(_config(host).primary_delay)
    host.zk.put(PRIMARY, encode({"node": host.node, "epoch": epoch}))


@hookimpl
def pvc_become_secondary(host: Host, epoch: int) -> None:
    host.zk.put(f"{ROOT}/secondary/{host.node}", encode({"node": host.node, "epoch": epoch}))


@hookimpl
def pvc_zk_event(host: Host, event: ZkEvent) -> None:
    if event.name != PING_EVENT:
        return  # every plugin sees every event
    if _config(host).raise_in_hook:
        raise RuntimeError(RAISE_MESSAGE)
    if event.exists:
        host.zk.put(pong_path(host.node), event.data or b"")


@hookimpl
def pvc_node_resources() -> dict[str, Any]:
    return {"testplugin": True}


# -- what attaches to VMs ------------------------------------------------------------------------------------


@hookimpl
def pvc_node_attachments(host: Host) -> dict[str, list[str]]:
    offer = _config(host).offer_network
    return {"network": [offer]} if offer else {}


@hookimpl
def pvc_vm_prepare(host: Host, vm: VmRecord, purpose: str) -> list[DomainDevice]:
    config = _config(host)
    mine = [n for n in vm.networks if config.offer_network and n.network == config.offer_network]
    if not mine:
        return []
    if config.fail_prepare:
        raise PvcError(f"testplugin cannot prepare network {config.offer_network} here")
    host.zk.put(f"{ROOT}/prepared/{host.node}/{vm.name}", purpose.encode())
    return [
        DomainDevice(
            xml=f"<interface type='user'><mac address='{n.mac}'/><model type='{n.model}'/></interface>",
            kind="network",
            key=n.network,
        )
        for n in mine
    ]


@hookimpl
def pvc_vm_release(host: Host, vm: VmRecord, purpose: str) -> None:
    if any(n.network == _config(host).offer_network for n in vm.networks):
        host.zk.put(f"{ROOT}/released/{host.node}/{vm.name}", purpose.encode())


def _vm_event(host: Host, *event: str) -> None:
    path = f"{ROOT}/vm_events"
    found = host.zk.get_json(path) or []
    host.zk.put(path, encode([*found, list(event)]))


@hookimpl
def pvc_vm_defined(host: Host, vm: VmRecord) -> None:
    _vm_event(host, "defined", vm.name, "")


@hookimpl
def pvc_vm_modified(host: Host, old: VmRecord, new: VmRecord) -> None:
    _vm_event(host, "modified", new.name, f"revision {old.revision} -> {new.revision}")


@hookimpl
def pvc_vm_renamed(host: Host, vm: VmRecord, old_name: str) -> None:
    _vm_event(host, "renamed", vm.name, old_name)


@hookimpl
def pvc_vm_removed(host: Host, vm: VmRecord) -> None:
    _vm_event(host, "removed", vm.name, "")


@hookimpl
def pvc_network_changed(host: Host, vni: int, old: Network | None, new: Network | None) -> None:
    path = f"{ROOT}/network_events"
    what = "added" if old is None else "removed" if new is None else f"{old.domain or '-'} -> {new.domain or '-'}"
    host.zk.put(path, encode([*(host.zk.get_json(path) or []), [vni, what]]))


@hookimpl
def pvc_node_fenced(host: Host, node: str, epoch: int) -> None:
    if _config(host).fail_node_fenced:
        raise PvcError("testplugin was told not to fence storage clients")
    host.zk.put(f"{ROOT}/fenced/{node}", encode({"epoch": epoch}))


@hookimpl
def pvc_plugin_actions(host: Host) -> dict[str, Any]:
    def echo(args: dict[str, Any]) -> dict[str, Any]:
        return {"args": args, "node": host.node}

    def refuse(args: dict[str, Any]) -> None:
        if "field" in args:
            raise InvalidRequest(f"testplugin refuses {args['field']}", field=str(args["field"]))
        raise NotFound("testplugin has no such thing")

    def crash(args: dict[str, Any]) -> None:
        raise RuntimeError("testplugin crashed on purpose")

    def slow(args: dict[str, Any]) -> dict[str, Any]:
        time.sleep(float(args.get("seconds", 1)))
        return echo(args)

    def huge(args: dict[str, Any]) -> str:
        return "x" * (600 * 1024)

    return {"echo": echo, "refuse": refuse, "crash": crash, "slow": slow, "huge": huge}
