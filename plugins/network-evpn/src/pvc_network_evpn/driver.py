"""The ``evpn`` network driver: managed networks as VXLANs whose MACs and VTEPs travel over BGP EVPN.

On every node a managed network is a VXLAN device ``vxlan<VNI>`` (no flooding-and-learning: FRR's
EVPN fills its forwarding table) enslaved to the VMs' bridge ``vmbr<VNI>``. On the primary coordinator,
``ensure_services`` puts the gateway addresses on the bridge (and announces them: gratuitous ARP,
unsolicited NA), starts the network's dnsmasq (DHCP, DNS for its domain) and loads its ACL table;
``remove_services`` takes all of it away. Secondary coordinators route the network's prefixes to the
primary (:meth:`route_to_primary`), so that upstream routers may send to any coordinator.
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pvc_core.config import ConfigSection
from pvc_core.errors import PvcError
from pvc_core.log import get_logger
from pvc_core.networks.announce import gratuitous_arp
from pvc_core.networks.linux import Commands, bridge_name, interface_xml
from pvc_core.roles.network import Lease, Network, NetworkDriver, NetworkError, NetworkKind, Services
from pvc_core.vms.devices import DomainDevice
from pvc_core.zk.schema import Schema
from pvc_core.zk.session import encode
from pvc_network_evpn import acl
from pvc_network_evpn.bgp import Bgp, BgpConfig
from pvc_network_evpn.dhcp import Dnsmasqs
from pvc_network_evpn.settings import SECTION, EvpnSettings

if TYPE_CHECKING:
    from pvc_core.host import Host
    from pvc_core.vms.model import VmNetwork

ROOT = "/plugins/network-evpn"
LEASES = f"{ROOT}/leases"
NODES = f"{ROOT}/nodes"  # each node's VTEP address, for the BGP peers
VXLAN_OVERHEAD = 50


def vxlan_name(vni: int) -> str:
    return f"vxlan{vni}"


def _named(leases: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {mac: (str(v.get("address", "")), str(v.get("hostname", ""))) for mac, v in leases.items()}


class EvpnNetworks(NetworkDriver):
    network_type: ClassVar[str] = "evpn"
    kinds: ClassVar[tuple[str, ...]] = (NetworkKind.MANAGED.value,)
    services: ClassVar[str] = Services.PRIMARY.value
    contract: ClassVar[str | None] = ">=2.3,<3"
    config_section: ClassVar[ConfigSection | None] = ConfigSection(SECTION, EvpnSettings)
    zk_schema: ClassVar[Schema | None] = Schema(owner="network-evpn", version=1, paths=(LEASES, NODES))

    def __init__(self, host: Host, name: str) -> None:
        super().__init__(host, name)
        self.settings: EvpnSettings = host.config.section_or_default(SECTION, EvpnSettings)
        self.commands = Commands(self.settings.netns, self.settings.timeout)
        self.log = get_logger(plugin="network-evpn", node=host.node)
        self.bgp = Bgp(self.commands, self.settings.asn, self.settings.vty_socket)
        self.dhcp = Dnsmasqs(
            self.commands,
            Path(self.settings.state_dir),
            self.settings.dnsmasq,
            self.settings.lease_time,
            self._lease_changed,
            self.leases,
        )
        self.networks: dict[int, Network] = {}  # built here, by VNI
        self.serving: dict[int, Network] = {}  # whose services run here
        self.routed_to: str = ""
        self._forwarding_on = False  # the primary's address the prefixes are routed to ("" none)
        self._lock = threading.RLock()
        self._leases_lock = threading.Lock()

    # -- layer 2, on every node ---------------------------------------------------------------------------

    def vtep(self) -> str:
        if not self.settings.vtep_address:
            raise NetworkError("network_evpn.vtep_address is not set (this node's address on the cluster network)")
        return self.settings.vtep_address

    def ensure(self, network: Network) -> None:
        if network.kind != NetworkKind.MANAGED:
            raise NetworkError(f"network {network.vni} is {network.kind}; the evpn driver builds managed networks")
        vxlan, bridge = vxlan_name(network.vni), bridge_name(network.vni)
        with self._lock:
            links = self.commands.links()
            found = links.get(vxlan)
            info = ((found or {}).get("linkinfo") or {}).get("info_data") or {}
            if found is not None and (info.get("id") != network.vni or info.get("local") != self.vtep()):
                self.commands.delete_link(vxlan)
                found = None
            if found is None:
                argv = ["link", "add", vxlan, "type", "vxlan", "id", str(network.vni), "local", self.vtep()]
                argv += ["dstport", str(self.settings.vxlan_port), "nolearning"]
                if self.settings.vtep_device:
                    argv += ["dev", self.settings.vtep_device]
                self.commands.ip(*argv)
            self.commands.ensure_bridge(bridge, network.mtu)
            self.commands.ip("link", "set", vxlan, "master", bridge, "mtu", str(network.mtu), "up")
            self.commands.run(["bridge", "link", "set", "dev", vxlan, "learning", "off"])
            self.networks[network.vni] = network
        self.log.debug("network_ensured", vni=network.vni)

    def remove(self, vni: int) -> None:
        with self._lock:
            self.remove_services(vni)
            self.commands.delete_link(vxlan_name(vni))
            self.commands.delete_link(bridge_name(vni))
            self.networks.pop(vni, None)
            self._route_prefixes(self.routed_to)
        if self.host.is_primary:  # its leases go with it
            with contextlib.suppress(PvcError):
                self.host.zk.delete(f"{LEASES}/{vni}")

    def present(self) -> list[int]:
        vxlans = self.commands.links("vxlan")
        bridges = self.commands.links("bridge")
        return sorted(
            int(name.removeprefix("vxlan"))
            for name in vxlans
            if name.removeprefix("vxlan").isdigit() and bridge_name(int(name.removeprefix("vxlan"))) in bridges
        )

    def interface(self, network: Network, vm_network: VmNetwork) -> DomainDevice:
        xml = interface_xml(bridge_name(network.vni), vm_network.mac, vm_network.model, network.mtu)
        return DomainDevice(xml=xml, kind="network", key=vm_network.network)

    # -- services, on the primary -----------------------------------------------------------------------------

    def ensure_services(self, network: Network) -> None:
        """Gateway addresses (announced), dnsmasq and the ACL table; cheap when all is as it should be (the
        core asks again every few seconds: a dnsmasq that died is started again)."""
        bridge = bridge_name(network.vni)
        with self._lock:
            if (
                self.serving.get(network.vni) == network
                and network.vni not in self.dhcp.dead()
                and self._addresses(bridge) == self._gateway_addresses(network)
            ):
                return
            self._unroute(network)
            self._forwarding()
            with contextlib.suppress(NetworkError):  # no IPv6 on this node: nothing to notify
                self.commands.sysctl(f"net/ipv6/conf/{bridge}/ndisc_notify", "1")
            wanted = self._gateway_addresses(network)
            current = self._addresses(bridge)
            for address in sorted(current - wanted):
                self.commands.ip("addr", "del", address, "dev", bridge)
            for address in sorted(wanted - current):
                extra = ["nodad"] if ":" in address else []
                self.commands.ip("addr", "replace", address, "dev", bridge, *extra)
            if network.ipv4 is not None and network.ipv4.gateway and wanted - current:
                gratuitous_arp(bridge, self._mac(bridge), network.ipv4.gateway, self.settings.netns)
            self.dhcp.ensure(network)
            acl.apply(self.commands, network)
            self.serving[network.vni] = network

    def remove_services(self, vni: int) -> None:
        bridge = bridge_name(vni)
        with self._lock:
            self.dhcp.stop(vni)
            self.serving.pop(vni, None)
            with contextlib.suppress(NetworkError):
                acl.remove(self.commands, vni)
            if self.commands.link_exists(bridge):
                for address in sorted(self._addresses(bridge)):
                    self.commands.ip("addr", "del", address, "dev", bridge)

    def _forwarding(self) -> None:
        """Route between the cluster network and the managed networks (a gateway, or a coordinator passing
        upstream traffic to the primary)."""
        if not self._forwarding_on:
            self.commands.sysctl("net.ipv4.ip_forward", "1")
            self.commands.sysctl("net.ipv6.conf.all.forwarding", "1")
            self._forwarding_on = True

    def check_acls(self, network: Network) -> None:
        acl.check(self.commands, network)

    def problems(self) -> list[str]:
        found = [f"network {vni}: dnsmasq is not running on the primary" for vni in self.dhcp.dead()]
        if self.settings.bgp and self.bgp.applied is not None:
            try:
                sessions = self.bgp.sessions()
            except NetworkError as exc:
                return [*found, f"BGP: {exc.message}"]
            wanted = [*sorted(self.bgp.applied.peers), *(u.address for u in self.bgp.applied.upstream)]
            for peer in wanted:
                state = sessions.get(peer, "not configured")
                if state != "Established":
                    found.append(f"BGP session with {peer} is {state}")
        return found

    def _gateway_addresses(self, network: Network) -> set[str]:
        found = set()
        for subnet in network.subnets:
            if subnet.gateway:
                found.add(f"{subnet.gateway}/{ipaddress.ip_network(subnet.cidr).prefixlen}")
        return found

    def _addresses(self, bridge: str) -> set[str]:
        """The global addresses on the bridge (link-local ones are the kernel's)."""
        found = set()
        for link in self.commands.ip_json("addr", "show", "dev", bridge):
            for info in link.get("addr_info", []):
                if info.get("scope") == "global":
                    found.add(f"{info['local']}/{info['prefixlen']}")
        return found

    def _mac(self, bridge: str) -> str:
        for link in self.commands.ip_json("link", "show", "dev", bridge):
            return str(link.get("address", ""))
        raise NetworkError(f"{bridge} does not exist")

    # -- routes on the coordinators that are not primary ------------------------------------------------------

    def route_to_primary(self, primary_address: str) -> None:
        """On a secondary coordinator: send the managed networks' prefixes to the primary (``""``: remove the
        routes, as the primary itself does: its gateways are on its bridges)."""
        with self._lock:
            self._route_prefixes(primary_address)

    def _route_prefixes(self, primary_address: str) -> None:
        wanted = {s.cidr for vni, n in self.networks.items() if vni not in self.serving for s in n.subnets}
        routes = self._pvc_routes()
        for prefix, via in routes.items():
            if prefix not in wanted or via != primary_address:
                self.commands.ip("route", "del", prefix, "proto", "static", check=False)
        if primary_address and wanted:
            self._forwarding()
            for prefix in sorted(wanted):
                if routes.get(prefix) != primary_address:
                    self.commands.ip("route", "replace", prefix, "via", primary_address, "proto", "static")
        self.routed_to = primary_address

    def _unroute(self, network: Network) -> None:
        for subnet in network.subnets:
            if subnet.cidr in self._pvc_routes():
                self.commands.ip("route", "del", subnet.cidr, "proto", "static", check=False)

    def _pvc_routes(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for family in ("-4", "-6"):
            for route in self.commands.ip_json(family, "route", "show", "proto", "static"):
                if "gateway" in route and "dst" in route:
                    found[route["dst"]] = route["gateway"]
        return found

    # -- BGP ------------------------------------------------------------------------------------------------

    def configure_bgp(self, peers: set[str], coordinator: bool) -> None:
        if not self.settings.bgp:
            return
        prefixes = {s.cidr for n in self.networks.values() for s in n.subnets} if coordinator else set()
        wanted = BgpConfig(
            router_id=self.vtep(),
            peers=frozenset(peers - {self.vtep()}),
            upstream=tuple(self.settings.upstream) if coordinator else (),
            prefixes=frozenset(prefixes),
        )
        with self._lock:
            if wanted != self.bgp.applied:
                self.bgp.apply(wanted)

    # -- leases -------------------------------------------------------------------------------------------------

    def leases(self, vni: int) -> list[Lease]:
        found = self.host.zk.get_json(f"{LEASES}/{vni}") or {}
        return [
            Lease(
                mac=mac,
                address=str(v.get("address", "")),
                hostname=str(v.get("hostname", "")),
                expires=float(v.get("expires", 0)),
            )
            for mac, v in sorted(found.items())
        ]

    def _lease_changed(self, vni: int, action: str, request: dict[str, Any]) -> None:
        """dnsmasq's hook (through the socket): record or forget a lease in ZooKeeper (the primary only)."""
        mac = str(request.get("mac", "")).lower()
        if not mac or not self.host.is_primary:
            return
        path = f"{LEASES}/{vni}"
        with self._leases_lock:
            before = dict(self.host.zk.get_json(path) or {})
            current = dict(before)
            if action == "del":
                current.pop(mac, None)
            else:
                current[mac] = {
                    "address": str(request.get("address", "")),
                    "hostname": str(request.get("hostname", "")),
                    "expires": int(request.get("expires", 0) or 0),
                }
            self.host.zk.put(path, encode(dict(sorted(current.items()))))
        if _named(current) != _named(before):  # a renewal only moves the expiry: nobody to tell
            self.host.leases_changed(vni)
        self.log.info("dhcp_lease", vni=vni, action=action, mac=mac, address=request.get("address"))

    def close(self) -> None:
        self.dhcp.stop_all()
