"""The ``network`` role: client networks for VMs, one driver per network type (``evpn``, ``vlan``).

A :class:`Network` is what an operator defines (``pvc network add``): its VNI (the VXLAN id, or the VLAN
id of a bridged network), kind, subnets with gateways and DHCP ranges, reservations, MTU and DNS domain.
The network plugin stores networks and calls its driver:

* on **every node**: ``ensure`` makes the network exist there (a VXLAN or VLAN interface and a bridge for
  the VMs), ``remove`` takes it away, ``present`` says which exist; ``interface`` gives a VM's
  ``<interface>`` on it (inside ``pvc_vm_prepare``);
* where ``services`` says (``primary``: only on the primary coordinator, moving with it; ``every-node``):
  ``ensure_services`` starts what the network needs beyond layer 2 (gateway addresses, DHCP, DNS, ACLs),
  ``remove_services`` stops it;
* on the primary coordinator (since contract 2.2): ``check_acls`` refuses ACL rules it could not enforce
  before they are stored, ``leases`` lists the network's live DHCP leases, ``problems`` says what is
  wrong with the services it runs (shown as a fault).

The networks themselves are stored and reconciled by the core's builtin plugin ``builtin.networks``
(``pvc network ...``): it calls the driver whose ``kinds`` include the network's kind, on every node that
runs one. Every method may block up to the driver's own timeout and runs on a worker thread, never the
dispatcher; failures raise :class:`NetworkError` (one line, the reason).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from abc import abstractmethod
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pvc_core.errors import InvalidRequest, PvcError
from pvc_core.roles.base import Driver

if TYPE_CHECKING:
    from pvc_core.vms.devices import DomainDevice
    from pvc_core.vms.model import VmNetwork

MAX_VNI = 16_777_215
MAX_VLAN = 4094
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
DOMAIN = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)


class NetworkError(PvcError):
    """Building or removing a network (or its services) failed on this node."""


class NetworkKind(enum.StrEnum):
    MANAGED = "managed"  # a VXLAN whose gateway, DHCP and DNS the cluster runs
    BRIDGED = "bridged"  # an 802.1q VLAN of a node interface; the cluster runs nothing on it


class Direction(enum.StrEnum):
    IN = "in"  # traffic entering the network through its gateway (towards its VMs)
    OUT = "out"  # traffic leaving the network through its gateway (from its VMs)


class Services(enum.StrEnum):
    PRIMARY = "primary"
    EVERY_NODE = "every-node"
    NONE = "none"


@dataclass(frozen=True)
class DhcpRange:
    start: str
    end: str


@dataclass(frozen=True)
class Reservation:
    """A static DHCP lease: this MAC always gets this address (and name)."""

    mac: str
    address: str
    hostname: str = ""


@dataclass(frozen=True)
class AclRule:
    """One firewall rule of a network, applied on its gateway in ``order`` (lowest first) per direction.

    ``rule`` is in the driver's own rule language (network-evpn: an nftables rule body such as
    ``tcp dport 22 drop``); the driver checks it (``check_acls``) before it is stored."""

    direction: str
    order: int
    rule: str
    description: str = ""


@dataclass(frozen=True)
class Lease:
    """A live DHCP lease handed out on a network (``expires``: seconds since the epoch, 0 for never)."""

    mac: str
    address: str
    hostname: str = ""
    expires: float = 0.0


@dataclass(frozen=True)
class Subnet:
    cidr: str  # "10.100.0.0/24", "fd00:100::/64"
    gateway: str = ""  # the cluster's address on it (managed networks); "" for none
    dhcp: DhcpRange | None = None


@dataclass(frozen=True)
class Network:
    vni: int
    kind: str = NetworkKind.MANAGED.value
    name: str = ""
    description: str = ""
    mtu: int = 1500
    domain: str = ""  # the DNS domain of its VMs' names
    ipv4: Subnet | None = None
    ipv6: Subnet | None = None
    dns_servers: tuple[str, ...] = ()
    reservations: tuple[Reservation, ...] = ()
    acls: tuple[AclRule, ...] = ()

    @property
    def subnets(self) -> tuple[Subnet, ...]:
        return tuple(s for s in (self.ipv4, self.ipv6) if s is not None)

    def validate(self) -> Network:
        """Refuse what cannot be built, naming the field; return the network unchanged."""
        limit = MAX_VLAN if self.kind == NetworkKind.BRIDGED else MAX_VNI
        if self.kind not in {k.value for k in NetworkKind}:
            raise InvalidRequest(f"unknown network kind '{self.kind}' (managed or bridged)", field="kind")
        if not 1 <= self.vni <= limit:
            raise InvalidRequest(f"VNI {self.vni} is outside 1..{limit} for a {self.kind} network", field="vni")
        if not 576 <= self.mtu <= 9000:
            raise InvalidRequest(f"MTU {self.mtu} is outside 576..9000", field="mtu")
        for field, subnet, version in (("ipv4", self.ipv4, 4), ("ipv6", self.ipv6, 6)):
            if subnet is not None:
                _check_subnet(field, subnet, version)
        if self.kind == NetworkKind.BRIDGED and any(s.gateway or s.dhcp for s in self.subnets):
            raise InvalidRequest("a bridged network has no gateway or DHCP run by the cluster", field="kind")
        if self.domain and not DOMAIN.match(self.domain):
            raise InvalidRequest(f"'{self.domain}' is not a DNS domain such as net100.example", field="domain")
        for index, server in enumerate(self.dns_servers):
            try:
                ipaddress.ip_address(server)
            except ValueError:
                raise InvalidRequest(f"'{server}' is not an address", field=f"dns_servers[{index}]") from None
        subnets = [ipaddress.ip_network(s.cidr) for s in self.subnets]
        macs: set[str] = set()
        addresses: set[str] = set()
        for index, reservation in enumerate(self.reservations):
            if not MAC.match(reservation.mac):
                raise InvalidRequest(
                    f"'{reservation.mac}' is not a MAC address such as 52:54:00:12:34:56",
                    field=f"reservations[{index}].mac",
                )
            if reservation.mac in macs:
                raise InvalidRequest(f"MAC {reservation.mac} is reserved twice", field=f"reservations[{index}].mac")
            macs.add(reservation.mac)
            if reservation.hostname and not HOSTNAME.match(reservation.hostname):
                raise InvalidRequest(
                    f"'{reservation.hostname}' is not a host name (letters, digits, '-')",
                    field=f"reservations[{index}].hostname",
                )
            try:
                address = ipaddress.ip_address(reservation.address)
            except ValueError:
                raise InvalidRequest(
                    f"'{reservation.address}' is not an address", field=f"reservations[{index}].address"
                ) from None
            if not any(address in net for net in subnets):
                raise InvalidRequest(
                    f"{address} is outside the network's subnets", field=f"reservations[{index}].address"
                )
            if str(address) in addresses or any(str(address) == s.gateway for s in self.subnets):
                raise InvalidRequest(f"{address} is taken", field=f"reservations[{index}].address")
            addresses.add(str(address))
        for index, acl in enumerate(self.acls):
            if acl.direction not in {d.value for d in Direction}:
                raise InvalidRequest(
                    f"unknown direction '{acl.direction}' (in or out)", field=f"acls[{index}].direction"
                )
            if not acl.rule.strip() or "\n" in acl.rule or ";" in acl.rule:
                raise InvalidRequest("a rule is one rule on one line", field=f"acls[{index}].rule")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Network:
        """A network from its JSON form (as stored); unknown keys are ignored, wrong types refused."""
        try:
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            for key in ("ipv4", "ipv6"):
                if known.get(key) is not None:
                    subnet = dict(known[key])
                    dhcp = subnet.get("dhcp")
                    subnet["dhcp"] = DhcpRange(**dhcp) if dhcp else None
                    known[key] = Subnet(**subnet)
            known["dns_servers"] = tuple(known.get("dns_servers") or ())
            known["reservations"] = tuple(Reservation(**r) for r in known.get("reservations") or ())
            known["acls"] = tuple(AclRule(**a) for a in known.get("acls") or ())
            return cls(**known)
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"not a network: {exc}") from None


def _check_subnet(field: str, subnet: Subnet, version: int) -> None:
    try:
        net = ipaddress.ip_network(subnet.cidr, strict=True)
    except ValueError as exc:
        raise InvalidRequest(f"'{subnet.cidr}' is not a network: {exc}", field=f"{field}.cidr") from None
    if net.version != version:
        raise InvalidRequest(f"{subnet.cidr} is not an IPv{version} network", field=f"{field}.cidr")
    for name, value in (
        ("gateway", subnet.gateway),
        *(() if subnet.dhcp is None else (("dhcp.start", subnet.dhcp.start), ("dhcp.end", subnet.dhcp.end))),
    ):
        if not value:
            continue
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise InvalidRequest(f"'{value}' is not an address", field=f"{field}.{name}") from None
        if address not in net:
            raise InvalidRequest(f"{value} is outside {subnet.cidr}", field=f"{field}.{name}")
    if subnet.dhcp is not None:
        start, end = int(ipaddress.ip_address(subnet.dhcp.start)), int(ipaddress.ip_address(subnet.dhcp.end))
        if start > end:
            raise InvalidRequest("the DHCP range ends before it starts", field=f"{field}.dhcp")
        if subnet.gateway and start <= int(ipaddress.ip_address(subnet.gateway)) <= end:
            raise InvalidRequest(
                f"the DHCP range {subnet.dhcp.start}-{subnet.dhcp.end} crosses the gateway {subnet.gateway}",
                field=f"{field}.dhcp",
            )
        if start in (int(net.network_address), int(net.broadcast_address)) or end == int(net.broadcast_address):
            raise InvalidRequest("the DHCP range takes the network's own or broadcast address", field=f"{field}.dhcp")
    if subnet.gateway and ipaddress.ip_address(subnet.gateway) in (net.network_address, net.broadcast_address):
        raise InvalidRequest(f"{subnet.gateway} is not a host address of {net}", field=f"{field}.gateway")


class NetworkDriver(Driver):
    role: ClassVar[str] = "network"
    network_type: ClassVar[str]  # the name in drivers.network: "evpn", "vlan"
    kinds: ClassVar[tuple[str, ...]] = (NetworkKind.MANAGED.value,)  # the network kinds it builds
    services: ClassVar[str] = Services.PRIMARY.value  # where ensure_services runs

    @abstractmethod
    def ensure(self, network: Network) -> None:
        """Make the network exist on this node as described (idempotent; changes applied in place)."""

    @abstractmethod
    def remove(self, vni: int) -> None:
        """Remove the network from this node (absent: nothing to do)."""

    @abstractmethod
    def present(self) -> list[int]:
        """The VNIs of the networks this driver has built on this node."""

    @abstractmethod
    def interface(self, network: Network, vm_network: VmNetwork) -> DomainDevice:
        """The ``<interface>`` for a VM's NIC on ``network`` here (kind ``network``, key as the VM names
        it); the network must be present."""

    def ensure_services(self, network: Network) -> None:
        """Start or update the network's services here (gateway addresses, DHCP, DNS); idempotent."""

    def remove_services(self, vni: int) -> None:
        """Stop the network's services here (not running: nothing to do)."""

    def check_acls(self, network: Network) -> None:
        """Refuse (InvalidRequest, with the reason) ACL rules this driver could not enforce; called on the
        primary before a network's ACLs are stored (since 2.2). The default refuses any rule."""
        if network.acls:
            raise InvalidRequest(f"{self.network_type} networks do not enforce ACLs", field="acls")

    def leases(self, vni: int) -> list[Lease]:
        """The network's live DHCP leases, wherever its DHCP server runs (since 2.2; default none)."""
        return []

    def problems(self) -> list[str]:
        """What is wrong with what this driver runs on this node, one line each (a DHCP server that died, a
        routing session down); empty when all is well. Asked on the primary every few seconds and shown
        as the fault ``network`` (since 2.2)."""
        return []
