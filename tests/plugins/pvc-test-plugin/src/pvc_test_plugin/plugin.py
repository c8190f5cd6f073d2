"""The ``testplugin`` plugin (entry point ``pvc.plugins: testplugin``): hooks that leave traces in ZooKeeper.

What the tests can observe, per node ``<node>``:

* ``/plugins/testplugin/started/<node>``: ``{"node", "pid"}`` of the pvcd that ran ``pvc_daemon_start``.
* ``/plugins/testplugin/primary``: ``{"node", "epoch"}`` written by the last ``pvc_become_primary``.
* ``/plugins/testplugin/secondary/<node>``: ``{"node", "epoch"}`` written by that node's last ``pvc_become_secondary``.
* ``/plugins/testplugin/pong/<node>``: a copy of the data last written to ``/plugins/testplugin/ping/<node>``
  (through a ``pvc_zk_watches`` watch and ``pvc_zk_event``), to measure dispatch latency.
* ``{"testplugin": true}`` in the node's published resources (``pvc_node_resources``).

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
from pvc_core.zk.session import Conflict, encode

if TYPE_CHECKING:
    from pvc_core.dispatch import ZkEvent
    from pvc_core.host import Host
    from pvc_core.zk.session import ZkSession

PVC_CONTRACT = ">=2.0,<3"

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


def _config(host: Host) -> PluginConfig:
    config: PluginConfig = host.config.section(SECTION)
    return config


def _write(zk: ZkSession, path: str, value: bytes) -> None:
    """Set ``path`` to ``value``, creating it (and its parents) when missing."""
    if zk.exists(path) is None:
        try:
            zk.create(path, value, makepath=True)
        except Conflict:
            pass  # created meanwhile: overwrite below
        else:
            return
    zk.set(path, value)


@hookimpl
def pvc_config_sections() -> list[ConfigSection]:
    return [ConfigSection(SECTION, PluginConfig)]


@hookimpl
def pvc_zk_watches(host: Host) -> list[Watch]:
    return [Watch(path=ping_path(host.node), kind="data", name=PING_EVENT)]


@hookimpl
def pvc_daemon_start(host: Host) -> None:
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
    _write(host.zk, PRIMARY, encode({"node": host.node, "epoch": epoch}))


@hookimpl
def pvc_become_secondary(host: Host, epoch: int) -> None:
    _write(host.zk, f"{ROOT}/secondary/{host.node}", encode({"node": host.node, "epoch": epoch}))


@hookimpl
def pvc_zk_event(host: Host, event: ZkEvent) -> None:
    if event.name != PING_EVENT:
        return  # every plugin sees every event
    if _config(host).raise_in_hook:
        raise RuntimeError(RAISE_MESSAGE)
    if event.exists:
        _write(host.zk, pong_path(host.node), event.data or b"")


@hookimpl
def pvc_node_resources() -> dict[str, Any]:
    return {"testplugin": True}
