"""The ``dns`` role: publishing the cluster's names (networks, VMs, nodes) to an authoritative DNS server.

The model is PowerDNS's and RFC 1035's: a server holds zones; a zone holds resource record sets
(*rrsets*: every record of one name and type); a change replaces whole rrsets. Names inside a zone are
relative (``vm1``, ``@`` for the apex); zone names carry no trailing dot. A driver is called from a
plugin's worker thread (never the dispatcher), may block up to its own timeout, and raises
:class:`DnsError` (one line, the server's reason) on failure, :class:`pvc_core.errors.NotFound` for a zone
that does not exist, :class:`pvc_core.errors.InvalidRequest` for a name or record it refuses.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from pvc_core.errors import InvalidRequest, PvcError
from pvc_core.roles.base import Driver

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class DnsError(PvcError):
    """The DNS server refused or failed a change, or did not answer in time."""


class RecordType(enum.StrEnum):
    A = "A"
    AAAA = "AAAA"
    PTR = "PTR"
    CNAME = "CNAME"
    NS = "NS"
    SOA = "SOA"
    TXT = "TXT"
    MX = "MX"
    SRV = "SRV"


@dataclass(frozen=True)
class DnsRecord:
    name: str  # relative to the zone; "@" is the zone's apex
    type: str  # a RecordType
    content: str  # as in a zone file: an address, a target name with its trailing dot, ...
    ttl: int = 300


@dataclass(frozen=True)
class DnsZone:
    name: str  # "net100.example.com", "0.10.10.in-addr.arpa"
    nameservers: tuple[str, ...] = ()  # FQDNs for the NS records (and the SOA's primary)
    ttl: int = 300
    transfer_to: tuple[str, ...] = ()  # addresses allowed to AXFR the zone

    @property
    def reverse(self) -> bool:
        return self.name.endswith(".in-addr.arpa") or self.name.endswith(".ip6.arpa")


# (name, type) -> the rrset's records; an empty list deletes the rrset
RrsetChanges = Mapping[tuple[str, str], Sequence[DnsRecord]]


def is_dns_label(text: str) -> bool:
    """Whether ``text`` is one valid DNS label (letters, digits, hyphens; 1-63; no hyphen at either end)."""
    return bool(_LABEL.match(text))


def check_name(name: str, field: str = "name") -> None:
    """Refuse a relative record name that is not ``@`` or dot-separated valid labels (``_`` allowed first)."""
    if name == "@":
        return
    labels = name.split(".")
    if not all(is_dns_label(label.removeprefix("_")) for label in labels):
        raise InvalidRequest(f"'{name}' is not a valid DNS name (labels of letters, digits and '-')", field=field)


def check_zone_name(name: str, field: str = "zone") -> None:
    if name.endswith(".") or not all(is_dns_label(label) for label in name.split(".")):
        raise InvalidRequest(f"'{name}' is not a valid zone name (no trailing dot)", field=field)


def reverse_zone(cidr: str) -> str:
    """The reverse zone holding a subnet's PTR records, on the nearest octet (IPv4) or nibble (IPv6)."""
    network = ipaddress.ip_network(cidr, strict=False)
    if network.version == 4:
        octets = max(1, network.prefixlen // 8)
        parts = str(network.network_address).split(".")[:octets]
        return ".".join(reversed(parts)) + ".in-addr.arpa"
    nibbles = max(1, network.prefixlen // 4)
    digits = network.network_address.exploded.replace(":", "")[:nibbles]
    return ".".join(reversed(digits)) + ".ip6.arpa"


def reverse_name(address: str, zone: str) -> str:
    """The name of ``address``'s PTR record relative to the reverse ``zone``."""
    full = ipaddress.ip_address(address).reverse_pointer
    if not full.endswith("." + zone):
        raise InvalidRequest(f"{address} is not inside reverse zone {zone}")
    return full[: -len(zone) - 1]


class DnsDriver(Driver):
    role: ClassVar[str] = "dns"

    @abstractmethod
    def zones(self) -> list[str]:
        """The names of the zones the server holds (that this driver manages)."""

    @abstractmethod
    def ensure_zone(self, zone: DnsZone) -> None:
        """Create the zone (SOA and NS records from ``zone``) or bring its settings in line; idempotent.
        Records already in it are kept."""

    @abstractmethod
    def remove_zone(self, name: str) -> None:
        """Remove the zone and its records (absent: nothing to do)."""

    @abstractmethod
    def records(self, zone: str) -> list[DnsRecord]:
        """Every record of the zone, sorted by name, type and content; NotFound when the zone does not exist."""

    @abstractmethod
    def apply(self, zone: str, changes: RrsetChanges) -> None:
        """Replace each named rrset by the given records (an empty list deletes it), atomically where the
        server can, and move the zone's SOA serial forward. NotFound when the zone does not exist."""

    @abstractmethod
    def serial(self, zone: str) -> int:
        """The zone's SOA serial; NotFound when the zone does not exist."""
