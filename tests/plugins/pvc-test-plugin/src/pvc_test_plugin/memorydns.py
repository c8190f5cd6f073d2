"""``InMemoryTestDns`` (``pvc.drivers.dns: memorydns``): a dns driver for tests, keeping zones in a dict.

Nothing is published anywhere and nothing survives the process: it exists to exercise the driver
machinery and the ``dns`` role's contract without a DNS server (a fake, named as one; the real driver,
PowerDNS, runs the same conformance suite).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pvc_core.errors import InvalidRequest, NotFound
from pvc_core.roles.dns import DnsDriver, DnsRecord, DnsZone, RecordType, RrsetChanges, check_name, check_zone_name

if TYPE_CHECKING:
    from pvc_core.host import Host


class InMemoryTestDns(DnsDriver):
    """A test-only DnsDriver: zone -> {(name, type): records}, in this process's memory."""

    contract: ClassVar[str | None] = ">=2.0,<3"

    def __init__(self, host: Host, name: str) -> None:
        super().__init__(host, name)
        self._zones: dict[str, dict[tuple[str, str], list[DnsRecord]]] = {}
        self._serials: dict[str, int] = {}

    def _zone(self, zone: str) -> dict[tuple[str, str], list[DnsRecord]]:
        if zone not in self._zones:
            raise NotFound(f"dns memorydns: no zone {zone}")
        return self._zones[zone]

    def zones(self) -> list[str]:
        return sorted(self._zones)

    def ensure_zone(self, zone: DnsZone) -> None:
        check_zone_name(zone.name)
        rrsets = self._zones.setdefault(zone.name, {})
        rrsets[("@", "NS")] = [DnsRecord("@", "NS", f"{ns}.", zone.ttl) for ns in zone.nameservers]
        self._serials.setdefault(zone.name, 1)

    def remove_zone(self, name: str) -> None:
        self._zones.pop(name, None)
        self._serials.pop(name, None)

    def records(self, zone: str) -> list[DnsRecord]:
        found = [r for rrset in self._zone(zone).values() for r in rrset]
        return sorted(found, key=lambda r: (r.name, r.type, r.content))

    def apply(self, zone: str, changes: RrsetChanges) -> None:
        rrsets = self._zone(zone)
        for (name, kind), records in changes.items():  # check everything before changing anything
            check_name(name)
            if kind not in {t.value for t in RecordType}:
                raise InvalidRequest(f"unknown record type '{kind}'", field="type")
            if any(r.name != name or r.type != kind for r in records):
                raise InvalidRequest(f"a record in rrset {name}/{kind} has another name or type")
        for (name, kind), records in changes.items():
            if records:
                rrsets[(name, kind)] = list(records)
            else:
                rrsets.pop((name, kind), None)
        self._serials[zone] += 1

    def serial(self, zone: str) -> int:
        self._zone(zone)
        return self._serials[zone]
