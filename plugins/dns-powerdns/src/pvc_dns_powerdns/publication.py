"""What the cluster publishes in DNS, computed from its networks, leases and VMs, and how a server is brought
to it (the primary's sync, next to the ``powerdns`` driver).

* A zone per managed network's domain: ``gateway`` (its gateway addresses), every static reservation and
  every DHCP lease under the name of the VM whose interface has that MAC address (else the lease's or
  reservation's own host name); names that are not DNS labels are left out, and said so.
* A reverse zone per subnet (on the nearest octet or nibble; two networks may share one) with the PTR of
  every address above.
* Every zone names the cluster's nameservers in its NS records; a nameserver inside the zone gets its
  address record (the cluster DNS address).
* The cluster zone (when configured): every node's name at the address it gave.

:func:`plan` is pure; :func:`sync` compares each zone with the server and changes only the rrsets that
differ (a drift, when the server holds something else than what was last published there, is counted).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pvc_core.errors import InvalidRequest, PvcError
from pvc_core.roles.dns import DnsDriver, DnsRecord, DnsZone, is_dns_label, reverse_name, reverse_zone
from pvc_core.roles.network import Lease, Network, NetworkKind
from pvc_core.vms.model import VmRecord

Rrsets = dict[tuple[str, str], list[DnsRecord]]
MAX_NAME = 253  # characters in a name, without the final dot
MANAGED_TYPES = frozenset({"A", "AAAA", "PTR"})  # what the sync owns in a zone (SOA and NS are the zone's)


@dataclass
class Publication:
    zones: dict[str, DnsZone] = field(default_factory=dict)
    rrsets: dict[str, Rrsets] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # names left out, and why

    def add(self, zone: str, name: str, kind: str, content: str, ttl: int) -> None:
        records = self.rrsets.setdefault(zone, {}).setdefault((name, kind), [])
        if all(r.content != content for r in records):
            records.append(DnsRecord(name, kind, content, ttl))


def plan(
    networks: Iterable[Network],
    leases: Mapping[int, Iterable[Lease]],
    vms: Iterable[VmRecord],
    nameservers: tuple[str, ...],
    dns_address: str = "",
    transfer_to: tuple[str, ...] = (),
    ttl: int = 300,
    cluster_zone: str = "",
    nodes: Mapping[str, str] | None = None,
) -> Publication:
    """The zones and records the cluster publishes now (``nodes``: node name -> address, for the cluster
    zone)."""
    owner = {n.mac.lower(): vm.name for vm in vms for n in vm.networks if n.mac}
    found = Publication()

    def zone(name: str) -> None:
        if name not in found.zones:
            found.zones[name] = DnsZone(name=name, nameservers=nameservers, ttl=ttl, transfer_to=transfer_to)
            found.rrsets.setdefault(name, {})
            for server in nameservers:
                if server.endswith(f".{name}") and dns_address:
                    kind = "AAAA" if ":" in dns_address else "A"
                    found.add(name, server.removesuffix(f".{name}"), kind, dns_address, ttl)

    if cluster_zone:
        zone(cluster_zone)
        for node, address in sorted((nodes or {}).items()):
            if not is_dns_label(node):
                found.skipped.append(f"{node}.{cluster_zone}: '{node}' is not a DNS label")
                continue
            ip = ipaddress.ip_address(address)
            found.add(cluster_zone, node, "AAAA" if ip.version == 6 else "A", str(ip), ttl)
    for network in sorted(networks, key=lambda n: n.vni):
        if network.kind != NetworkKind.MANAGED or not network.domain:
            continue
        domain = network.domain
        zone(domain)
        subnets = [ipaddress.ip_network(s.cidr) for s in network.subnets]
        for subnet in network.subnets:
            zone(reverse_zone(subnet.cidr))
        named: list[tuple[str, str]] = [("gateway", s.gateway) for s in network.subnets if s.gateway]
        for reservation in network.reservations:
            named.append((owner.get(reservation.mac.lower()) or reservation.hostname, reservation.address))
        for lease in leases.get(network.vni, ()):
            named.append((owner.get(lease.mac.lower()) or lease.hostname, lease.address))
        for name, address in named:
            if not name:
                continue
            if not is_dns_label(name):
                found.skipped.append(f"{name}.{domain}: '{name}' is not a DNS label")
                continue
            if len(name) + 1 + len(domain) > MAX_NAME:
                found.skipped.append(f"{name}.{domain}: longer than DNS allows ({MAX_NAME} characters)")
                continue
            ip = ipaddress.ip_address(address)
            found.add(domain, name, "AAAA" if ip.version == 6 else "A", str(ip), ttl)
            for subnet, net in zip(network.subnets, subnets, strict=True):
                if ip in net:
                    reverse = reverse_zone(subnet.cidr)
                    found.add(reverse, reverse_name(str(ip), reverse), "PTR", f"{name}.{domain}.", ttl)
    return found


@dataclass
class SyncReport:
    zones_created: list[str] = field(default_factory=list)
    zones_removed: list[str] = field(default_factory=list)
    rrsets_changed: int = 0
    drift_repaired: int = 0
    refused: dict[str, str] = field(default_factory=dict)  # zone -> why PowerDNS refused it (the others went on)


def _current(driver: DnsDriver, zone: str) -> Rrsets:
    found: Rrsets = {}
    for record in driver.records(zone):
        if record.type in MANAGED_TYPES:
            found.setdefault((record.name, record.type), []).append(record)
    return found


def _same(a: list[DnsRecord], b: list[DnsRecord]) -> bool:
    return sorted((r.content, r.ttl) for r in a) == sorted((r.content, r.ttl) for r in b)


def sync(
    driver: DnsDriver,
    publication: Publication,
    managed: Iterable[str],
    published: dict[str, Rrsets] | None = None,
    verify: bool = True,
) -> SyncReport:
    """Bring the server to ``publication``. ``managed``: the zones published before (a zone no longer
    wanted is removed only if it is one of them); ``published``: what was last published per zone,
    updated in place. ``verify``: read every zone back from the server (its SOA, NS, transfer list and
    records), repairing and counting drift; without it, a zone already in ``published`` is taken to hold
    what it says and only the difference is written (the fast path for one lease or one VM)."""
    report = SyncReport()
    last = published if published is not None else {}
    existing = set(driver.zones()) if verify or any(n not in last for n in publication.zones) else set(last)
    for name, zone in sorted(publication.zones.items()):
        try:
            _sync_zone(driver, zone, publication.rrsets.get(name, {}), last, existing, verify, report)
        except PvcError as exc:  # the server refused this zone (a name too long...): the others go on
            if not isinstance(exc, InvalidRequest):
                driver.zones()  # ... unless it does not answer at all: that ends the sync (DnsError)
            report.refused[name] = exc.message
            last.pop(name, None)  # compared in full next time
    for name in sorted(set(managed) - set(publication.zones)):
        if name in existing or name in last:
            driver.remove_zone(name)
            report.zones_removed.append(name)
        last.pop(name, None)
    return report


def _sync_zone(
    driver: DnsDriver,
    zone: DnsZone,
    wanted: Rrsets,
    last: dict[str, Rrsets],
    existing: set[str],
    verify: bool,
    report: SyncReport,
) -> None:
    name = zone.name
    if verify or name not in last:
        if name not in existing:
            report.zones_created.append(name)
        driver.ensure_zone(zone)
        current = _current(driver, name)
        before = last.get(name)
        if before is not None:
            report.drift_repaired += sum(
                1 for key in set(before) | set(current) if not _same(before.get(key, []), current.get(key, []))
            )
    else:
        current = last[name]
    changes: dict[tuple[str, str], list[DnsRecord]] = {}
    for key, records in wanted.items():
        if not _same(current.get(key, []), records):
            changes[key] = records
    for key in current:
        if key not in wanted:
            changes[key] = []
    if changes:
        driver.apply(name, changes)
        report.rrsets_changed += len(changes)
    last[name] = {key: list(records) for key, records in wanted.items()}
