"""The ``vlan`` network driver: a bridged network is VLAN ``VNI`` of the node's configured device.

On every node that runs the driver, network VNI is a VLAN sub-interface ``vlan<VNI>`` of
``network_vlan.device`` enslaved to the VMs' bridge ``vmbr<VNI>``. The cluster runs nothing on it: its
gateway, DHCP and DNS are the site's own routers'. A kernel without 802.1q (module 8021q) cannot build
one: that is one clear line and nothing is left half-made.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from pvc_core.config import ConfigSection
from pvc_core.networks.linux import Commands, bridge_name, interface_xml
from pvc_core.roles.network import Network, NetworkDriver, NetworkError, NetworkKind, Services
from pvc_core.vms.devices import DomainDevice

if TYPE_CHECKING:
    from pvc_core.host import Host
    from pvc_core.vms.model import VmNetwork

SECTION = "network_vlan"


class VlanSettings(BaseModel):
    """The ``network_vlan`` section of the node config."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    device: str = Field("", description="The interface whose VLANs the bridged networks are (e.g. bond0).")
    netns: str = Field("", description="Run in this network namespace (tests and labs driving a node from outside).")
    timeout: float = Field(10.0, gt=0, description="Seconds one ip command may take.")


def vlan_name(vni: int) -> str:
    return f"vlan{vni}"


class VlanNetworks(NetworkDriver):
    network_type: ClassVar[str] = "vlan"
    kinds: ClassVar[tuple[str, ...]] = (NetworkKind.BRIDGED.value,)
    services: ClassVar[str] = Services.NONE.value
    contract: ClassVar[str | None] = ">=2.2,<3"
    config_section: ClassVar[ConfigSection | None] = ConfigSection(SECTION, VlanSettings)

    def __init__(self, host: Host, name: str) -> None:
        super().__init__(host, name)
        self.settings: VlanSettings = host.config.section_or_default(SECTION, VlanSettings)
        self.commands = Commands(self.settings.netns, self.settings.timeout)

    def device(self) -> str:
        if not self.settings.device:
            raise NetworkError("network_vlan.device is not set (the interface that carries the VLANs)")
        return self.settings.device

    def ensure(self, network: Network) -> None:
        if network.kind != NetworkKind.BRIDGED:
            raise NetworkError(f"network {network.vni} is {network.kind}; the vlan driver builds bridged networks")
        device, vlan, bridge = self.device(), vlan_name(network.vni), bridge_name(network.vni)
        links = self.commands.links()
        if device not in links:
            raise NetworkError(f"the VLAN device {device} does not exist on this node")
        found = links.get(vlan)
        info = ((found or {}).get("linkinfo") or {}).get("info_data") or {}
        if found is not None and (info.get("id") != network.vni or found.get("link") != device):
            self.commands.delete_link(vlan)
            found = None
        made_vlan = False
        if found is None:
            try:
                self.commands.ip("link", "add", "link", device, "name", vlan, "type", "vlan", "id", str(network.vni))
            except NetworkError as exc:
                if "Unknown device type" in exc.message or "not supported" in exc.message.lower():
                    raise NetworkError(
                        f"this node's kernel has no 802.1q VLAN support (module 8021q): VLAN {network.vni} of "
                        f"{device} cannot be made"
                    ) from None
                raise
            made_vlan = True
        try:
            self.commands.ensure_bridge(bridge, network.mtu)
            self.commands.ip("link", "set", vlan, "master", bridge, "mtu", str(network.mtu), "up")
        except NetworkError:
            if made_vlan:  # nothing half-made
                with contextlib.suppress(NetworkError):
                    self.commands.delete_link(vlan)
            raise

    def remove(self, vni: int) -> None:
        self.commands.delete_link(vlan_name(vni))
        self.commands.delete_link(bridge_name(vni))

    def present(self) -> list[int]:
        vlans = self.commands.links("vlan")
        bridges = self.commands.links("bridge")
        found = []
        for name in vlans:
            number = name.removeprefix("vlan")
            if number.isdigit() and bridge_name(int(number)) in bridges:
                found.append(int(number))
        return sorted(found)

    def interface(self, network: Network, vm_network: VmNetwork) -> DomainDevice:
        xml = interface_xml(bridge_name(network.vni), vm_network.mac, vm_network.model, network.mtu)
        return DomainDevice(xml=xml, kind="network", key=vm_network.network)
