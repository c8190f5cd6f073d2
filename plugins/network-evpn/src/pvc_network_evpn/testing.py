"""A small EVPN fabric in network namespaces, for this driver's tests and benchmarks: real FRR, real
VXLAN, real dnsmasq, real nftables.

* ``<prefix>-sw``: the cluster network, a bridge; ``<prefix>-hvN``: a node (``eth0`` 10.99.0.1N, MTU
  9000, FRR's zebra and bgpd, an evpn driver pointed at it); ``<prefix>-up``: an upstream router
  (10.99.0.254, FRR in AS 65000) the coordinators peer with;
* :meth:`Fabric.vm` plugs a "VM" (a namespace with ``eth0``) into a node's bridge of a network, as
  libvirt plugs a tap.

Everything is removed by :meth:`Fabric.close` (processes by PID, then the namespaces).
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pvc_core.networks.linux import bridge_name
from pvc_core.testing.netns import Frr, Netns, veth
from pvc_network_evpn.driver import EvpnNetworks
from pvc_network_evpn.settings import EvpnSettings, UpstreamRouter

UPSTREAM_ASN = 65000
UPSTREAM_ADDRESS = "10.99.0.254"


def node_address(index: int) -> str:
    return f"10.99.0.{11 + index}"


def stand_in_host(settings: EvpnSettings, zk: Any, node: str, primary: bool = False) -> Any:
    """Just what the driver reads of a host: its config, node name, ZooKeeper session and role."""
    return SimpleNamespace(
        config=SimpleNamespace(section_or_default=lambda _name, _model: settings),
        node=node,
        zk=zk,
        is_primary=primary,
    )


class Fabric:
    def __init__(self, directory: Path, zk: Any, nodes: int = 2, prefix: str = "pvcevpn") -> None:
        self.directory = directory
        self.zk = zk
        self.prefix = prefix
        self.count = nodes
        self.switch = Netns(f"{prefix}-sw")
        self.nodes: list[Netns] = [Netns(f"{prefix}-hv{i + 1}") for i in range(nodes)]
        self.upstream = Netns(f"{prefix}-up")
        self.frrs: list[Frr] = []
        self.drivers: list[EvpnNetworks] = []
        self.vms: list[Netns] = []
        self.upstream_frr: Frr | None = None
        # FRR runs as user frr: its folders must be reachable by it (a test's tmp_path is not)
        self.frr_dir = Path("/run/pvc-testing") / prefix

    def start(self) -> Fabric:
        self.close()
        self.switch.create()
        self.switch.ip("link", "add", "br0", "mtu", "9000", "type", "bridge")
        self.switch.ip("link", "set", "br0", "up")
        for index, node in enumerate(self.nodes):
            node.create()
            veth(node, "eth0", self.switch, f"p{index + 1}", mtu=9000)
            self.switch.ip("link", "set", f"p{index + 1}", "master", "br0")
            node.ip("addr", "add", f"{node_address(index)}/24", "dev", "eth0")
            frr = Frr(node.name, self.frr_dir / node.name, f"hv{index + 1}").start()
            self.frrs.append(frr)
            settings = EvpnSettings(
                vtep_address=node_address(index),
                vty_socket=frr.vty_socket,
                netns=node.name,
                state_dir=str(self.directory / node.name / "evpn"),
                upstream=[UpstreamRouter(address=UPSTREAM_ADDRESS, asn=UPSTREAM_ASN)],
            )
            host = stand_in_host(settings, self.zk, f"hv{index + 1}", primary=index == 0)
            self.drivers.append(EvpnNetworks(host, "evpn"))
        self.upstream.create()
        veth(self.upstream, "eth0", self.switch, "pup", mtu=9000)
        self.switch.ip("link", "set", "pup", "master", "br0")
        self.upstream.ip("addr", "add", f"{UPSTREAM_ADDRESS}/24", "dev", "eth0")
        neighbors = "".join(
            f" neighbor {node_address(i)} remote-as 65500\n neighbor {node_address(i)} timers connect 2\n"
            for i in range(self.count)
        )
        config = (
            f"router bgp {UPSTREAM_ASN}\n bgp router-id {UPSTREAM_ADDRESS}\n no bgp ebgp-requires-policy\n"
            f"{neighbors} address-family ipv4 unicast\n"
            + "".join(f"  neighbor {node_address(i)} activate\n" for i in range(self.count))
            + " exit-address-family\n"
        )
        self.upstream_frr = Frr(self.upstream.name, self.frr_dir / "upstream", "upstream").start(extra_config=config)
        return self

    def peer_all(self, coordinators: int | None = None) -> None:
        """Configure BGP on every node (the network-evpn plugin does this in pvcd)."""
        addresses = {node_address(i) for i in range(self.count)}
        for index, driver in enumerate(self.drivers):
            driver.configure_bgp(addresses, coordinator=coordinators is None or index < coordinators)

    def set_primary(self, index: int) -> None:
        for i, driver in enumerate(self.drivers):
            setattr(driver.host, "is_primary", i == index)  # noqa: B010 - a stand-in host

    def vm(self, node: int, vni: int, address: str = "", gateway: str = "", mtu: int = 1500) -> Netns:
        """A VM on node ``node``'s bridge of network ``vni`` (static ``address``/prefix, or none for DHCP)."""
        number = len(self.vms) + 1
        vm = Netns(f"{self.prefix}-vm{number}").create()
        host = self.nodes[node]
        veth(host, f"tap{number}", vm, "eth0", mtu=mtu)
        host.ip("link", "set", f"tap{number}", "master", bridge_name(vni))
        if address:
            vm.ip("addr", "add", address, "dev", "eth0")
        if gateway:
            vm.ip("route", "add", "default", "via", gateway)
        self.vms.append(vm)
        return vm

    def unplug(self, vm: Netns) -> None:
        vm.delete()
        if vm in self.vms:
            self.vms.remove(vm)

    def close(self) -> None:
        for driver in self.drivers:
            with contextlib.suppress(Exception):
                driver.close()
        for frr in [*self.frrs, *([self.upstream_frr] if self.upstream_frr else [])]:
            frr.stop()
        for namespace in [*self.vms, self.upstream, *self.nodes, self.switch]:
            namespace.delete()
        for leftover in Path("/run/netns").glob(f"{self.prefix}-vm*") if Path("/run/netns").exists() else []:
            Netns(leftover.name).delete()
        self.frrs, self.drivers, self.vms, self.upstream_frr = [], [], [], None
        shutil.rmtree(self.frr_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # the shared parent, once no fabric uses it
            self.frr_dir.parent.rmdir()
