"""The dns-powerdns plugin's work on one node: publish its name, and on the primary keep PowerDNS what the
cluster says and hold the cluster DNS address.

One worker thread per pvcd. On the primary it syncs when woken (a VM defined, changed, renamed or
removed, a network or its leases changed: only the changed rrsets are written, against what it last
published) and every ``check_interval`` seconds compares every zone with PowerDNS itself, repairing and
counting drift. After its first sync as primary it takes the cluster DNS address (gratuitous ARP), so
that the address answers with the new primary's records; a secondary gives the address up at once.
A PowerDNS that does not answer is the fault ``dns`` (cleared when it answers again) and the status
(``pvc dns status``) says why; nothing waits longer than the driver's timeout.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from typing import TYPE_CHECKING, Any

from pvc_core.errors import InvalidRequest, NotFound, PvcError, StartRefused
from pvc_core.log import get_logger
from pvc_core.networks.announce import give_up_address, take_address
from pvc_core.roles.network import NetworkKind
from pvc_dns_powerdns.driver import PowerDns
from pvc_dns_powerdns.publication import Publication, Rrsets, SyncReport, plan, sync

if TYPE_CHECKING:
    from pvc_core.host import Host
    from pvc_core.roles.network import Lease, Network

PLUGIN = "dns-powerdns"
FAULT = "dns"  # the fault's name in pvc cluster status
STATUS = "status"  # plugin data keys
ZONES = "zones"
NODES = "nodes"


class DnsService:
    def __init__(self, host: Host) -> None:
        driver = host.driver("dns")
        if not isinstance(driver, PowerDns):
            raise StartRefused("the dns-powerdns plugin needs the powerdns dns driver (drivers: {dns: powerdns})")
        self.host = host
        self.driver = driver
        self.settings = driver.settings
        self.log = get_logger(plugin=PLUGIN, node=host.node)
        self.data = host.cluster.plugin_data(PLUGIN)
        self.nameservers = tuple(self.settings.nameservers) or (
            (f"ns1.{self.settings.cluster_zone}",) if self.settings.cluster_zone else ()
        )
        self._check_settings()
        self.published: dict[str, Rrsets] = {}  # what this primary last wrote, per zone
        self.status: dict[str, Any] = {}
        self.holding = False  # the cluster DNS address is on this node
        self._lock = threading.Lock()  # one sync at a time
        self._wake = threading.Event()
        self._verify = threading.Event()
        self._stop = threading.Event()
        self._next_verify = 0.0
        self._thread = threading.Thread(target=self._run, name="dns-publisher", daemon=True)

    def _check_settings(self) -> None:
        settings = self.settings
        if not self.nameservers:
            raise StartRefused("dns_powerdns needs nameservers or a cluster_zone (its ns1 is the cluster DNS address)")
        for field, value in (("address", settings.address), ("node_address", settings.node_address)):
            if value:
                try:
                    (ipaddress.ip_interface if field == "address" else ipaddress.ip_address)(value)
                except ValueError:
                    raise StartRefused(f"dns_powerdns.{field}: '{value}' is not an address") from None
        if settings.address and not settings.device:
            raise StartRefused("dns_powerdns.address needs dns_powerdns.device, the interface to hold it on")
        for server in settings.transfer_to:
            try:
                ipaddress.ip_network(server, strict=False)
            except ValueError:
                raise StartRefused(f"dns_powerdns.transfer_to: '{server}' is not an address or network") from None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.node_address:
            self.data.set(f"{NODES}/{self.host.node}", {"address": self.settings.node_address})
        if not self.host.is_primary:
            self._give_up_address()  # a previous pvcd of this node may have died holding it
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self.settings.timeout * 4)
        self._give_up_address()

    def become_primary(self) -> None:
        self.request(verify=True)

    def become_secondary(self) -> None:
        self._give_up_address()
        with self._lock:
            self.published.clear()

    def request(self, verify: bool = False) -> None:
        """Sync soon (from any thread); ``verify``: compare every zone with PowerDNS."""
        if verify:
            self._verify.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(max(0.0, self._next_verify - time.monotonic()) if self.host.is_primary else 5.0)
            self._wake.clear()
            if self._stop.is_set():
                break
            if not self.host.is_primary:
                self._give_up_address()
                continue
            verify = self._verify.is_set() or time.monotonic() >= self._next_verify
            self._verify.clear()
            try:
                self.publish(verify)
            except Exception:
                self.log.exception("dns_sync_failed")
            if self.host.is_primary:
                self._take_address()

    # -- the cluster DNS address ----------------------------------------------------------------------------

    def _take_address(self) -> None:
        if self.holding or not self.settings.address:
            return
        try:
            take_address(self.settings.device, self.settings.address, self.settings.netns)
            self.holding = True
            self.log.info("dns_address_taken", address=self.settings.address, device=self.settings.device)
        except PvcError as exc:
            self.log.error("dns_address_not_taken", address=self.settings.address, reason=exc.message)

    def _give_up_address(self) -> None:
        if not self.settings.address:
            return
        try:
            if give_up_address(self.settings.device, self.settings.address, self.settings.netns):
                self.log.info("dns_address_given_up", address=self.settings.address)
            self.holding = False
        except PvcError as exc:
            self.log.error("dns_address_not_given_up", address=self.settings.address, reason=exc.message)

    # -- what the cluster publishes -------------------------------------------------------------------------

    def _driver_for(self, network: Network) -> Any:
        return next((d for d in self.host.network_drivers.values() if network.kind in d.kinds), None)

    def leases(self, networks: list[Network]) -> dict[int, list[Lease]]:
        found: dict[int, list[Lease]] = {}
        for network in networks:
            if network.kind != NetworkKind.MANAGED or not network.domain:
                continue
            driver = self._driver_for(network)
            if driver is None:
                continue
            try:
                found[network.vni] = list(driver.leases(network.vni))
            except PvcError as exc:
                self.log.warning("dns_leases_unreadable", vni=network.vni, reason=exc.message)
        return found

    def nodes(self) -> dict[str, str]:
        if not self.settings.cluster_zone:
            return {}
        found: dict[str, str] = {}
        for name in self.data.children(NODES):
            value = self.data.get(f"{NODES}/{name}") or {}
            if isinstance(value, dict) and value.get("address"):
                found[name] = str(value["address"])
        return found

    def plan(self, networks: list[Network] | None = None) -> Publication:
        networks = self.host.cluster.networks() if networks is None else networks
        address = str(ipaddress.ip_interface(self.settings.address).ip) if self.settings.address else ""
        return plan(
            networks,
            self.leases(networks),
            self.host.cluster.vms.list(),
            self.nameservers,
            address,
            tuple(self.settings.transfer_to),
            self.settings.ttl,
            self.settings.cluster_zone,
            self.nodes(),
        )

    def publish(self, verify: bool = False) -> SyncReport | None:
        """Bring PowerDNS to what the cluster says now (the primary). None when PowerDNS failed (the fault
        ``dns`` and the status say why)."""
        with self._lock:
            started = time.time()
            if verify:
                self._next_verify = time.monotonic() + self.settings.check_interval
            try:
                publication = self.plan()
                managed = list(self.data.get(ZONES) or [])
                report = sync(self.driver, publication, managed, self.published, verify)
                if sorted(managed) != sorted(publication.zones):
                    self.data.set(ZONES, sorted(publication.zones))
            except PvcError as exc:
                self.published.clear()  # what PowerDNS holds is unknown now: compare everything next time
                self._next_verify = time.monotonic() + min(5.0, self.settings.check_interval)
                self._record_failure(exc.message, started)
                return None
            self._record(publication, report, verify, started)
            return report

    def _record(self, publication: Publication, report: SyncReport, verify: bool, started: float) -> None:
        previous = self.status
        refused = "; ".join(f"PowerDNS refused zone {zone}: {why}" for zone, why in sorted(report.refused.items()))
        status = {
            "primary": self.host.node,
            "server": self.settings.api_url,
            "reachable": True,
            "error": refused,
            "refused": report.refused,
            "address": self.settings.address,
            "zones": sorted(publication.zones),
            "records": sum(len(r) for rrsets in publication.rrsets.values() for r in rrsets.values()),
            "skipped": publication.skipped,
            "last_sync": started,
            "last_sync_seconds": round(time.time() - started, 3),
            "last_verify": started if verify else previous.get("last_verify", 0.0),
            "rrsets_changed": int(previous.get("rrsets_changed", 0)) + report.rrsets_changed,
            "drift_found_last": report.drift_repaired if verify else previous.get("drift_found_last", 0),
            "drift_repaired": int(previous.get("drift_repaired", 0)) + report.drift_repaired,
        }
        self.status = status
        if report.rrsets_changed or report.zones_created or report.zones_removed or report.drift_repaired:
            self.log.info(
                "dns_synced",
                rrsets=report.rrsets_changed,
                created=report.zones_created,
                removed=report.zones_removed,
                drift=report.drift_repaired,
            )
        if report.drift_repaired:
            self.log.warning("dns_drift_repaired", rrsets=report.drift_repaired)
        if verify or report.rrsets_changed or not previous.get("reachable") or refused != previous.get("error"):
            self._write_status()
        self._fault(f"the cluster DNS is not in sync: {refused}" if refused else None)

    def _record_failure(self, message: str, started: float) -> None:
        self.log.error("dns_sync_failed", reason=message)
        self.status = {**self.status, "primary": self.host.node, "server": self.settings.api_url}
        self.status.update(reachable=False, error=message, last_failure=started)
        self._write_status()
        self._fault(f"the cluster DNS is not in sync: {message}")

    def _write_status(self) -> None:
        try:
            self.data.set(STATUS, self.status)
        except PvcError as exc:
            self.log.warning("dns_status_not_written", reason=exc.message)

    def _fault(self, message: str | None) -> None:
        try:
            if message is None:
                self.host.clear_fault(FAULT)
            else:
                self.host.raise_fault(FAULT, message)
        except PvcError as exc:
            self.log.info("dns_fault_not_written", reason=exc.message)

    # -- what pvc dns and pvc network dns ask -------------------------------------------------------------

    def current_status(self) -> dict[str, Any]:
        """The status of the last sync, and whether PowerDNS answers now."""
        found = dict(self.status or self.data.get(STATUS) or {})
        try:
            found["server_zones"] = len(self.driver.zones())
            found["answers"] = True
        except PvcError as exc:
            found.update(answers=False, error=exc.message)
        found.update(server=self.settings.api_url, primary=self.host.node, address=self.settings.address)
        return found

    def records(self, network_ref: str) -> list[dict[str, Any]]:
        """The records the cluster publishes for one network: its zone, and its names' PTRs."""
        networks = self.host.cluster.networks()
        network = next((n for n in networks if network_ref in (str(n.vni), n.name) and network_ref), None)
        if network is None:
            raise NotFound(f"no network '{network_ref}' (pvc network list shows them)")
        if not network.domain or network.kind != NetworkKind.MANAGED:
            raise InvalidRequest(
                f"network {network.vni} publishes no names: it has no DNS domain "
                f"(pvc network modify {network.vni} --domain NAME)"
                if network.kind == NetworkKind.MANAGED
                else f"network {network.vni} is bridged: its addresses are not the cluster's to publish",
                field="network",
            )
        publication = self.plan(networks)
        domain = network.domain
        rows: list[dict[str, Any]] = []
        for zone, rrsets in sorted(publication.rrsets.items()):
            for (name, kind), records in sorted(rrsets.items()):
                for record in records:
                    absolute = f"{zone}." if name == "@" else f"{name}.{zone}."
                    if zone == domain or (kind == "PTR" and record.content.endswith(f".{domain}.")):
                        rows.append(
                            {"name": absolute, "type": kind, "content": record.content, "ttl": record.ttl, "zone": zone}
                        )
        return rows

    def sync_now(self) -> dict[str, Any]:
        report = self.publish(verify=True)
        if report is None:
            raise PvcError(str(self.status.get("error") or "the sync failed"))
        if self.host.is_primary:
            self._take_address()
        return {
            "zones_created": report.zones_created,
            "zones_removed": report.zones_removed,
            "rrsets_changed": report.rrsets_changed,
            "drift_repaired": report.drift_repaired,
        }
