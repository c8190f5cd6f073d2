"""The ``network_evpn`` section of the node config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SECTION = "network_evpn"


class UpstreamRouter(BaseModel):
    """A router outside the cluster that the coordinators peer with over BGP (eBGP)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    address: str = Field(description="The router's address, reachable from every coordinator.")
    asn: int = Field(ge=1, le=4_294_967_295, description="The router's autonomous system number.")


class EvpnSettings(BaseModel):
    """The ``network_evpn`` section of the node config."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    vtep_address: str = Field(
        "", description="This node's address on the cluster network: source of its VXLAN tunnels, its BGP id."
    )
    vtep_device: str = Field("", description="The device VXLAN packets leave by (default: the route's).")
    vxlan_port: int = Field(4789, ge=1, le=65535, description="The VXLAN UDP port, the same on every node.")
    asn: int = Field(65500, ge=1, le=4_294_967_295, description="The cluster's own BGP AS (iBGP between nodes).")
    upstream: list[UpstreamRouter] = Field(
        default_factory=list, description="Routers the coordinators advertise the managed networks' prefixes to."
    )
    bgp: bool = Field(True, description="Configure FRR's bgpd (peers, EVPN, prefixes); off: the operator does.")
    vty_socket: str = Field("", description="FRR's vty socket folder (vtysh --vty_socket); default FRR's own.")
    state_dir: str = Field("/run/pvc/network-evpn", description="Where dnsmasq's files for each network live.")
    dnsmasq: str = Field("dnsmasq", description="The dnsmasq program.")
    lease_time: str = Field("1h", description="DHCP lease time (dnsmasq's syntax: 45m, 1h, 12h).")
    netns: str = Field("", description="Run in this network namespace (tests and labs driving a node from outside).")
    timeout: float = Field(10.0, gt=0, description="Seconds one command (ip, nft, vtysh) may take.")
