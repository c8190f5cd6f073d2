"""The ``network-evpn`` plugin (entry point ``pvc.plugins: network-evpn``): what the evpn driver needs of
the cluster beyond one network at a time.

* Each node publishes its VTEP address (``/plugins/network-evpn/nodes/<NODE>``); every node peers over
  BGP with all the others it finds there (EVPN), and coordinators also with the upstream routers,
  advertising every managed network's prefixes.
* A coordinator that is not primary routes those prefixes to the primary, whose bridges hold the
  gateways; the primary removes such routes.

Enable it with the driver::

    drivers: {network: [evpn]}
    plugins: {enable: [network-evpn]}
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from pvc_core import hookimpl
from pvc_core.dispatch import Watch
from pvc_core.errors import PvcError, StartRefused
from pvc_core.log import get_logger
from pvc_core.zk.session import decode, encode
from pvc_network_evpn.driver import NODES, EvpnNetworks

if TYPE_CHECKING:
    from pvc_core.dispatch import ZkEvent
    from pvc_core.host import Host
    from pvc_core.nodes import NodeRecord

PVC_CONTRACT = ">=2.3,<3"
PEERS = "network-evpn.peers"
INTERVAL = 2.0  # seconds between looks at what the networks need of BGP and routes, when nothing woke it


class Routing:
    """One thread per pvcd: BGP peers and prefixes, routes to the primary; woken by changes."""

    def __init__(self, host: Host, driver: EvpnNetworks) -> None:
        self.host = host
        self.driver = driver
        self.log = get_logger(plugin="network-evpn", node=host.node)
        self.vteps: dict[str, str] = {}
        self.primary: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="evpn-routing", daemon=True)

    def start(self) -> None:
        self.host.zk.put(
            f"{NODES}/{self.host.node}", encode({"vtep": self.driver.vtep(), "coordinator": self.host.is_coordinator})
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def peers_changed(self, names: list[str]) -> None:
        found = self.host.zk.get_many([f"{NODES}/{n}" for n in names])
        vteps = {}
        for name, entry in zip(names, found, strict=True):
            if entry is not None and entry[0]:
                vteps[name] = str((decode(entry[0]) or {}).get("vtep", ""))
        self.vteps = {n: v for n, v in vteps.items() if v}
        self.wake()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except PvcError as exc:
                self.log.warning("evpn_routing_failed", reason=exc.message)
            except Exception:
                self.log.exception("evpn_routing_failed")
            self._wake.wait(INTERVAL)
            self._wake.clear()

    def sync(self) -> None:
        coordinator = self.host.is_coordinator
        self.driver.configure_bgp(set(self.vteps.values()), coordinator)
        if not coordinator:
            return
        if self.host.is_primary or self.primary == self.host.node:
            self.driver.route_to_primary("")
        elif self.primary is not None and self.primary in self.vteps:
            self.driver.route_to_primary(self.vteps[self.primary])


_routing: dict[int, Routing] = {}


def _of(host: Host) -> Routing | None:
    return _routing.get(id(host))


@hookimpl
def pvc_daemon_start(host: Host) -> None:
    driver = host.network_driver("evpn")
    if not isinstance(driver, EvpnNetworks):
        raise StartRefused("the network-evpn plugin needs the evpn network driver (drivers: {network: [evpn]})")
    routing = _routing[id(host)] = Routing(host, driver)
    routing.primary = host.cluster.primary()
    routing.start()
    routing.peers_changed(host.zk.children(NODES))  # the watch may have fired before this hook


@hookimpl
def pvc_daemon_stop(host: Host) -> None:
    routing = _routing.pop(id(host), None)
    if routing is not None:
        routing.stop()


@hookimpl
def pvc_zk_watches(host: Host) -> list[Watch]:
    return [Watch(path=NODES, kind="children", name=PEERS)]


@hookimpl
def pvc_zk_event(host: Host, event: ZkEvent) -> None:
    routing = _of(host)
    if event.name == PEERS and routing is not None:
        routing.peers_changed(list(event.children or []))


@hookimpl
def pvc_node_changed(host: Host, name: str, old: NodeRecord | None, new: NodeRecord | None) -> None:
    routing = _of(host)
    if routing is None or new is None:
        return
    if new.coordinator_state == "primary" and new.daemon_state == "run":  # a dead primary's record still says so
        routing.primary = name
        routing.wake()
    elif routing.primary == name:
        routing.primary = None
        routing.wake()


@hookimpl
def pvc_become_primary(host: Host) -> None:
    routing = _of(host)
    if routing is not None:
        routing.primary = host.node
        routing.wake()
