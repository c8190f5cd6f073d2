"""The ``network`` role: client networks for VMs, one driver per network type (``evpn``, ``vlan``).

A :class:`Network` is what an operator defines (``pvc network add``): its VNI (the VXLAN id, or the VLAN
id of a bridged network), kind, subnets with gateways and DHCP ranges, reservations, MTU and DNS domain.
The network plugin stores networks and calls its driver:

* on **every node**: ``ensure`` makes the network exist there (a VXLAN or VLAN interface and a bridge for
  the VMs), ``remove`` takes it away, ``present`` says which exist; ``interface`` gives a VM's
  ``<interface>`` on it (inside ``pvc_vm_prepare``);
* where ``services`` says (``primary``: only on the primary coordinator, moving with it; ``every-node``):
  ``ensure_services`` starts what the network needs beyond layer 2 (gateway addresses, DHCP, DNS),
  ``remove_services`` stops it.

Every method may block up to the driver's own timeout and runs on a worker thread, never the dispatcher;
failures raise :class:`NetworkError` (one line, the reason).
"""

from __future__ import annotations

import enum
import ipaddress
from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pvc_core.errors import InvalidRequest, PvcError
from pvc_core.roles.base import Driver

if TYPE_CHECKING:
    from pvc_core.vms.devices import DomainDevice
    from pvc_core.vms.model import VmNetwork

MAX_VNI = 16_777_215
MAX_VLAN = 4094


class NetworkError(PvcError):
    """Building or removing a network (or its services) failed on this node."""


class NetworkKind(enum.StrEnum):
    MANAGED = "managed"  # a VXLAN whose gateway, DHCP and DNS the cluster runs
    BRIDGED = "bridged"  # an 802.1q VLAN of a node interface; the cluster runs nothing on it


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
        subnets = [ipaddress.ip_network(s.cidr) for s in (self.ipv4, self.ipv6) if s is not None]
        for index, reservation in enumerate(self.reservations):
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
        return self


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
    if subnet.dhcp is not None and int(ipaddress.ip_address(subnet.dhcp.start)) > int(
        ipaddress.ip_address(subnet.dhcp.end)
    ):
        raise InvalidRequest("the DHCP range ends before it starts", field=f"{field}.dhcp")


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
