"""The networks on one node: built by its network drivers, offered to VMs, and their services on the primary.

Every node watches ``revision`` (:mod:`pvc_core.networks.store`) and, in a worker thread of its own,
brings what its drivers built in line with the stored networks: ``ensure`` for a network that is new,
changed or missing here, ``remove`` for one no longer defined. It reports per network what it built
(``nodes/<NODE>``) and offers the networks present here to VMs (``pvc_node_attachments``), republished
at once. The primary coordinator also runs the networks' services (gateways, DHCP, DNS, ACLs) through
the drivers whose ``services`` is ``primary``; a node that stops being primary removes them at once.
The worker also looks again every ``check_interval`` seconds, so that a bridge deleted behind PVC's back,
or a driver that failed once, is mended.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from pvc_core.errors import PvcError
from pvc_core.log import get_logger
from pvc_core.networks import store
from pvc_core.roles.network import Network, NetworkDriver, Services
from pvc_core.zk.session import encode

if TYPE_CHECKING:
    from pvc_core.host import Host
    from pvc_core.vms.devices import DomainDevice
    from pvc_core.vms.model import VmRecord

CHECK_INTERVAL = 10.0
FAULT = "network"


class NodeNetworks:
    def __init__(self, host: Host, check_interval: float = CHECK_INTERVAL) -> None:
        self.host = host
        self.check_interval = check_interval
        self.log = get_logger(node=host.node, plugin=store.PLUGIN)
        self.by_kind: dict[str, NetworkDriver] = {}
        for driver in host.network_drivers.values():
            for kind in driver.kinds:
                self.by_kind.setdefault(kind, driver)
        self.networks: dict[int, Network] = {}  # as last read
        self.built: dict[int, Network] = {}  # what ensure last made here, by VNI
        self.states: dict[str, dict[str, Any]] = {}  # as last reported in nodes/<NODE>
        self.serving: dict[int, Network] = {}  # networks whose services run here (primary)
        self._lock = threading.RLock()  # one reconciliation at a time; the role change waits for it
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._primary = False
        self._thread: threading.Thread | None = None
        self._last_problems: tuple[str, ...] | None = None
        self._swept = False  # services a previous pvcd of this node left behind (it died as primary): removed
        self._announced: dict[int, Network] | None = None  # what the primary's plugins were told of (None: nothing)

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        if not self.by_kind:  # no network driver here: nothing to build, nothing offered; as primary it still
            # tells the plugins of changes (on the dispatcher thread: two reads)
            self.host.watches.data(store.REVISION, "networks changed", lambda _data, _stat: self._announce_stored())
            return
        self.host.watches.data(store.REVISION, "networks changed", lambda _data, _stat: self._wake.set())
        self._thread = threading.Thread(target=self._run, name="networks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.become_secondary()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.check_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.reconcile()
            except PvcError as exc:  # ZooKeeper away: the next wake or look tries again
                self.log.warning("networks_reconcile_failed", reason=exc.message)
            except Exception:
                self.log.exception("networks_reconcile_failed")

    def wake(self) -> None:
        self._wake.set()

    # -- reconciling ----------------------------------------------------------------------------------------

    def reconcile(self) -> None:
        """Make this node's networks (and, on the primary, their services) what ZooKeeper says."""
        with self._lock:
            networks = {n.vni: n for n in store.read_all(self.host.zk)}
            self.networks = networks
            self._announce(networks)
            states: dict[str, dict[str, Any]] = {}
            present = self._present()
            for vni, network in networks.items():
                driver = self.by_kind.get(network.kind)
                if driver is None:
                    states[str(vni)] = {
                        "state": store.UNSUPPORTED,
                        "reason": f"no driver for {network.kind} networks",
                        "version": store.fingerprint(network),
                    }
                    continue
                if self.built.get(vni) != network or vni not in present:
                    try:
                        driver.ensure(network)
                        self.built[vni] = network
                        self.log.info("network_built", vni=vni, kind=network.kind)
                    except PvcError as exc:
                        self.built.pop(vni, None)
                        self.log.error("network_build_failed", vni=vni, reason=exc.message)
                        states[str(vni)] = {
                            "state": store.FAILED,
                            "reason": exc.message,
                            "version": store.fingerprint(network),
                        }
                        continue
                states[str(vni)] = {"state": store.PRESENT, "version": store.fingerprint(network)}
            for vni, driver in present.items():
                if vni not in networks:
                    self._remove(driver, vni)
            for vni in list(self.built):
                if vni not in networks:
                    self.built.pop(vni, None)
            if self._primary and self.host.is_primary:
                self._serve(networks)
            elif not self._swept:
                self._sweep(present)
            if states != self.states:
                store.write_node_state(self.host.zk, self.host.node, states)
                self.states = states
            self.host.republish()
            if self._primary and self.host.is_primary:
                self._report(networks)

    def _announce_stored(self) -> None:
        with self._lock:
            try:
                self._announce({n.vni: n for n in store.read_all(self.host.zk)})
            except PvcError as exc:
                self.log.warning("networks_not_read", reason=exc.message)

    def _announce(self, networks: dict[int, Network]) -> None:
        """On the primary, tell the plugins of every network added, changed or removed since the last look
        (``pvc_network_changed``); the first look after taking over is the baseline."""
        if not (self._primary and self.host.is_primary):
            self._announced = None
            return
        if self._announced is not None:
            for vni in sorted(set(networks) | set(self._announced)):
                old, new = self._announced.get(vni), networks.get(vni)
                if old != new:
                    self.host.network_changed(vni, old, new)
        self._announced = dict(networks)

    def _present(self) -> dict[int, NetworkDriver]:
        found: dict[int, NetworkDriver] = {}
        for driver in set(self.by_kind.values()):
            try:
                for vni in driver.present():
                    found[vni] = driver
            except PvcError as exc:
                self.log.error("network_listing_failed", driver=driver.name, reason=exc.message)
        return found

    def _remove(self, driver: NetworkDriver, vni: int) -> None:
        try:
            if vni in self.serving:
                driver.remove_services(vni)
                self.serving.pop(vni, None)
            driver.remove(vni)
            self.log.info("network_removed", vni=vni)
        except PvcError as exc:
            self.log.error("network_remove_failed", vni=vni, reason=exc.message)

    # -- services on the primary ------------------------------------------------------------------------------

    def _sweep(self, present: dict[int, NetworkDriver]) -> None:
        """Once, before this node first serves as primary: remove what a previous pvcd of this node may have
        left running when it died as primary (a gateway address, a DHCP server, a rule table), so that it
        never answers beside the real primary's."""
        for vni, driver in present.items():
            if driver.services != Services.PRIMARY.value:
                continue
            try:
                driver.remove_services(vni)
            except PvcError as exc:
                self.log.error("network_services_sweep_failed", vni=vni, reason=exc.message)
                return
        self._swept = True

    def become_primary(self) -> None:
        self._primary = True
        self._swept = True  # it serves now: what it finds is its own to mend
        self._wake.set()
        if not self.by_kind:
            self._announce_stored()  # the baseline

    def become_secondary(self) -> None:
        """Stop every network service at once (the gateways must leave before the next primary's arrive)."""
        self._primary = False
        with self._lock:
            for vni, network in list(self.serving.items()):
                driver = self.by_kind.get(network.kind)
                try:
                    if driver is not None:
                        driver.remove_services(vni)
                except PvcError as exc:
                    self.log.error("network_services_stop_failed", vni=vni, reason=exc.message)
                self.serving.pop(vni, None)

    def _serve(self, networks: dict[int, Network]) -> None:
        for vni, network in networks.items():
            driver = self.by_kind.get(network.kind)
            if driver is None or driver.services != Services.PRIMARY.value or self.built.get(vni) != network:
                continue
            try:  # every look, not only on a change: the driver mends what died (its DHCP server) or says why
                driver.ensure_services(network)
                if self.serving.get(vni) != network:
                    self.log.info("network_services_started", vni=vni)
                self.serving[vni] = network
            except PvcError as exc:
                self.serving.pop(vni, None)
                self.log.error("network_services_failed", vni=vni, reason=exc.message)
        for vni in [v for v in self.serving if v not in networks]:
            driver = self.by_kind.get(self.serving[vni].kind)
            if driver is not None:
                try:
                    driver.remove_services(vni)
                except PvcError as exc:
                    self.log.error("network_services_stop_failed", vni=vni, reason=exc.message)
            self.serving.pop(vni, None)

    def _report(self, networks: dict[int, Network]) -> None:
        """The primary's fault ``network``: services it could not start, drivers' problems, networks
        missing on nodes that should have them. Rewritten only when the wording changes."""
        problems: list[str] = []
        for vni, network in networks.items():
            driver = self.by_kind.get(network.kind)
            if driver is not None and driver.services == Services.PRIMARY.value and vni not in self.serving:
                problems.append(f"network {vni}: its services do not run on the primary")
        for driver in set(self.by_kind.values()):
            try:
                problems.extend(driver.problems())
            except PvcError as exc:
                problems.append(f"{driver.name}: {exc.message}")
        views = {v.name: v for v in self.host.cluster.nodes()}
        for name, states in sorted(store.node_states(self.host.zk).items()):
            view = views.get(name)
            if view is None or not view.alive:
                continue
            for key, state in sorted(states.items(), key=lambda item: int(item[0])):
                if state.get("state") == store.FAILED:
                    problems.append(f"network {key} missing on {name}: {state.get('reason')}")
        found = tuple(problems)
        try:  # each look (raising the same words again writes nothing): a fault cleared by hand comes back
            if found:
                self.host.raise_fault(FAULT, "; ".join(found))
            else:
                self.host.clear_fault(FAULT)
            if found != self._last_problems:
                self.host.zk.put(store.STATUS, encode({"problems": list(found), "at": time.time()}))
                self._last_problems = found
        except PvcError as exc:
            self.log.info("network_fault_not_written", reason=exc.message)

    # -- VMs ------------------------------------------------------------------------------------------------

    def offers(self) -> dict[str, list[str]]:
        keys: list[str] = []
        for vni, network in sorted(self.built.items()):
            keys.append(str(vni))
            if network.name:
                keys.append(network.name)
        return {"network": keys} if self.by_kind else {}

    def prepare(self, vm: VmRecord) -> list[DomainDevice]:
        """The VM's interfaces on this node (each network built here first, should it not be yet)."""
        devices: list[DomainDevice] = []
        if not vm.networks:
            return devices
        networks = list(self.networks.values()) or store.read_all(self.host.zk)
        for vm_network in vm.networks:
            network = store.find(networks, vm_network.network)
            if network is None:
                network = store.find(store.read_all(self.host.zk), vm_network.network)
            driver = self.by_kind.get(network.kind) if network is not None else None
            if network is None or driver is None:
                continue  # another plugin's network, or none: the core names what no plugin served
            with self._lock:
                if self.built.get(network.vni) != network:
                    driver.ensure(network)
                    self.built[network.vni] = network
            devices.append(driver.interface(network, vm_network))
        return devices
