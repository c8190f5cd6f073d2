"""Two nodes joined by a VLAN trunk, in network namespaces, for this driver's tests (run where the kernel
has 802.1q: a QEMU guest with Debian's generic kernel on machines whose kernel lacks it)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pvc_core.networks.linux import bridge_name
from pvc_core.testing.netns import Netns, veth
from pvc_network_vlan.driver import VlanNetworks, VlanSettings

TRUNK = "trunk0"


def stand_in_host(settings: VlanSettings, node: str) -> Any:
    """Just what the driver reads of a host: its config and node name."""
    return SimpleNamespace(config=SimpleNamespace(section_or_default=lambda _name, _model: settings), node=node)


def driver_in(netns: str, device: str = TRUNK, node: str = "hv1") -> VlanNetworks:
    return VlanNetworks(stand_in_host(VlanSettings(device=device, netns=netns), node), "vlan")


class Trunk:
    """``<prefix>-hv1`` and ``<prefix>-hv2``, each with ``trunk0``, the two ends of one cable."""

    def __init__(self, prefix: str = "pvcvlan") -> None:
        self.prefix = prefix
        self.nodes = [Netns(f"{prefix}-hv1"), Netns(f"{prefix}-hv2")]
        self.vms: list[Netns] = []

    def start(self) -> Trunk:
        self.close()
        for node in self.nodes:
            node.create()
        veth(self.nodes[0], TRUNK, self.nodes[1], TRUNK)
        return self

    def drivers(self) -> list[VlanNetworks]:
        return [driver_in(node.name, node=f"hv{i + 1}") for i, node in enumerate(self.nodes)]

    def vm(self, node: int, vni: int, address: str) -> Netns:
        number = len(self.vms) + 1
        vm = Netns(f"{self.prefix}-vm{number}").create()
        veth(self.nodes[node], f"tap{number}", vm, "eth0")
        self.nodes[node].ip("link", "set", f"tap{number}", "master", bridge_name(vni))
        vm.ip("addr", "add", address, "dev", "eth0")
        self.vms.append(vm)
        return vm

    def close(self) -> None:
        for namespace in [*self.vms, *self.nodes]:
            namespace.delete()
        self.vms = []
